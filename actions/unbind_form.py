"""The unbind request form: collect, validate, summarise, correct, stop.

Each field is validated by ``bot.fields``. A message that is clearly something else (a
guide question, 转人工, 算了 …) is not taken as an answer: the validator returns
nothing, Rasa rejects the form for that turn and the rules answer the interruption,
then the form asks its question again. After three failed attempts at one field the
bot stops asking and offers a person, keeping everything already collected.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import ActiveLoop, EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.field_mixups import mixup, mixup_message
from bot.fields import (
    FieldResult,
    classify_reason,
    normalize_merchant_id,
    normalize_phone,
    normalize_serial,
)
from bot.redaction import redact_text
from bot.tickets import TicketError, TicketService, TicketView

FORM_SLOTS = ("merchant_id", "unbind_reason", "serial_number", "contact_phone")
DRAFT_SLOTS = (*FORM_SLOTS, "reason_detail")
LAST_TICKET = "last_ticket_no"  # the ticket this conversation's request ended in
ENTITY_FIELDS = {  # entity → form field, for a corrected value typed after "No"
    "merchant_id": "merchant_id",
    "unbind_reason": "unbind_reason",
    "serial_number": "serial_number",
    "phone": "contact_phone",
}
FIELD_TITLES = {
    "merchant_id": "商户号",
    "unbind_reason": "解绑原因",
    "serial_number": "原POS机序列号",
    "contact_phone": "联系手机号",
}
MAX_ATTEMPTS = 3
FAILED_ATTEMPTS_HANDOFF = {
    "title": "转人工", "payload": '/human_handoff{"handoff_reason":"failed_attempts"}',
}
"""The hand-off button offered after repeated failed attempts (its reason is recorded)."""
_ALNUM = r"A-Za-z0-9\uff10-\uff19"
_NUMBERS = re.compile(f"[{_ALNUM}][{_ALNUM} \\-]{{6,}}[{_ALNUM}]")  # numbers typed with a reason
NOT_ANSWERS = {
    "greet", "goodbye", "thank", "bot_challenge", "human_handoff", "request_unbind",
    "check_status", "cancel_ticket", "stop", "share_secret", "out_of_scope", "affirm",
    "notices_off", "notices_on", "leave_message",
}


@lru_cache(maxsize=1)
def ticket_service() -> TicketService:
    """The process-wide ticket service (``DATABASE_URL``, SQLite by default)."""
    return TicketService.from_url()


NORMALISERS: dict[str, Callable[[str], FieldResult]] = {
    "merchant_id": normalize_merchant_id,
    "serial_number": normalize_serial,
    "contact_phone": normalize_phone,
}


def latest_text(tracker: Tracker) -> str:
    """The merchant's latest message as typed, with any secret hidden."""
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            return redact_text(event.get("text") or "").strip()
    return ""


def latest_intent(tracker: Tracker) -> str:
    return (tracker.latest_message.get("intent") or {}).get("name") or ""


def is_interruption(tracker: Tracker) -> bool:
    """True when the latest message asks something rather than answers."""
    intent = latest_intent(tracker)
    text = latest_text(tracker)
    if intent == "share_secret" or (text.startswith("/") and intent != "inform"):
        return True
    return intent in NOT_ANSWERS or intent.startswith("faq_")


def looks_like_an_attempt(text: str) -> bool:
    """Digits or Latin letters: the merchant tried to type a number or serial."""
    return any(ch.isascii() and ch.isalnum() for ch in text) or any(
        "\uff10" <= ch <= "\uff5a" for ch in text
    )


def value_before_this_turn(tracker: Tracker, slot: str) -> Any:
    """The slot's value before the latest user message."""
    seen_user = False
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            seen_user = True
        elif seen_user and event.get("event") == "slot" and event.get("name") == slot:
            return event.get("value")
    return None


