"""Live human handoff and step-change notice preferences.

Every handoff goes through ``action_human_handoff`` (转人工, the button offered after
failed attempts, a streak of low-confidence turns), so the tracker's
``action_human_handoff`` events count handoffs; the reason is stored on the handoff row
(``requested``, ``failed_attempts``, ``low_confidence``). On duty the conversation is
queued for the agents' console; off duty (``HANDOFF_HOURS``) the merchant gets the
configured contact and may leave a message (``leave_message_form``) that queues it.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from bot.handoff.models import REASONS
from bot.handoff.service import HandoffError, HandoffService
from bot.knowledge.aspects import asked_aspects
from bot.knowledge.topics import load_topics
from bot.nlu.clauses import requests
from bot.outbox.store import OutboxStore, OutboxUnavailable
from bot.outbox.texts import handoff_text, notice_text
from bot.settings import Contacts

from .replies import record_candidate
from .topics import answer_also_asked, utter_topic, utter_unstated

LEAVE_MESSAGE_BUTTONS = [
    {"title": "留言给客服", "payload": "/leave_message"},
    {"title": "不用了", "payload": "/deny"},
]
ANSWERED = ["human_handoff"]  # what the reply answers (metadata; see actions/topics.py)
WITH_CONTACT = frozenset((*ANSWERED, "faq_contact_support"))
"""What an off-duty or failed hand-off answers: it gives the contact too."""
LEADS = {"low_confidence": "抱歉，我几次都没能明白您的意思。"}
_BARE_SERVICE = re.compile(r"^(?:客服|客服人员|客服中心)[呢啊呀吧哦嘛?？!！。.~～\s]*$")
"""Only the word 客服: the merchant may want a person or the ways to reach one; both are
given (the queue and the configured contacts)."""


def names_service_only(text: str) -> bool:
    """True for a message that is the word 客服 alone ("客服", "客服？")."""
    return bool(_BARE_SERVICE.match(text.strip()))


@lru_cache(maxsize=1)
def handoff_service() -> HandoffService:
    """The process-wide handoff service (``DATABASE_URL``)."""
    return HandoffService.from_url()


def conversation(tracker: Tracker) -> tuple[str, str]:
    """(channel, sender id): the identity the handoff and the notices belong to."""
    return tracker.get_latest_input_channel() or "rest", tracker.sender_id


def handoff_reason(tracker: Tracker) -> str:
    """Why this handoff: the button's ``handoff_reason``, a low-confidence turn, or asked."""
    latest = tracker.latest_message or {}
    for entity in latest.get("entities") or []:
        if entity.get("entity") == "handoff_reason" and entity.get("value") in REASONS:
            return str(entity["value"])
    if (latest.get("intent") or {}).get("name") == "nlu_fallback":
        return "low_confidence"
    return "requested"


class ActionHumanHandoff(Action):
    """Queue the conversation for a live agent, or offer the contact and a message."""

    def name(self) -> str:
        return "action_human_handoff"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        # The question before "转人工" is the one the bot could not answer.
        record_candidate(tracker, "handoff", previous=True)
        reason = handoff_reason(tracker)
        channel, sender = conversation(tracker)
        lead = LEADS.get(reason, "")
        try:
            requested = handoff_service().request(channel, sender, reason)
        except HandoffError:
            dispatcher.utter_message(text=lead + handoff_text("unavailable"), answers=ANSWERED)
            utter_topic(dispatcher, "contact_support", buttons=False)
            return self._kept(dispatcher, tracker, WITH_CONTACT)
        handoff = requested.handoff
        if handoff.state == "offline":
            hours = handoff_service().hours.label()
            shown = f"（{hours}，北京时间）" if hours else ""
            dispatcher.utter_message(text=lead + handoff_text("off_duty", hours=shown),
                                     answers=ANSWERED)
            utter_topic(dispatcher, "contact_support", buttons=False)
            dispatcher.utter_message(text=handoff_text("offer_message"),
                                     buttons=LEAVE_MESSAGE_BUTTONS)
            return self._kept(dispatcher, tracker, WITH_CONTACT)
        if not requested.created and handoff.state == "claimed":
            dispatcher.utter_message(text=handoff_text("already_claimed", agent=handoff.agent),
                                     answers=ANSWERED)
        elif not requested.created:
            dispatcher.utter_message(text=handoff_text("already_queued", ahead=requested.ahead),
                                     answers=ANSWERED)
        elif names_service_only(str(tracker.latest_message.get("text") or "")):
            contacts = "\n".join(load_topics()["contact_support"].render(Contacts.from_env()))
            dispatcher.utter_message(
                text=f"{handoff_text('queued', ahead=requested.ahead)}\n也可以直接联系：{contacts}",
                answers=sorted(WITH_CONTACT))
            return self._kept(dispatcher, tracker, WITH_CONTACT)
        else:
            dispatcher.utter_message(text=lead + handoff_text("queued", ahead=requested.ahead),
                                     answers=ANSWERED)
        return self._kept(dispatcher, tracker)

    @staticmethod
    def _kept(dispatcher: CollectingDispatcher, tracker: Tracker,
              answered: frozenset[str] = frozenset(ANSWERED)) -> list[EventType]:
        answer_also_asked(dispatcher, tracker, answered)  # "转人工，另外审核要多久"
        if tracker.get_slot("merchant_id"):
            dispatcher.utter_message(
                text="您已经填写的信息我都保留着，需要时说“我要解绑”可以接着填写。"
            )
        return []


class ActionLeaveMessage(Action):
    """Submit of ``leave_message_form``: queue the message for the next agent on duty."""

    def name(self) -> str:
        return "action_leave_message"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        text = tracker.get_slot("left_message") or ""
        channel, sender = conversation(tracker)
        try:
            handoff_service().leave_message(channel, sender, text)
        except HandoffError:
            dispatcher.utter_message(text=handoff_text("message_failed"),
                                     answers=["leave_message"])
        else:
            dispatcher.utter_message(text=handoff_text("message_left"),
                                     answers=["leave_message"])
        return [SlotSet("left_message", None)]


_QUESTION = re.compile(r"(?:吗|嗎|么|麼|呢|[?？])\s*$|会不会|會不會|是不是")


def asks_rather_than_requests(text: str) -> bool:
    """"会给我发短信通知吗" asks a question; "别老是通知我了好吗", "帮我打开通知" ask for
    something to be done."""
    return bool(_QUESTION.search(text)) and not requests(text)


class ActionSetNotices(Action):
    """不要再通知我 / 打开通知: step-change notices for this conversation off or on."""

    def name(self) -> str:
        return "action_set_notices"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        text = str(tracker.latest_message.get("text") or "")
        aspects = asked_aspects(text)
        if aspects and asks_rather_than_requests(text):
            # "办完解绑会给我发短信通知吗" asks what happens; it turns nothing on or off.
            utter_unstated(dispatcher, load_topics()["contact_support"], aspects,
                           offer_topic=False)
            return []
        enabled = intent == "notices_on"
        channel, sender = conversation(tracker)
        try:
            OutboxStore(handoff_service().engine).set_notices(channel, sender, enabled)
        except OutboxUnavailable:
            dispatcher.utter_message(text=notice_text("store_down"), answers=[intent])
            return []
        dispatcher.utter_message(text=notice_text("turned_on" if enabled else "turned_off"),
                                 answers=[intent])
        answer_also_asked(dispatcher, tracker, {intent})  # "关了通知吧 对了我的进度怎么样"
        return []
