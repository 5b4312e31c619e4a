"""What the ticket actions share: how a ticket reads in the chat, and which ticket or
merchant number the latest message names."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rasa_sdk import Tracker

from bot.fields import FieldResult, normalize_merchant_id, normalize_ticket_no
from bot.tickets import TicketStatus, TicketView
from bot.tickets.values import SHANGHAI

SHOWN_IN_FULL = 3
SORRY_DB = "抱歉，工单系统暂时无法访问。"


def _time(value: Any) -> str:
    return value.astimezone(SHANGHAI).strftime("%m-%d %H:%M")


def render_ticket(ticket: TicketView, full: bool = True) -> str:
    """One ticket: header, and with ``full`` every step with its status and time."""
    header = f"工单 {ticket.ticket_no}（{TicketStatus.label_of(ticket.status)}）"
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


def _first_valid(tracker: Tracker, entity: str,
                 normalize: Callable[[str], FieldResult]) -> str | None:
    """The first ``entity`` value of the latest message that ``normalize`` accepts."""
    for value in tracker.get_latest_entity_values(entity):
        result = normalize(value)
        if result.ok:
            return result.value
    return None


def requested_ticket_no(tracker: Tracker) -> str | None:
    """The valid ticket number the latest message names, if any."""
    return _first_valid(tracker, "ticket_no", normalize_ticket_no)


def requested_merchant(tracker: Tracker) -> str | None:
    """The valid merchant number the latest message names, if any."""
    return _first_valid(tracker, "merchant_id", normalize_merchant_id)
