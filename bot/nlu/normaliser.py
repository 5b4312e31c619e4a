"""Normalise what merchants type before NLU: full-width to ASCII, traditional to
simplified characters, lower case, dialect function words to Mandarin
(data/dialect.yml), domain words typed with a homophone or look-alike slip to the word
(data/homophones.yml). Applied to training data and messages alike."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import jieba
import opencc
import yaml
from pypinyin import Style
from pypinyin import pinyin as readings_of
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.stateless import StatelessComponent
from bot.paths import DATA

DIALECT = DATA / "dialect.yml"
HOMOPHONES = DATA / "homophones.yml"


@lru_cache(maxsize=1)
def _converter() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


@lru_cache(maxsize=1)
def _dialect() -> tuple[re.Pattern[str], dict[str, str], tuple[tuple[re.Pattern[str], str], ...]]:
    """The dialect words as one alternation (longest first) and the particle patterns."""
    document = yaml.safe_load(DIALECT.read_text(encoding="utf-8")) or {}
    words = {str(k): str(v) for k, v in (document.get("words") or {}).items()}
    alternation = re.compile("|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)))
    patterns = tuple((re.compile(p), str(r)) for p, r in document.get("patterns") or ())
    return alternation, words, patterns


def mandarin(text: str) -> str:
    """``text`` with the dialect words and particles of data/dialect.yml in Mandarin."""
    alternation, words, patterns = _dialect()
    text = alternation.sub(lambda m: words[m.group(0)], text)
    for pattern, replacement in patterns:
        text = pattern.sub(replacement, text)
    return text


@lru_cache(maxsize=1)
def _homophones() -> tuple[tuple[str, ...], dict[str, str]]:
    jieba.dt.check_initialized()  # its dictionary tells a real word (了解) from a slip
    document = yaml.safe_load(HOMOPHONES.read_text(encoding="utf-8")) or {}
    words = tuple(sorted((str(w) for w in document.get("words") or ()), key=len, reverse=True))
    look_alike = {str(k): str(v) for k, v in (document.get("look_alike") or {}).items()}
    return words, look_alike


_RETROFLEX = re.compile(r"^([zcs])h")


@lru_cache(maxsize=4096)
def _sounds(char: str) -> frozenset[str]:
    """Every toneless pinyin reading of ``char`` (none for a character that is not Chinese),
    zh/ch/sh read as z/c/s: the fuzzy initials of pinyin input methods (模糊音), so 步奏
    (zou) is a slip for 步骤 (zhou) as 审和 is for 审核."""
    if not "\u4e00" <= char <= "\u9fff":
        return frozenset()
    readings = readings_of(char, style=Style.NORMAL, heteronym=True)[0]
    return frozenset(_RETROFLEX.sub(r"\1", reading) for reading in readings)


def _slip(typed: str, own: str, look_alike: dict[str, str]) -> bool:
    return typed == own or look_alike.get(typed) == own or bool(_sounds(typed) & _sounds(own))


def _in_a_word(text: str, start: int, end: int) -> bool:
    """Whether the span's first or last character makes a real word with its neighbour
    outside the span (了解 in 了解帮我, 帮助 in 解帮助)."""
    before = text[start - 1:start + 1] if start > 0 else ""
    after = text[end - 1:end + 1] if end < len(text) else ""
    return any(len(pair) == 2 and jieba.dt.FREQ.get(pair) for pair in (before, after))


def corrected(text: str) -> str:
    """``text`` with the domain words of data/homophones.yml typed with a slip read as the
    words (商护号 → 商户号, 序例号 → 序列号); same length.

    A span can only be a slip of a word if it shares a character with it in the same place,
    so only the places where one of the word's characters occurs are tried (found with
    ``str.find``), in order; they are found again after each correction."""
    words, look_alike = _homophones()
    chars = list(text)
    for word in words:
        size = len(word)
        start = 0
        while (start := _next_shared(chars, word, start)) >= 0:
            span = "".join(chars[start:start + size])
            if (span != word
                    and all(_slip(a, b, look_alike) for a, b in zip(span, word, strict=True))
                    and not _in_a_word(text, start, start + size)):
                chars[start:start + size] = word
            start += 1
    return "".join(chars)


def _next_shared(chars: list[str], word: str, start: int) -> int:
    """The first place from ``start`` where a span of ``word``'s length shares a character
    with ``word`` in the same position; -1 when there is none."""
    current = "".join(chars)
    last = len(current) - len(word)
    best = -1
    if last < start:
        return best
    for offset, char in enumerate(word):
        found = current.find(char, start + offset, last + offset + 1)
        if found >= 0 and (best < 0 or found - offset < best):
            best = found - offset
    return best


def normalise(text: str, slips: bool = True) -> str:
    """NFKC (full-width → ASCII), traditional → simplified, lower case, dialect words →
    Mandarin, and (``slips``) domain words typed with a slip → the words."""
    text = mandarin(_converter().convert(unicodedata.normalize("NFKC", text)).lower())
    return corrected(text) if slips else text


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER], is_trainable=False
)
class TextNormaliser(StatelessComponent):
    """Replaces the message text by its normalised form."""

    preprocesses_training_data = True

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Training examples keep their slips (解帮, 审和): what they teach the classifier
        also serves slips that data/homophones.yml does not list."""
        self._normalise(training_data.training_examples, slips=False)
        return training_data

    def process(self, messages: list[Message]) -> list[Message]:
        return self._normalise(messages, slips=True)

    @staticmethod
    def _normalise(messages: list[Message], slips: bool) -> list[Message]:
        for message in messages:
            text = message.get(TEXT)
            if text:
                message.set(TEXT, normalise(text, slips))
        return messages
