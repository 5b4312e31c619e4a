"""Normalise what merchants type before NLU, for training examples and messages alike.

1. Full-width → ASCII (NFKC), traditional → simplified characters, lower case.
2. The words of ``data/normalisation/words.yml``: dialect (咋整 → 怎么办, 啥 → 什么),
   homophone typos of the domain words (解帮 → 解绑, 商护号 → 商户号, 审和 → 审核) and
   typed pinyin or English (jiebang, shenhe, unbind → 解绑 …), longest first.
3. Voice-to-text filler (嗯, 呃, a leading 那个 / 就是说) is dropped, unless the message
   would be left with almost nothing ("嗯" alone is a reply).

Digits are never touched, and Latin words are replaced only as whole words, so merchant
numbers, serials and ticket numbers keep their values. No Rasa import here: the action
server and the console use ``normalise`` too (grounded answers); the NLU component is
``bot.nlu.normaliser.TextNormaliser``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import opencc
import yaml

from bot.paths import DATA

WORDS_PATH = DATA / "normalisation" / "words.yml"
_SEPARATORS = r"\s,.?!;:、。…~"
MIN_CONTENT = 2
"""Filler is kept when fewer letters or characters than this would remain."""


@dataclass(frozen=True)
class Rewrites:
    """The compiled rewrites of ``words.yml``."""

    words: re.Pattern[str]
    replacement: dict[str, str]
    anywhere: re.Pattern[str] | None
    leading: re.Pattern[str] | None

    def replace_words(self, text: str) -> str:
        return self.words.sub(lambda m: self.replacement[_key(m.group())], text)

    def drop_filler(self, text: str) -> str:
        stripped = text
        if self.anywhere is not None:
            stripped = self.anywhere.sub("", stripped)
            stripped = re.sub(r"^[\s,]+|(?<=,)[\s,]+", "", stripped)  # "呃，那个" → "那个"
        if self.leading is not None:
            previous = None
            while previous != stripped:  # "那个 就是说 …": one leading filler after another
                previous, stripped = stripped, self.leading.sub("", stripped)
        stripped = re.sub(r"\s{2,}", " ", stripped).strip()
        return stripped if _content(stripped) >= MIN_CONTENT else text


def _key(matched: str) -> str:
    """A Latin match ("Jie  Bang") folded to its key's spelling ("jie bang")."""
    return re.sub(r"\s+", " ", matched)


def _content(text: str) -> int:
    return sum(ch.isalnum() for ch in text)


def _latin(word: str) -> str:
    """A whole Latin word or phrase; spaces in it may be none or several."""
    body = r"\s*".join(re.escape(part) for part in word.split())
    return rf"(?<![a-z0-9]){body}(?![a-z0-9])"


def _alternatives(patterns: list[str]) -> str:
    return "|".join(patterns)


@lru_cache(maxsize=2)
def rewrites(path: Path = WORDS_PATH) -> Rewrites:
    """The rewrites of ``path``, compiled once."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    replacement: dict[str, str] = {}
    patterns: list[tuple[int, str]] = []
    for section in ("dialect", "typos"):
        for word, standard in (raw.get(section) or {}).items():
            replacement[str(word)] = str(standard)
            patterns.append((len(str(word)), re.escape(str(word))))
    for word, standard in (raw.get("latin") or {}).items():
        key = " ".join(str(word).lower().split())
        replacement[key] = str(standard)
        # A match with no space ("jiebang" for "jie bang") folds to the key without one.
        replacement[key.replace(" ", "")] = str(standard)
        patterns.append((len(key), _latin(key)))
    patterns.sort(key=lambda p: -p[0])
    fillers = raw.get("fillers") or {}
    anywhere = [re.escape(str(w)) for w in fillers.get("anywhere") or ()]
    leading_words = sorted((str(w) for w in fillers.get("leading") or ()), key=len, reverse=True)
    leading = [
        re.escape(w) + ("" if len(w) > 1 else rf"(?=[{_SEPARATORS}])") for w in leading_words
    ]
    return Rewrites(
        words=re.compile(_alternatives([p for _, p in patterns])),
        replacement=replacement,
        anywhere=re.compile(_alternatives(anywhere)) if anywhere else None,
        leading=re.compile(
            rf"(?:^|(?<=[{_SEPARATORS}]))\s*(?:{_alternatives(leading)})[\s,]*"
        ) if leading else None,
    )


@lru_cache(maxsize=1)
def _converter() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


@lru_cache(maxsize=8192)
def normalise(text: str) -> str:
    """NFKC, traditional → simplified, lower case; then dialect, typos, pinyin and
    English domain words rewritten and filler dropped (``data/normalisation``)."""
    folded = _converter().convert(unicodedata.normalize("NFKC", text)).lower()
    table = rewrites()
    return table.drop_filler(table.replace_words(folded))
