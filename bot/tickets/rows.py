"""Row-level helpers of the ticket service: numbering, lookups, the audit trail, views.

Each takes the caller's open :class:`~sqlalchemy.orm.Session`;
:class:`bot.tickets.service.TicketService` owns the transactions.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.tickets.models import Ticket, TicketCounter, TicketEvent, TicketStatus
from bot.tickets.values import (
    StepView,
    TicketClosed,
    TicketNotFound,
    TicketView,
    format_ticket_no,
)


def next_number(s: Session, day: date) -> str:
    """Allocate the day's next sequence inside the caller's transaction."""
    key = f"{day:%Y%m%d}"
    bump = (
        update(TicketCounter)
        .where(TicketCounter.day == key)
        .values(seq=TicketCounter.seq + 1)
        .execution_options(synchronize_session=False)
    )
    if s.execute(bump).rowcount == 0:
        try:
            with s.begin_nested():
                s.execute(insert(TicketCounter).values(day=key, seq=0))
        except IntegrityError:
            pass  # a concurrent transaction created the day's row first
        s.execute(bump)
    seq = s.execute(select(TicketCounter.seq).where(TicketCounter.day == key))
    return format_ticket_no(day, seq.scalar_one())


def by_number(s: Session, number: str, lock: bool = False) -> Ticket | None:
    stmt = select(Ticket).where(Ticket.ticket_no == number)
    if lock:
        stmt = stmt.with_for_update()
    return s.execute(stmt).scalar_one_or_none()


def open_for_merchant(s: Session, merchant_id: str) -> Ticket | None:
    return s.execute(
        select(Ticket)
        .where(Ticket.merchant_id == merchant_id)
        .where(Ticket.status == TicketStatus.OPEN.value)
    ).scalar_one_or_none()


def lock_open_ticket(s: Session, number: str) -> Ticket:
    ticket = by_number(s, number, lock=True)
    if ticket is None:
        raise not_found(number)
    if ticket.status != TicketStatus.OPEN.value:
        label = TicketStatus.label_of(ticket.status)
        raise TicketClosed(
            f"工单 {number} {label}，不能再修改 / ticket {number} is {ticket.status}"
        )
    return ticket


def not_found(ticket_no: str) -> TicketNotFound:
    return TicketNotFound(f"找不到工单 {ticket_no} / no ticket {ticket_no!r}")


def record(
    s: Session,
    ticket_id: int,
    now: datetime,
    actor: str,
    note: str,
    step: str | None,
    old: str | None,
    new: str,
) -> None:
    s.execute(
        insert(TicketEvent).values(
            ticket_id=ticket_id,
            step=step,
            old_status=old,
            new_status=new,
            note=note,
            actor=actor,
            created_at=now,
        )
    )


def view(t: Ticket) -> TicketView:
    return TicketView(
        ticket_no=t.ticket_no,
        merchant_id=t.merchant_id,
        reason_category=t.reason_category,
        reason_detail=t.reason_detail,
        serial_number=t.serial_number,
        contact_phone=t.contact_phone,
        channel=t.channel,
        sender_id=t.sender_id,
        status=t.status,
        created_at=t.created_at,
        updated_at=t.updated_at,
        steps=tuple(
            StepView(
                position=x.position,
                name=x.name,
                status=x.status,
                note=x.note,
                updated_at=x.updated_at,
            )
            for x in t.steps
        ),
    )
