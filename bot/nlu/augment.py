"""Training-time variants of the intent examples: character slips and typed pinyin.

Merchants type a character that sounds like the right one (any homophone, not only the
slips anyone has seen) and type words, or whole messages, in toneless pinyin. Rather than
list such slips, each training example also trains the classifier as

- a **homophone slip**: one of its Chinese characters replaced by another character of
  the training data that reads the same (toneless pinyin), and
- **typed pinyin**: some or all of its words written as toneless pinyin ("jiebang 要带
  什么 ziliao", "jiebang yao dai shenme ziliao").

Both keep the pinyin feature block (``bot.nlu.pinyin``) of the original while changing
its words and characters, so the classifier learns to trust the sound when the writing
is off. The variants are drawn with a random generator seeded by the example's text:
training twice gives the same model.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pypinyin import Style, lazy_pinyin

_HAN = re.compile(r"[\u4e00-\u9fff]")
MIN_HAN = 4
"""Shorter examples ("好的", "不用", "转人工") get no variant: one slip makes another word of
them, and short pinyin ("hao de") reads like gibberish."""


@dataclass(frozen=True)
class Token:
    text: str
    start: int
    end: int


@dataclass(frozen=True)
class Variant:
    """An example's text and its words (space-separated, lower case) after a change."""

    text: str
    words: str


def reading(ch: str) -> str:
    """The toneless pinyin of one character."""
    return lazy_pinyin(ch, style=Style.NORMAL)[0]


def homophone_pool(texts: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """Toneless reading → the distinct Chinese characters of ``texts`` that read so."""
    by_sound: dict[str, set[str]] = {}
    for text in texts:
        for ch in _HAN.findall(text):
            by_sound.setdefault(reading(ch), set()).add(ch)
    return {sound: tuple(sorted(chars)) for sound, chars in by_sound.items() if len(chars) > 1}


def _rng(text: str, salt: str) -> random.Random:
    return random.Random(hashlib.sha256(f"{salt}:{text}".encode()).digest())


def _words(tokens: Sequence[Token]) -> str:
    return " ".join(t.text.lower() for t in tokens if t.text.strip())


def homophone_slip(
    text: str, tokens: Sequence[Token], pool: dict[str, tuple[str, ...]]
) -> Variant | None:
    """``text`` with one Chinese character replaced by a homophone from ``pool``."""
    places = [m.start() for m in _HAN.finditer(text) if reading(m.group()) in pool]
    if len(_HAN.findall(text)) < MIN_HAN or not places:
        return None
    rng = _rng(text, "slip")
    at = rng.choice(places)
    others = [ch for ch in pool[reading(text[at])] if ch != text[at]]
    new = rng.choice(others)
    changed = text[:at] + new + text[at + 1:]
    words = [
        Token(t.text[: at - t.start] + new + t.text[at - t.start + 1:], t.start, t.end)
        if t.start <= at < t.end else t
        for t in tokens
    ]
    return Variant(changed, _words(words))


def typed_pinyin(text: str, tokens: Sequence[Token]) -> Variant | None:
    """``text`` with some of its Chinese words (at least one; for one example in three,
    all of them) typed as toneless pinyin, one word per pinyin run."""
    chinese = [i for i, t in enumerate(tokens) if _HAN.search(t.text)]
    if len(_HAN.findall(text)) < MIN_HAN or not chinese:
        return None
    rng = _rng(text, "pinyin")
    if rng.random() < 1 / 3:
        chosen = set(chinese)
    else:
        chosen = {i for i in chinese if rng.random() < 0.5} or {rng.choice(chinese)}
    pieces: list[str] = []
    words: list[Token] = []
    position, previous_latin = 0, False
    for i, token in enumerate(tokens):
        gap = text[position:token.start]
        if i in chosen:
            spelled = "".join(lazy_pinyin(token.text, style=Style.NORMAL))
            pieces.append(gap + (" " if previous_latin and not gap else "") + spelled)
            words.append(Token(spelled, token.start, token.end))
        else:
            pieces.append(gap + token.text)
            words.append(token)
        previous_latin = i in chosen
        position = token.end
    pieces.append(text[position:])
    return Variant("".join(pieces), _words(words))
