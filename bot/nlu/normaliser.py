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


@lru_cache(maxsize=4096)
def _sounds(char: str) -> frozenset[str]:
    """Every toneless pinyin reading of ``char`` (none for a character that is not Chinese)."""
    if not "\u4e00" <= char <= "\u9fff":
        return frozenset()
    return frozenset(readings_of(char, style=Style.NORMAL, heteronym=True)[0])


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
    words (商护号 → 商户号, 序例号 → 序列号); same length."""
    words, look_alike = _homophones()
    chars = list(text)
    for word in words:
        size = len(word)
        for start in range(len(chars) - size + 1):
            span = "".join(chars[start:start + size])
            if (span == word or not any(a == b for a, b in zip(span, word, strict=True))
                    or not all(_slip(a, b, look_alike) for a, b in zip(span, word, strict=True))
                    or _in_a_word(text, start, start + size)):
                continue
            chars[start:start + size] = word
    return "".join(chars)


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
