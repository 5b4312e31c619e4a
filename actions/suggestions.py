"""When the bot is unsure: a grounded answer from the guide, the closest topics as buttons,
and a hand-off after a streak of messages it did not understand (answers from a sure
intent: ``actions.topics``).

Every message names, in its metadata (``answers``), what it answers (see ``actions.topics``).
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import FollowupAction
from rasa_sdk.executor import CollectingDispatcher

from actions.replies import record_candidate
from actions.topics import HANDOFF_BUTTON, SUGGESTIONS, topic_button, utter_topic, utter_unstated
from actions.unbind_form import latest_text
from bot.fields import classify_reason
from bot.knowledge.aspects import asked_aspects, unstated_aspects
from bot.knowledge.grounding import Grounding, ground
from bot.knowledge.step_ordinal import ordinal_step
from bot.knowledge.topics import load_topics, topic_for_intent
from bot.nlu.clauses import asks

LOW_CONFIDENCE_STREAK = 3
"""Turns in a row the bot did not understand before it hands the conversation off."""


NOT_UNDERSTOOD = "抱歉，我没有完全明白您的意思。您是想问下面哪一个？也可以换个说法再问我。"


def utter_grounded(dispatcher: CollectingDispatcher, found: Grounding) -> None:
    """A grounded answer: the guide's own words, then the topics as buttons."""
    topic = found.topic
    dispatcher.utter_message(
        text=f"解绑指南中与您的问题最相关的是这一段：\n“{found.passage.text}”",
        buttons=[
            {"title": f"查看“{topic.title}”的完整解答", "payload": topic.payload},
            *(topic_button(t) for t in found.alternatives),
            HANDOFF_BUTTON,
        ],
        answers=[topic.intent], grounded=True, grounding_score=found.score,
    )


def grounded_answer(dispatcher: CollectingDispatcher, tracker: Tracker) -> bool:
    """Answer from the best guide passage if it is trusted; True when answered."""
    text = latest_text(tracker)
    found = ground(text, tracker.latest_message.get("intent_ranking") or [])
    if found is None or not found.accepted():
        return False
    unstated = unstated_aspects(text, found.topic)
    if unstated:
        utter_unstated(dispatcher, found.topic, unstated)
    else:
        utter_grounded(dispatcher, found)
    return True


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
    """Low-confidence input: a grounded answer when a guide passage matches well enough;
    the honest "the guide does not say" when it asks what the guide does not state (how
    long, what it costs); otherwise the closest guide topics as buttons. After
    ``LOW_CONFIDENCE_STREAK`` such turns in a row, hand off to a person instead."""

    def name(self) -> str:
        return "action_suggest_topics"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        if low_confidence_streak(tracker.events) >= LOW_CONFIDENCE_STREAK:
            record_candidate(tracker, "fallback")
            return [FollowupAction("action_human_handoff")]
        step = ordinal_step(latest_text(tracker))  # "第三步是啥": the step by its number
        if step is not None:
            utter_topic(dispatcher, step.id)
            return []
        answered = grounded_answer(dispatcher, tracker)
        record_candidate(tracker, "low_confidence" if answered else "fallback")
        if answered:
            return []
        text = latest_text(tracker)
        unstated = asked_aspects(text) if asks(text) else []
        if unstated:  # "啥时候能弄好": how long, which the guide does not state
            utter_unstated(dispatcher, load_topics()["contact_support"], unstated,
                           offer_topic=False)
            return []
        ranking = tracker.latest_message.get("intent_ranking") or []
        topics = [topic_for_intent(item.get("name")) for item in ranking]
        closest = [t for t in topics if t is not None][:SUGGESTIONS]
        dispatcher.utter_message(
            text=NOT_UNDERSTOOD,
            buttons=[*(topic_button(t) for t in closest), HANDOFF_BUTTON],
            answers=["nlu_fallback"],
        )
        return []


class ActionAskWhatFor(Action):
    """A message taken for a bare value with nothing pending: if it holds no value (no
    merchant number, serial, phone or ticket number, no unbind reason) and a guide passage
    matches, it was a question, so answer it from the guide; otherwise ask what the value
    is for."""

    def name(self) -> str:
        return "action_ask_what_for"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        text = latest_text(tracker)
        has_value = bool(tracker.latest_message.get("entities"))
        is_reason = classify_reason(text).category != "其他"  # "业务调整": a form value
        if not has_value and not is_reason and grounded_answer(dispatcher, tracker):
            record_candidate(tracker, "low_confidence")
            return []
        dispatcher.utter_message(response="utter_ask_what_for")
        return []


class ActionNotHelpful(Action):
    """"没用": apologise, keep the message that was answered as a candidate, offer a person."""

    def name(self) -> str:
        return "action_not_helpful"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        record_candidate(tracker, "unhelpful", previous=True)
        dispatcher.utter_message(
            text="抱歉，刚才的回答没帮上忙，我已经把您的问题记下来，用来改进回答。"
                 "您可以换个说法再问一次，也可以转人工。",
            buttons=[HANDOFF_BUTTON], answers=["not_helpful"],
        )
        return []
