"""Rasa's jieba tokenizer, trained again when its dictionary changes (bot.nlu.fingerprint)."""

from __future__ import annotations

from typing import Any

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.tokenizers.jieba_tokenizer import JiebaTokenizer

from bot.nlu import fingerprint


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=True)
class DomainJiebaTokenizer(JiebaTokenizer):
    """``JiebaTokenizer`` whose cached training (the dictionary copied into the model)
    is reused only while the dictionary and our NLU code are unchanged."""

    @classmethod
    def fingerprint_addon(cls, config: dict[str, Any]) -> str | None:
        return fingerprint.digest()
