"""The NLU component that normalises text before tokenisation (``bot.nlu.normalisation``):
training examples and merchants' messages alike, so the classifier learns from text shaped
exactly like what it will see."""

from __future__ import annotations

import hashlib
from typing import Any

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.nlu.normalisation import WORDS_PATH, normalise
from bot.nlu.stateless import StatelessComponent

__all__ = ["TextNormaliser", "normalise"]


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER], is_trainable=False
)
class TextNormaliser(StatelessComponent):
    """Replaces the message text by its normalised form."""

    preprocesses_training_data = True

    @classmethod
    def fingerprint_addon(cls, config: dict[str, Any]) -> str | None:
        """The words file's content: Rasa's training cache must not reuse text that
        older rewrites produced."""
        return hashlib.sha256(WORDS_PATH.read_bytes()).hexdigest()

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            text = message.get(TEXT)
            if text:
                message.set(TEXT, normalise(text))
        return messages
