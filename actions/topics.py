"""Answers from the guide and fallback suggestions (the hand-off: ``actions.handoff``)."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import FollowupAction
from rasa_sdk.executor import CollectingDispatcher

from bot.knowledge.topics import follow_up_buttons, load_topics, topic_for_intent
from bot.settings import Contacts

SUGGESTIONS = 3
HANDOFF_BUTTON = {"title": "转人工", "payload": "/human_handoff"}
LOW_CONFIDENCE_STREAK = 3
"""Turns in a row the bot did not understand before it hands the conversation off."""



def utter_topic(dispatcher: CollectingDispatcher, topic_id: str, buttons: bool = True) -> None:
    """Send a topic's answer, with its follow-up buttons on the last message."""
    topic = load_topics()[topic_id]
    messages = topic.render(Contacts.from_env())
    for message in messages[:-1]:
        dispatcher.utter_message(text=message)
    dispatcher.utter_message(
        text=messages[-1], buttons=follow_up_buttons(topic) if buttons else []
    )


class ActionAnswerTopic(Action):
    """Answers the guide topic of the latest faq_* intent."""

    def name(self) -> str:
        return "action_answer_topic"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        intent = tracker.get_intent_of_latest_message(skip_fallback_intent=True)
        topic = topic_for_intent(intent)
        if topic is None:
            dispatcher.utter_message(response="utter_out_of_scope")
            return []
        # Inside a form the form asks its question next, so keep the answer uncluttered.
        utter_topic(dispatcher, topic.id, buttons=tracker.active_loop_name is None)
        return []


def low_confidence_streak(events: list[dict[str, Any]]) -> int:
    """How many of the latest user turns in a row the NLU did not understand (since the
    last hand-off)."""
    streak = 0
    for event in reversed(events):
        if event.get("event") == "action" and event.get("name") == "action_human_handoff":
            break
        if event.get("event") == "user":
            if ((event.get("parse_data") or {}).get("intent") or {}).get("name") != "nlu_fallback":
                break
            streak += 1
    return streak


class ActionSuggestTopics(Action):
    """Low-confidence input: offer the closest guide topics as buttons; after
    ``LOW_CONFIDENCE_STREAK`` such turns in a row, hand off to a person instead."""

    def name(self) -> str:
        return "action_suggest_topics"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        if low_confidence_streak(tracker.events) >= LOW_CONFIDENCE_STREAK:
            return [FollowupAction("action_human_handoff")]
        ranking = tracker.latest_message.get("intent_ranking") or []
        topics = [topic_for_intent(item.get("name")) for item in ranking]
        closest = [t for t in topics if t is not None][:SUGGESTIONS]
        buttons = [{"title": t.title, "payload": t.payload} for t in closest]
        dispatcher.utter_message(
            text="抱歉，我没有完全明白您的意思。您是想问下面哪一个？也可以换个说法再问我。",
            buttons=[*buttons, HANDOFF_BUTTON],
        )
        return []
