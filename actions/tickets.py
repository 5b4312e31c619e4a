"""Opening the ticket for a confirmed unbind request, and "确认" with nothing to confirm.

Status and ownership proof are in ``ticket_status``, cancelling in ``ticket_cancel``."""

from __future__ import annotations

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from bot.tickets import OpenRequest, OwnerCheckOutcome, TicketError, TicketStoreUnavailable

from . import unbind_form
from .ticket_views import SORRY_DB, render_ticket
from .unbind_form import DRAFT_SLOTS, FIELD_TITLES, FORM_SLOTS, LAST_TICKET

CANNOT_REGISTER = (
    "抱歉，这份解绑申请无法在线登记，您填写的信息没有提交。"
    "请转人工，或联系海科融通客服办理。"
)
CANNOT_REGISTER_BUTTONS = [
    {"title": "转人工", "payload": "/human_handoff"},
    {"title": "联系客服", "payload": "/faq_contact_support"},
]


def _submitted_ticket(tracker: Tracker) -> str | None:
    """The open ticket this conversation's request ended in: the one remembered in
    ``last_ticket_no`` if still open, else the conversation's newest open ticket."""
    remembered = tracker.get_slot(LAST_TICKET)
    try:
        if remembered:
            ticket = unbind_form.ticket_service().get_ticket(remembered)
            if ticket is not None and ticket.is_open:
                return ticket.ticket_no
        mine = unbind_form.ticket_service().tickets_for_sender(tracker.sender_id)
    except TicketError:
        return remembered  # the store is down: the remembered number is the best answer
    return next((t.ticket_no for t in mine if t.is_open), None)


def reply_nothing_to_confirm(
    dispatcher: CollectingDispatcher, tracker: Tracker
) -> list[EventType]:
    """Answer a "确认" with no complete request waiting: name the ticket already
    opened, or say what is still missing, or how to start."""
    missing = [slot for slot in FORM_SLOTS if not tracker.get_slot(slot)]
    if len(missing) < len(FORM_SLOTS):
        titles = "、".join(f"“{FIELD_TITLES[slot]}”" for slot in missing)
        dispatcher.utter_message(
            text=(
                f"您的解绑申请还缺少{titles}，暂时不能提交。已填写的信息我都保留着，"
                "可以继续填写，也可以转人工处理。"
            ),
            buttons=[
                {"title": "继续填写", "payload": "/request_unbind"},
                {"title": "转人工", "payload": "/human_handoff"},
            ],
        )
        return []
    number = _submitted_ticket(tracker)
    if number:
        dispatcher.utter_message(
            text=(
                f"您的解绑申请已经登记过了，工单号：{number}，无需重复提交。"
                "问我“我的解绑进度”可以查看每一步的进展。"
            )
        )
    else:
        dispatcher.utter_message(
            text="现在没有等待提交的解绑申请。需要的话，说“我要解绑”就可以开始。",
            buttons=[{"title": "我要申请解绑", "payload": "/request_unbind"}],
        )
    return []


class ActionOpenTicket(Action):
    """Opens the ticket for a confirmed request; idempotent per merchant.

    Only a complete request is submitted; anything else gets a reply instead of a
    crash. A store failure keeps the request and shows the summary again for a retry.
    """

    def name(self) -> str:
        return "action_open_ticket"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        if not all(tracker.get_slot(slot) for slot in FORM_SLOTS):
            return reply_nothing_to_confirm(dispatcher, tracker)
        request = OpenRequest(
            merchant_id=tracker.get_slot("merchant_id") or "",
            reason_category=tracker.get_slot("unbind_reason") or "其他",
            reason_detail=tracker.get_slot("reason_detail") or "",
            serial_number=tracker.get_slot("serial_number") or "",
            contact_phone=tracker.get_slot("contact_phone") or "",
            channel=tracker.get_latest_input_channel() or "rest",
            sender_id=tracker.sender_id,
        )
        try:
            result = unbind_form.ticket_service().open_ticket(request)
        except TicketStoreUnavailable:
            dispatcher.utter_message(
                text=f"{SORRY_DB}您填写的信息我都保留着，请稍后点“确认提交”重试。"
            )
            return [FollowupAction("action_summarise_request")]
        except TicketError:
            dispatcher.utter_message(
                text=(
                    "抱歉，这份申请没能提交。您填写的信息我都保留着，请核对后再点“确认提交”，"
                    "或点“修改信息”改正；也可以说“转人工”。"
                )
            )
            return [FollowupAction("action_summarise_request")]
        ticket = result.ticket
        if not result.created and ticket.sender_id != tracker.sender_id:
            return self._proven_or_refused(dispatcher, tracker, request)
        if result.created:
            dispatcher.utter_message(
                text=(
                    f"已为您登记解绑申请，工单号：{ticket.ticket_no}\n"
                    "接下来会按八个步骤处理：资料审核、账户冻结、数据迁移、设备注销、"
                    "新设备安装、测试验证、培训交接、正式解绑。\n"
                    "随时问我“我的解绑进度”，就能看到每一步的状态。"
                )
            )
        else:
            dispatcher.utter_message(
                text=(
                    f"这个商户号已经有一个处理中的解绑工单：{ticket.ticket_no}，"
                    "无需重复提交。问我“我的解绑进度”可以查看进展。"
                )
            )
        return [SlotSet(slot, None) for slot in (*DRAFT_SLOTS, "failed_attempts")] + [
            SlotSet(LAST_TICKET, ticket.ticket_no)
        ]


    @staticmethod
    def _proven_or_refused(
        dispatcher: CollectingDispatcher, tracker: Tracker, request: OpenRequest
    ) -> list[EventType]:
        """Another conversation opened this merchant's open ticket. The form's merchant
        number and the last four digits of its phone are the ownership proof (throttled
        like every proof); without it the merchant hears only that the request cannot be
        registered here, in words that do not say a ticket exists."""
        cleared = [SlotSet(slot, None) for slot in (*DRAFT_SLOTS, "failed_attempts")]
        try:
            check = unbind_form.ticket_service().verify_merchant_owner(
                request.merchant_id, request.contact_phone[-4:], requester=tracker.sender_id
            )
        except TicketError:
            check = None
        proven = check is not None and check.outcome is OwnerCheckOutcome.MATCH
        if proven and check.ticket is not None and check.ticket.is_open:
            dispatcher.utter_message(
                text=(
                    f"这个商户号已经有一个处理中的解绑工单：{check.ticket.ticket_no}，"
                    "无需重复提交。当前进度："
                )
            )
            dispatcher.utter_message(text=render_ticket(check.ticket))
            return [*cleared, SlotSet(LAST_TICKET, check.ticket.ticket_no)]
        dispatcher.utter_message(text=CANNOT_REGISTER, buttons=CANNOT_REGISTER_BUTTONS)
        return cleared


class ActionNothingToConfirm(Action):
    """Answers "确认/好的" when no summary is waiting (unfinished form, ticket opened)."""

    def name(self) -> str:
        return "action_nothing_to_confirm"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        return reply_nothing_to_confirm(dispatcher, tracker)
