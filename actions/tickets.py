"""Open, show and cancel unbind tickets through the one ``TicketService``."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from bot.fields import normalize_merchant_id, normalize_ticket_no, to_halfwidth
from bot.tickets import (
    OpenRequest,
    OwnerCheckOutcome,
    TicketError,
    TicketStoreUnavailable,
    TicketView,
)
from bot.tickets.values import SHANGHAI

from .topics import answer_also_asked
from .unbind_form import (
    DRAFT_SLOTS,
    FAILED_ATTEMPTS_HANDOFF,
    FIELD_TITLES,
    FORM_SLOTS,
    LAST_TICKET,
    latest_intent,
    latest_text,
    ticket_service,
)

SHOWN_IN_FULL = 3
STATUS_NAMES = {"open": "处理中", "cancelled": "已取消", "completed": "已完成"}
SORRY_DB = "抱歉，工单系统暂时无法访问。"
CANNOT_REGISTER = (
    "抱歉，这份解绑申请无法在线登记，您填写的信息没有提交。"
    "请转人工，或联系海科融通客服办理。"
)
CANNOT_REGISTER_BUTTONS = [
    {"title": "转人工", "payload": "/human_handoff"},
    {"title": "联系客服", "payload": "/faq_contact_support"},
]


def _time(value: Any) -> str:
    return value.astimezone(SHANGHAI).strftime("%m-%d %H:%M")


def render_ticket(ticket: TicketView, full: bool = True) -> str:
    """One ticket: header, and with ``full`` every step with its status and time."""
    header = f"工单 {ticket.ticket_no}（{STATUS_NAMES.get(ticket.status, ticket.status)}）"
    if not full:
        current = ticket.current_step
        where = f"，当前：{current.name} {current.status}" if current else ""
        return f"{header}{where}"
    lines = [header, f"登记时间：{_time(ticket.created_at)}，原因：{ticket.reason_category}"]
    for step in ticket.steps:
        # Every step shows when it last changed; a pending step, when it was registered.
        line = f"{step.position}. {step.name}：{step.status}（{_time(step.updated_at)}）"
        if step.note:
            line += f" 备注：{step.note}"
        lines.append(line)
    return "\n".join(lines)


def render_tickets(tickets: tuple[TicketView, ...]) -> list[str]:
    """Open tickets first; beyond a few, older ones are summarised in one line each."""
    ordered = sorted(tickets, key=lambda t: (not t.is_open, -t.created_at.timestamp()))
    messages = [render_ticket(t) for t in ordered[:SHOWN_IN_FULL]]
    rest = ordered[SHOWN_IN_FULL:]
    if rest:
        messages.append(
            f"另有 {len(rest)} 个较早的工单：\n"
            + "\n".join(render_ticket(t, full=False) for t in rest)
        )
    return messages


def _requested_ticket_no(tracker: Tracker) -> str | None:
    for value in tracker.get_latest_entity_values("ticket_no"):
        result = normalize_ticket_no(value)
        if result.ok:
            return result.value
    return None


def _requested_merchant(tracker: Tracker) -> str | None:
    for value in tracker.get_latest_entity_values("merchant_id"):
        result = normalize_merchant_id(value)
        if result.ok:
            return result.value
    return None


def _submitted_ticket(tracker: Tracker) -> str | None:
    """The open ticket this conversation's request ended in: the one remembered in
    ``last_ticket_no`` if still open, else the conversation's newest open ticket."""
    remembered = tracker.get_slot(LAST_TICKET)
    try:
        if remembered:
            ticket = ticket_service().get_ticket(remembered)
            if ticket is not None and ticket.is_open:
                return ticket.ticket_no
        mine = ticket_service().tickets_for_sender(tracker.sender_id)
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
            result = ticket_service().open_ticket(request)
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
            check = ticket_service().verify_merchant_owner(
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


class ActionCheckStatus(Action):
    """Lists this conversation's tickets; another ticket needs proof of ownership."""

    def name(self) -> str:
        return "action_check_status"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        wanted = _requested_ticket_no(tracker)
        merchant = None if wanted else _requested_merchant(tracker)
        try:
            mine = ticket_service().tickets_for_sender(tracker.sender_id)
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
        service = ticket_service()
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


class ActionConfirmCancel(Action):
    """Asks which open ticket to cancel and for confirmation."""

    def name(self) -> str:
        return "action_confirm_cancel"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        try:
            open_tickets = [
                t for t in ticket_service().tickets_for_sender(tracker.sender_id) if t.is_open
            ]
        except TicketStoreUnavailable:
            dispatcher.utter_message(text=f"{SORRY_DB}请稍后再试。")
            return []
        wanted = _requested_ticket_no(tracker)
        if wanted:
            open_tickets = [t for t in open_tickets if t.ticket_no == wanted]
        if not open_tickets:
            dispatcher.utter_message(text="这个对话里没有可以取消的处理中工单。")
            answer_also_asked(dispatcher, tracker, {"cancel_ticket"})
            return [SlotSet("ticket_no", None)]
        if len(open_tickets) > 1:
            dispatcher.utter_message(
                text="您有多个处理中的工单，要取消哪一个？",
                buttons=[
                    {
                        "title": t.ticket_no,
                        "payload": f'/cancel_ticket{{"ticket_no":"{t.ticket_no}"}}',
                    }
                    for t in open_tickets
                ],
            )
            return [SlotSet("ticket_no", None)]
        ticket = open_tickets[0]
        dispatcher.utter_message(
            text=f"确定要取消工单 {ticket.ticket_no} 吗？取消后，未完成的步骤都不再处理。",
            buttons=[
                {"title": "确认取消", "payload": "/affirm"},
                {"title": "不取消", "payload": "/deny"},
            ],
        )
        answer_also_asked(dispatcher, tracker, {"cancel_ticket"})
        return [SlotSet("ticket_no", ticket.ticket_no)]


class ActionCancelTicket(Action):
    """Cancels the confirmed ticket; its remaining steps become 已取消."""

    def name(self) -> str:
        return "action_cancel_ticket"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        ticket_no = tracker.get_slot("ticket_no")
        if not ticket_no:
            dispatcher.utter_message(text="现在没有等待取消的工单，没有取消任何工单。")
            return []
        service = ticket_service()
        try:
            owned = {t.ticket_no for t in service.tickets_for_sender(tracker.sender_id)}
            if ticket_no not in owned:
                dispatcher.utter_message(text="这个对话里没有这个工单，无法取消。")
                return [SlotSet("ticket_no", None)]
            ticket = service.cancel_ticket(ticket_no, actor=f"merchant:{tracker.sender_id}")
        except TicketStoreUnavailable:
            dispatcher.utter_message(text=f"{SORRY_DB}工单没有取消，请稍后再试。")
            return [SlotSet("ticket_no", None)]
        except TicketError as error:
            dispatcher.utter_message(text=f"无法取消：{error}")
            return [SlotSet("ticket_no", None)]
        dispatcher.utter_message(
            text=f"已取消工单 {ticket.ticket_no}，未完成的步骤已标记为“已取消”。"
        )
        return [SlotSet("ticket_no", None)]
