"""Answers from the guide, fallback suggestions and the human hand-off."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.knowledge.topics import follow_up_buttons, load_topics, topic_for_intent
from bot.settings import Contacts

SUGGESTIONS = 3
HANDOFF_BUTTON = {"title": "转人工", "payload": "/human_handoff"}


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


class ActionSuggestTopics(Action):
    """Low-confidence input: offer the closest guide topics as buttons."""

    def name(self) -> str:
        return "action_suggest_topics"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        ranking = tracker.latest_message.get("intent_ranking") or []
        topics = [topic_for_intent(item.get("name")) for item in ranking]
        closest = [t for t in topics if t is not None][:SUGGESTIONS]
        buttons = [{"title": t.title, "payload": t.payload} for t in closest]
        dispatcher.utter_message(
            text="抱歉，我没有完全明白您的意思。您是想问下面哪一个？也可以换个说法再问我。",
            buttons=[*buttons, HANDOFF_BUTTON],
        )
        return []


class ActionHumanHandoff(Action):
    """Gives the configured ways to reach a person. Form data is kept."""

    def name(self) -> str:
        return "action_human_handoff"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        dispatcher.utter_message(text="好的，这个问题交给海科融通的工作人员来处理。")
        utter_topic(dispatcher, "contact_support", buttons=False)
        if tracker.get_slot("merchant_id"):
            dispatcher.utter_message(
                text="您已经填写的信息我都保留着，需要时说“我要解绑”可以接着填写。"
            )
        return []
