"""Normalise what merchants type before NLU: full-width to ASCII, traditional to
simplified characters, lower case, dialect function words to Mandarin
(data/dialect.yml). Applied to training data and messages alike."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import opencc
import yaml
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.nlu.stateless import StatelessComponent
from bot.paths import DATA

DIALECT = DATA / "dialect.yml"


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


def normalise(text: str) -> str:
    """NFKC (full-width → ASCII), traditional → simplified, lower case, dialect words →
    Mandarin."""
    return mandarin(_converter().convert(unicodedata.normalize("NFKC", text)).lower())


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER], is_trainable=False
)
class TextNormaliser(StatelessComponent):
    """Replaces the message text by its normalised form."""

    preprocesses_training_data = True

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            text = message.get(TEXT)
            if text:
                message.set(TEXT, normalise(text))
        return messages
