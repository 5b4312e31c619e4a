"""Messages as toneless pinyin, so that homophone typos and typed pinyin read alike.

Merchants type 解帮 for 解绑, 商护号 for 商户号, 审和 for 审核, or the pinyin itself
("jiebang xuyao shenme ziliao"). As pinyin these are the same syllables as the right
words: "jie bang yao dai sha". The intent classifier takes syllables (and pairs of them)
as a third kind of feature next to jieba words and characters. Latin words that are
whole pinyin syllables ("jiebang" → "jie bang") are split; other Latin words (English)
stay as they are, digits and punctuation are dropped.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from pypinyin import Style, lazy_pinyin
from pypinyin.pinyin_dict import pinyin_dict

_LATIN = re.compile(r"[a-z]+")
_LONGEST = 6  # "zhuang", "chuang", "shuang"


@lru_cache(maxsize=1)
def syllables() -> frozenset[str]:
    """Every toneless pinyin syllable of pypinyin's dictionary."""
    found: set[str] = set()
    for readings in pinyin_dict.values():
        for reading in readings.split(","):
            plain = "".join(ch for ch in unicodedata.normalize("NFKD", reading)
                            if not unicodedata.combining(ch))
            found.add(plain.replace("ü", "v"))
    return frozenset(s for s in found if _LATIN.fullmatch(s))


def split_syllables(word: str) -> list[str] | None:
    """``word`` as pinyin syllables (fewest syllables), or None if it is not pinyin."""
    known = syllables()
    best: list[list[str] | None] = [None] * (len(word) + 1)
    best[0] = []
    for end in range(1, len(word) + 1):
        for start in range(max(0, end - _LONGEST), end):
            head = best[start]
            piece = word[start:end]
            if head is not None and piece in known:
                candidate = [*head, piece]
                if best[end] is None or len(candidate) < len(best[end]):  # type: ignore[arg-type]
                    best[end] = candidate
    return best[len(word)]


@lru_cache(maxsize=8192)
def to_pinyin(text: str) -> str:
    """``text`` as space-separated toneless syllables (English words kept)."""
    out: list[str] = []
    for chunk in lazy_pinyin(text.lower(), style=Style.NORMAL, errors=lambda s: [s]):
        if _LATIN.fullmatch(chunk) and chunk in syllables():
            out.append(chunk)
            continue
        for word in _LATIN.findall(chunk):
            parts = split_syllables(word) if len(word) > 1 else None
            out.extend(parts if parts else [word])
    return " ".join(out)
