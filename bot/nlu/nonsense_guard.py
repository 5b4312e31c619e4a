"""Send messages that carry no words at all to the fallback.

A classifier always picks its likeliest intent, and for text with no known feature
that is whatever the priors favour (a lone "。" came out as ``affirm``). Three
shapes of input say nothing, whatever the model believes:

- only punctuation ("。", "？？", "...");
- one Latin letter typed over and over ("jjjjjjj");
- a run along a keyboard row ("asdfgh", "zxcvbnm123"), digits or not.

For those, ``NonsenseGuard`` sets every intent confidence to 0 so that the
``FallbackClassifier`` after it answers ``nlu_fallback`` at any threshold. Emoji
are not punctuation: "👍" stays ``affirm``.
"""

from __future__ import annotations

import re
import unicodedata

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.nlu.stateless import StatelessComponent

_KEYBOARD_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
_MIN_RUN = 5


def _keyboard_run(letters: str) -> bool:
    """True when ``letters`` walk along one keyboard row, forwards or back, repeats allowed."""
    if len(letters) < _MIN_RUN:
        return False
    for row in _KEYBOARD_ROWS:
        looped = row * 3
        if letters in looped or letters[::-1] in looped:
            return True
    return False


def is_nonsense(text: str | None) -> bool:
    """True for text with no word in it: punctuation only, letter mash, keyboard runs."""
    compact = "".join((text or "").split()).lower()
    if not compact:
        return False
    if all(unicodedata.category(ch).startswith("P") for ch in compact):
        return True
    if re.search(r"[^\x00-\x7f]", compact):
        return False  # CJK, emoji or any other script: leave it to the classifier
    letters = re.sub(r"[^a-z]", "", compact)
    digits = re.sub(r"[^0-9]", "", compact)
    if len(digits) > len(letters):
        return False  # mostly digits: a number being given, not a mash
    return (len(letters) >= _MIN_RUN and len(set(letters)) == 1) or _keyboard_run(letters)


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False
)
class NonsenseGuard(StatelessComponent, IntentClassifier):
    """Zeroes the intent confidences of messages that carry no words."""

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            intent = message.get(INTENT)
            if not intent or not is_nonsense(message.get(TEXT)):
                continue
            ranking = [{**r, "confidence": 0.0} for r in message.get(INTENT_RANKING_KEY) or []]
            message.set(INTENT, {**intent, "confidence": 0.0}, add_to_output=True)
            message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
        return messages
