"""Keep secrets out of NLU and make the bot warn about them.

``SecretGuard`` runs first: it hides passwords, codes, card and ID numbers in the
message text (see ``bot.redaction``), so no later component can turn them into
entities and the parse result that reaches the tracker holds only the masked text.
``SecretIntent`` runs after the classifiers and makes ``share_secret`` the intent
whenever something was hidden, so the bot always warns; and it overrules a
``share_secret`` guess for a message that names no secret at all (a bare "56" typed as
a serial is an answer, not a password).
"""

from __future__ import annotations

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.nlu.stateless import StatelessComponent
from bot.redaction import mentions_secret, redact

SECRET_KINDS = "secret_kinds"
SECRET_INTENT = "share_secret"


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER], is_trainable=False
)
class SecretGuard(StatelessComponent):
    """Masks secrets in the text before tokenisation."""

    preprocesses_training_data = True

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            result = redact(message.get(TEXT))
            if result.found:
                message.set(TEXT, result.text)
                message.set(SECRET_KINDS, list(result.kinds), add_to_output=True)
        return messages


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False
)
class SecretIntent(StatelessComponent, IntentClassifier):
    """Sets the ``share_secret`` intent when ``SecretGuard`` hid something."""

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            ranking = [
                r for r in message.get(INTENT_RANKING_KEY) or [] if r["name"] != SECRET_INTENT
            ]
            if message.get(SECRET_KINDS):
                top = {"name": SECRET_INTENT, "confidence": 1.0}
                ranking = [top, *ranking]
            elif (message.get(INTENT) or {}).get("name") == SECRET_INTENT and ranking:
                if mentions_secret(message.get(TEXT)):
                    continue
                top = ranking[0]
            else:
                continue
            message.set(INTENT, top, add_to_output=True)
            message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
        return messages
