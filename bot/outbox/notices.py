"""Step-change notices, written in the step change's own transaction.

Privacy: a notice goes only to the conversation that opened the ticket
(``tickets.channel`` + ``tickets.sender_id``), never to anyone else who mentioned its
merchant number. A conversation that turned notices off gets an ``opted_out`` row (the
console shows it) and nothing is sent.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from bot.outbox.store import enqueue, notices_enabled
from bot.outbox.texts import step_notice
from bot.tickets.models import StepStatus, Ticket, TicketStatus

OPTED_OUT = "商户已关闭工单进度通知（不要再通知我）"


def write_step_notice(
    session: Session, ticket: Ticket, step: str, status: str, note: str, now: datetime
) -> int | None:
    """Queue the notice of one step change; the outbox row id (None: nobody to tell)."""
    if not ticket.sender_id or not ticket.channel:
        return None  # anonymised, or opened outside a conversation
    done = StepStatus.DONE.value
    next_step = next((s.name for s in ticket.steps if s.status != done), None)
    text = step_notice(ticket.ticket_no, step, status, note,
                       completed=ticket.status == TicketStatus.COMPLETED.value,
                       next_step=next_step)
    enabled = notices_enabled(session, ticket.channel, ticket.sender_id)
    return enqueue(
        session, kind="notice", channel=ticket.channel, sender_id=ticket.sender_id,
        text=text, now=now, ticket_no=ticket.ticket_no, step=step,
        state="pending" if enabled else "opted_out", last_error="" if enabled else OPTED_OUT,
    )
