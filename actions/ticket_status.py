"""Where a ticket stands: this conversation's tickets, and another's after proof of
ownership (``ownership_form``: merchant number and the phone's last four digits)."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from bot.fields import normalize_merchant_id, to_halfwidth
from bot.tickets import OwnerCheckOutcome, TicketError, TicketStoreUnavailable

from . import unbind_form
from .ticket_views import (
    SORRY_DB,
    render_ticket,
    render_tickets,
    requested_merchant,
    requested_ticket_no,
)
from .topics import answer_also_asked
from .unbind_form import FAILED_ATTEMPTS_HANDOFF, latest_intent, latest_text


class ActionCheckStatus(Action):
    """Lists this conversation's tickets; another ticket needs proof of ownership."""

    def name(self) -> str:
        return "action_check_status"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        wanted = requested_ticket_no(tracker)
        merchant = None if wanted else requested_merchant(tracker)
        try:
            mine = unbind_form.ticket_service().tickets_for_sender(tracker.sender_id)
        except TicketStoreUnavailable:
            dispatcher.utter_message(text=f"{SORRY_DB}请稍后再问我一次。")
            return [SlotSet("needs_verification", False)]
        # Another conversation's ticket (by number or by merchant number) needs proof.
        # Whether such a ticket exists is not looked up before the proof is given.
        foreign_ticket = wanted and wanted not in {t.ticket_no for t in mine}
        foreign_merchant = merchant and merchant not in {t.merchant_id for t in mine}
        if foreign_ticket or foreign_merchant:
            if tracker.active_loop_name:
                dispatcher.utter_message(
                    text="查询其他工单需要先核实身份，请先完成当前的申请，或说“算了”。"
                )
                return [SlotSet("needs_verification", False)]
            if foreign_ticket:
                return [SlotSet("ticket_no", wanted), SlotSet("needs_verification", True)]
            dispatcher.utter_message(
                text="为了保护您的信息，查询这个商户号的解绑进度前需要核实身份。"
            )
            return [
                SlotSet("ticket_no", None),
                SlotSet("verify_merchant_id", merchant),
                SlotSet("needs_verification", True),
            ]
        if wanted:
            shown = tuple(t for t in mine if t.ticket_no == wanted)
        elif merchant:
            shown = tuple(t for t in mine if t.merchant_id == merchant)
        else:
            shown = mine
        if not shown:
            dispatcher.utter_message(
                text=(
                    "这个对话里还没有登记过解绑工单。如果是在别处登记的，请把工单号"
                    "（UB-开头）发给我；也可以现在申请解绑。"
                ),
                buttons=[{"title": "我要申请解绑", "payload": "/request_unbind"}],
            )
        for message in render_tickets(shown):
            dispatcher.utter_message(text=message)
        answer_also_asked(dispatcher, tracker, {"check_status"})
        return [SlotSet("needs_verification", False)]


def wants_to_stop(tracker: Tracker) -> bool:
    """算了 while proving ownership: let the stop rule end the form. Anything else is
    taken as an answer, so the merchant is always told what is missing."""
    return latest_intent(tracker) == "stop"


class ValidateOwnershipForm(FormValidationAction):
    """Collects the merchant number and the phone's last four digits as proof."""

    def name(self) -> str:
        return "validate_ownership_form"

    async def extract_verify_merchant_id(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if tracker.get_slot("requested_slot") != "verify_merchant_id" or wants_to_stop(tracker):
            return {}
        entity = next(tracker.get_latest_entity_values("merchant_id"), None)
        return {"verify_merchant_id": entity or latest_text(tracker)}

    async def extract_verify_phone_last4(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if tracker.get_slot("requested_slot") != "verify_phone_last4" or wants_to_stop(tracker):
            return {}
        return {"verify_phone_last4": latest_text(tracker)}

    async def validate_verify_merchant_id(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        result = normalize_merchant_id(str(value or ""))
        if not result.ok:
            dispatcher.utter_message(text=result.error or "")
        return {"verify_merchant_id": result.value}

    async def validate_verify_phone_last4(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        digits = "".join(ch for ch in to_halfwidth(str(value or "")) if ch in "0123456789")
        if len(digits) != 4:
            dispatcher.utter_message(text="请输入手机号的后四位数字。")
            return {"verify_phone_last4": None}
        return {"verify_phone_last4": digits}


class ActionShowVerifiedTicket(Action):
    """Shows another conversation's ticket only to someone who proved they own it."""

    def name(self) -> str:
        return "action_show_verified_ticket"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        proof = ("verify_merchant_id", "verify_phone_last4", "ticket_no")
        reset = [SlotSet(slot, None) for slot in proof] + [SlotSet("needs_verification", False)]
        ticket_no = tracker.get_slot("ticket_no")
        merchant = tracker.get_slot("verify_merchant_id") or ""
        last4 = tracker.get_slot("verify_phone_last4") or ""
        service = unbind_form.ticket_service()
        try:
            if ticket_no:
                check = service.verify_owner(ticket_no, merchant, last4, tracker.sender_id)
            else:  # asked by merchant number
                check = service.verify_merchant_owner(merchant, last4, tracker.sender_id)
        except TicketStoreUnavailable:
            dispatcher.utter_message(text=f"{SORRY_DB}请稍后再试。")
            return reset
        except TicketError:
            check = None
        if check is not None and check.outcome is OwnerCheckOutcome.THROTTLED:
            dispatcher.utter_message(text="核对失败的次数太多，请稍后再试，或转人工处理。",
                                     buttons=[FAILED_ATTEMPTS_HANDOFF])
        elif check is None or check.outcome is not OwnerCheckOutcome.MATCH or not check.ticket:
            dispatcher.utter_message(
                text=(
                    "抱歉，核对信息不一致，无法显示这个工单。请检查工单号、商户号和手机后四位。"
                    if ticket_no
                    else "抱歉，核对信息不一致，无法显示工单信息。请检查商户号和手机后四位。"
                )
            )
        elif ticket_no:
            dispatcher.utter_message(text=render_ticket(check.ticket))
        else:
            for message in render_tickets(check.tickets):
                dispatcher.utter_message(text=message)
        return reset
