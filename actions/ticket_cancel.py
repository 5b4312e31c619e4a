"""Cancelling one of this conversation's open tickets, after a confirmation."""

from __future__ import annotations

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from bot.tickets import TicketError, TicketStoreUnavailable

from . import unbind_form
from .ticket_views import SORRY_DB, requested_ticket_no
from .topics import answer_also_asked


class ActionConfirmCancel(Action):
    """Asks which open ticket to cancel and for confirmation."""

    def name(self) -> str:
        return "action_confirm_cancel"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        try:
            mine = unbind_form.ticket_service().tickets_for_sender(tracker.sender_id)
            open_tickets = [t for t in mine if t.is_open]
        except TicketStoreUnavailable:
            dispatcher.utter_message(text=f"{SORRY_DB}请稍后再试。")
            return []
        wanted = requested_ticket_no(tracker)
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
        service = unbind_form.ticket_service()
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