class ValidateUnbindForm(FormValidationAction):
    """Extracts and validates the four fields of ``unbind_form``."""

    def name(self) -> str:
        return "validate_unbind_form"

    # --- extraction of free-text answers to the requested field ----------------------
    def _free_text_for(self, slot: str, tracker: Tracker) -> str | None:
        if tracker.get_slot("requested_slot") != slot or tracker.get_slot(slot):
            return None
        text = latest_text(tracker)
        if not text or (is_interruption(tracker) and not looks_like_an_attempt(text)):
            return None
        if latest_intent(tracker) == "share_secret":
            return None
        return text

    async def extract_merchant_id(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        text = self._free_text_for("merchant_id", tracker)
        return {"merchant_id": text} if text else {}

    async def extract_serial_number(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        text = self._free_text_for("serial_number", tracker)
        return {"serial_number": text} if text else {}

    async def extract_contact_phone(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        text = self._free_text_for("contact_phone", tracker)
        return {"contact_phone": text} if text else {}

    async def extract_unbind_reason(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if tracker.get_slot("unbind_reason"):
            return {}
        text = latest_text(tracker)
        requested = tracker.get_slot("requested_slot")
        reason = classify_reason(text)
        recognised = reason.category != "其他"
        if requested == "unbind_reason":
            if is_interruption(tracker) and not recognised:
                return {}
            return {"unbind_reason": text} if text else {}
        # Any other turn, e.g. the first message: take a reason only when it is clear.
        if recognised and latest_intent(tracker) in ("request_unbind", "inform"):
            return {"unbind_reason": text}
        return {}

    # --- validation --------------------------------------------------------------------
    def _failed(
        self, slot: str, error: str, dispatcher: CollectingDispatcher, tracker: Tracker
    ) -> dict[str, Any]:
        if tracker.get_slot("requested_slot") != slot:
            # A wrong value for a field not being asked keeps what we already had.
            return {slot: value_before_this_turn(tracker, slot)}
        attempts = dict(tracker.get_slot("failed_attempts") or {})
        attempts[slot] = attempts.get(slot, 0) + 1
        dispatcher.utter_message(text=error)
        if attempts[slot] >= MAX_ATTEMPTS:
            attempts[slot] = 0
            return {slot: None, "failed_attempts": attempts, "requested_slot": None}
        return {slot: None, "failed_attempts": attempts}

    def _mixed_up(
        self, slot: str, dispatcher: CollectingDispatcher, tracker: Tracker
    ) -> dict[str, Any] | None:
        """Refuse, for the field being asked, a message that is plainly another field's
        value (``actions.field_mixups``); None when it is not."""
        if tracker.get_slot("requested_slot") != slot:
            return None
        message = tracker.latest_message
        entities = message.get("entities") or []
        field = mixup(slot, message.get("text") or "", entities)
        if field is None:
            return None
        stored = tracker.get_slot(field) is not None
        return self._failed(slot, mixup_message(slot, field, stored), dispatcher, tracker)

    def _validate_field(
        self, slot: str, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker
    ) -> dict[str, Any]:
        refused = self._mixed_up(slot, dispatcher, tracker)
        if refused is not None:
            return refused
        result = NORMALISERS[slot](str(value or ""))
        if not result.ok:
            return self._failed(slot, result.error or "", dispatcher, tracker)
        attempts = dict(tracker.get_slot("failed_attempts") or {})
        if attempts.pop(slot, 0):
            # A correct entry ends the count: a later slip starts again from one.
            return {slot: result.value, "failed_attempts": attempts}
        return {slot: result.value}

    async def validate_merchant_id(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        slots = self._validate_field("merchant_id", value, dispatcher, tracker)
        if slots.get("merchant_id") and own_open_ticket(slots["merchant_id"], tracker.sender_id):
            # Stop here: the summary step names this conversation's own open ticket.
            # Another conversation's ticket changes nothing until the confirmation.
            slots["requested_slot"] = None
        return slots

    async def validate_serial_number(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return self._validate_field("serial_number", value, dispatcher, tracker)

    async def validate_contact_phone(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return self._validate_field("contact_phone", value, dispatcher, tracker)

    async def validate_unbind_reason(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        refused = self._mixed_up("unbind_reason", dispatcher, tracker)
        if refused is not None:
            return {**refused, "reason_detail": None}
        reason = classify_reason(str(value or ""))
        return {"unbind_reason": reason.category, "reason_detail": reason_detail(reason.detail)}


def reason_detail(detail: str | None) -> str | None:
    """The merchant's own words about the reason, without numbers typed alongside."""
    if not detail:
        return None
    words = _NUMBERS.sub(" ", detail)
    for cue in ("商户号", "商户编号", "序列号", "手机号", "手机", "电话"):
        words = words.replace(cue, " ")
    words = re.sub(r"[\s,，。、:：;；]+", "，", words).strip("，")
    return words or None


def summary_text(tracker: Tracker) -> str:
    """The collected request, for the merchant to check."""
    reason = tracker.get_slot("unbind_reason")
    detail = tracker.get_slot("reason_detail")
    if detail and detail != reason:
        reason = f"{reason}（{detail}）"
    return "\n".join(
        [
            "请核对您的解绑申请：",
            f"• 商户号：{tracker.get_slot('merchant_id')}",
            f"• 解绑原因：{reason}",
            f"• 原POS机序列号：{tracker.get_slot('serial_number')}",
            f"• 联系手机号：{tracker.get_slot('contact_phone')}",
            "信息无误请点“确认提交”。",
        ]
    )


def own_open_ticket(merchant_id: str, sender_id: str) -> TicketView | None:
    """The merchant's open ticket if this conversation opened it, else None (also when
    the database is unreachable). Whether another conversation has one is never said
    here: that needs the ownership proof (see ``action_open_ticket``)."""
    try:
        ticket = ticket_service().open_ticket_for_merchant(merchant_id)
    except TicketError:
        return None
    return ticket if ticket is not None and ticket.sender_id == sender_id else None


class ActionSummariseRequest(Action):
    """After the form: the summary to confirm, when the request is complete.

    Otherwise (the merchant already has an open ticket, or a field could not be filled)
    ``action_unfinished_request`` answers instead, so that "确认/好的" after it never
    reaches the rule that opens a ticket.
    """

    def name(self) -> str:
        return "action_summarise_request"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        if not all(tracker.get_slot(slot) for slot in FORM_SLOTS):
            return [FollowupAction("action_unfinished_request")]
        dispatcher.utter_message(
            text=summary_text(tracker),
            buttons=[
                {"title": "确认提交", "payload": "/affirm"},
                {"title": "修改信息", "payload": "/deny"},
                {"title": "取消", "payload": "/stop"},
            ],
        )
        return []


class ActionUnfinishedRequest(Action):
    """The form stopped before a summary: name the open ticket, or offer help."""

    def name(self) -> str:
        return "action_unfinished_request"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        missing = [slot for slot in FORM_SLOTS if not tracker.get_slot(slot)]
        existing = own_open_ticket(tracker.get_slot("merchant_id") or "", tracker.sender_id)
        if existing:
            dispatcher.utter_message(
                text=(
                    f"这个商户号已经有一个处理中的解绑工单：{existing.ticket_no}，无需重复申请。"
                    "问我“我的解绑进度”可以查看进展。"
                )
            )
            return [SlotSet(slot, None) for slot in (*DRAFT_SLOTS, "failed_attempts")] + [
                SlotSet(LAST_TICKET, existing.ticket_no)
            ]
        title = FIELD_TITLES[missing[0]] if missing else "解绑申请"
        dispatcher.utter_message(
            text=(
                f"“{title}”好像不太好填。您已经填好的信息我都保留着，"
                "可以转人工处理，也可以重新试一次。"
            ),
            buttons=[
                FAILED_ATTEMPTS_HANDOFF,
                {"title": "重新填写", "payload": "/request_unbind"},
                {"title": "算了", "payload": "/stop"},
            ],
        )
        return []


class ActionStopForm(Action):
    """算了 / 不办了 / 取消: stop politely; nothing is submitted and the draft is cleared."""

    def name(self) -> str:
        return "action_stop_form"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        if tracker.active_loop_name == "ownership_form":
            dispatcher.utter_message(text="好的，不查了。还有什么可以帮您？")
            slots: tuple[str, ...] = ("verify_merchant_id", "verify_phone_last4", "ticket_no")
        elif tracker.active_loop_name == "leave_message_form":
            dispatcher.utter_message(text="好的，不留言了。还有什么可以帮您？")
            slots = ("left_message",)
        else:
            dispatcher.utter_message(response="utter_form_stopped")
            if latest_intent(tracker) == "cancel_ticket" and has_open_ticket(tracker.sender_id):
                dispatcher.utter_message(
                    text="如果您是想取消已经登记的解绑工单，请再说一次“取消工单”。"
                )
            slots = (*DRAFT_SLOTS, "failed_attempts")
        return [SlotSet(slot, None) for slot in slots] + [
            SlotSet("requested_slot", None),
            ActiveLoop(None),
        ]


def has_open_ticket(sender_id: str) -> bool:
    """True when this conversation has an open ticket (False if the store is down)."""
    try:
        return any(t.is_open for t in ticket_service().tickets_for_sender(sender_id))
    except TicketError:
        return False
