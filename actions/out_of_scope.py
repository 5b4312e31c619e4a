"""Messages the NLU reads as out of scope.

A question about what the guide does not state ("解绑要收费吗", "客服几点下班") is still
about the unbind: it is told honestly that the guide does not say, with the configured
contacts, instead of "this is beyond what I answer". Anything else gets that reply."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from bot.knowledge.aspects import asked_aspects
from bot.knowledge.topics import load_topics

from .topics import utter_unstated
from .unbind_form import latest_text


class ActionOutOfScope(Action):
    """Out of scope: an unstated aspect asked gets the honest reply, else utter_out_of_scope."""

    def name(self) -> str:
        return "action_out_of_scope"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        aspects = asked_aspects(latest_text(tracker))
        if aspects:
            utter_unstated(dispatcher, load_topics()["contact_support"], aspects,
                           offer_topic=False)
        else:
            dispatcher.utter_message(response="utter_out_of_scope")
        return []
