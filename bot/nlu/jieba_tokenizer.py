"""Rasa's jieba tokenizer, trained again when its dictionary changes (bot.nlu.fingerprint),
and remembering the words of texts it has cut.

Merchants send the same texts again and again (你好, 转人工, the same question); the words of
the latest ``CACHE_SIZE`` distinct texts are kept, and each message gets its own copies of
the tokens (later components may set data on them). The texts it sees are already masked
(``bot.nlu.secret_guard`` runs first), and the cache lives only in memory.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.tokenizers.jieba_tokenizer import JiebaTokenizer
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.shared.nlu.training_data.message import Message

from bot.nlu import fingerprint

CACHE_SIZE = 4096


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=True)
class DomainJiebaTokenizer(JiebaTokenizer):
    """``JiebaTokenizer`` whose cached training (the dictionary copied into the model)
    is reused only while the dictionary and our NLU code are unchanged."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._words: OrderedDict[str, tuple[tuple[str, int, int], ...]] = OrderedDict()

    @classmethod
    def fingerprint_addon(cls, config: dict[str, Any]) -> str | None:
        return fingerprint.digest()

    def tokenize(self, message: Message, attribute: str) -> list[Token]:
        """Rasa's tokens of the text, from the cache when the text was cut before."""
        text = message.get(attribute)
        words = self._words.get(text)
        if words is None:
            words = tuple((t.text, t.start, t.end) for t in super().tokenize(message, attribute))
            self._words[text] = words
            if len(self._words) > CACHE_SIZE:
                self._words.popitem(last=False)
        else:
            self._words.move_to_end(text)
        return [Token(word, start, end) for word, start, end in words]
