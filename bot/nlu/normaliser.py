"""Normalise what merchants type before NLU: full-width to ASCII, traditional to
simplified characters, lower case. Applied to training data and messages alike."""

from __future__ import annotations

import unicodedata
from functools import lru_cache

import opencc
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.nlu.stateless import StatelessComponent


@lru_cache(maxsize=1)
def _converter() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


def normalise(text: str) -> str:
    """NFKC (full-width → ASCII), traditional → simplified, lower case."""
    return _converter().convert(unicodedata.normalize("NFKC", text)).lower()


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
