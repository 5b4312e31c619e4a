"""Ticket handlers of the console API: look tickets up, change a step (``/api/tickets``).

Each ticket comes with its step history and its step-change notices from the outbox.
"""

from __future__ import annotations

import functools
from typing import Any

from sanic.request import Request
from sanic.response import HTTPResponse
from sqlalchemy.orm import Session

from bot.fields import normalize_merchant_id, normalize_phone, normalize_ticket_no
from bot.outbox.store import STATE_LABELS, OutboxRow, OutboxStore, OutboxUnavailable
from bot.tickets import (
    STEPS,
    EventView,
    InvalidTicketInput,
    StepOrderError,
    TicketClosed,
    TicketNotFound,
    TicketService,
    TicketStatus,
    TicketStoreUnavailable,
    TicketView,
)
from bot.web.console.api import (
    ConsoleContext,
    _iso,
    as_json,
    audited,
    blocking,
    error,
    json_object,
)

LOOKUP_KEYS = ("merchant", "ticket", "phone")
LOOKUP_LABELS = {"merchant": "商户号", "ticket": "工单号", "phone": "手机号"}


def notice_json(row: OutboxRow) -> dict[str, Any]:
    return {"id": row.id, "step": row.step, "text": row.text, "state": row.state,
            "state_label": STATE_LABELS.get(row.state, row.state), "error": row.last_error,
            "attempts": row.attempts, "created_at": _iso(row.created_at),
            "sent_at": _iso(row.sent_at) if row.sent_at else None}


def ticket_json(
    t: TicketView, history: tuple[EventView, ...] = (), notices: list[OutboxRow] = ()
) -> dict[str, Any]:
    current = t.current_step
    return {
        "ticket_no": t.ticket_no,
        "status": t.status,
        "status_label": TicketStatus.label_of(t.status),
        "merchant_id": t.merchant_id,
        "contact_phone": t.contact_phone,
        "serial_number": t.serial_number,
        "reason_category": t.reason_category,
        "reason_detail": t.reason_detail,
        "channel": t.channel,
        "sender_id": t.sender_id,
        "created_at": _iso(t.created_at),
        "updated_at": _iso(t.updated_at),
        "current_step": current.name if current and t.is_open else None,
        "steps": [
            {"position": s.position, "name": s.name, "status": s.status, "note": s.note,
             "updated_at": _iso(s.updated_at)}
            for s in t.steps
        ],
        "history": [
            {"step": e.step, "old_status": e.old_status, "new_status": e.new_status,
             "note": e.note, "actor": e.actor, "created_at": _iso(e.created_at)}
            for e in history
        ],
        "notices": [notice_json(n) for n in notices],
    }


def _lookup_params(request: Request) -> tuple[dict[str, str], str | None]:
    args = request.get_args(keep_blank_values=True)
    given = {k: args.get(k, "") for k in LOOKUP_KEYS if k in args}
    if len(given) != 1:
        return given, "请只填写一项：商户号、工单号或手机号"
    (key, value), = given.items()
    if not value.strip():
        return given, f"{LOOKUP_LABELS[key]}不能为空"
    return given, None


async def find_tickets(request: Request) -> HTTPResponse:
    """``GET /api/tickets?merchant=|ticket=|phone=``."""
    ctx: ConsoleContext = request.ctx.console
    params, problem = _lookup_params(request)
    if problem:
        return await audited(request, "tickets.lookup", params, error(400, problem), 0)
    (key, raw), = params.items()
    normalise = {"merchant": normalize_merchant_id, "ticket": normalize_ticket_no,
                 "phone": normalize_phone}[key]
    field = normalise(raw)
    if not field.ok or field.value is None:
        return await audited(request, "tickets.lookup", params, error(400, field.error or ""), 0)
    params = {key: field.value}
    try:
        found = await blocking(_tickets_with_history, ctx.tickets, key, field.value, ctx.outbox)
    except TicketStoreUnavailable:
        reply = error(503, "工单系统暂时不可用，请稍后再试")
        return await audited(request, "tickets.lookup", params, reply, 0)
    reply = as_json({"tickets": found})
    return await audited(request, "tickets.lookup", params, reply, len(found))


def _notices(outbox: OutboxStore | None, ticket_no: str) -> list[OutboxRow]:
    """The ticket's step-change notices, newest first (none if the outbox is down)."""
    if outbox is None:
        return []
    try:
        return [row for row in outbox.of_ticket(ticket_no) if row.kind == "notice"]
    except OutboxUnavailable:
        return []


def _tickets_with_history(
    service: TicketService, key: str, value: str, outbox: OutboxStore | None = None
) -> list[dict[str, Any]]:
    if key == "merchant":
        rows = service.tickets_for_merchant(value)
    elif key == "phone":
        rows = service.tickets_for_phone(value)
    else:
        one = service.get_ticket(value)
        rows = (one,) if one else ()
    return [ticket_json(t, service.history(t.ticket_no), _notices(outbox, t.ticket_no))
            for t in rows]


def _step_body(request: Request) -> tuple[str, str] | str:
    """``(status, note)`` from the JSON body, or a Chinese error message."""
    body = json_object(request, '{"status": "进行中", "note": "…"}')
    if isinstance(body, str):
        return body
    status, note = body.get("status"), body.get("note", "")
    if not isinstance(status, str) or not isinstance(note, str):
        return "status 和 note 必须是文字"
    if len(note) > 2000:
        return "备注最多2000字"
    return status, note


async def advance_step(request: Request, ticket_no: str, step: str) -> HTTPResponse:
    """``POST /api/tickets/<no>/steps/<step>`` with ``{"status", "note"}``."""
    ctx: ConsoleContext = request.ctx.console
    params = {"ticket": ticket_no[:64], "step": step[:32]}
    number = normalize_ticket_no(ticket_no)
    body = _step_body(request)
    problem = number.error or (body if isinstance(body, str) else None)
    if step not in STEPS:
        problem = f"未知步骤“{step[:32]}”，可选：{'、'.join(STEPS)}"
    if problem or isinstance(body, str) or number.value is None:
        return await audited(request, "tickets.advance", params, error(400, problem or ""), 0)
    status, note = body
    params.update(ticket=number.value, status=status[:32], note=note)
    actor = f"console:{request.ctx.agent}"[:64]
    agent, verified = request.ctx.agent, request.ctx.verified

    def audit_the_change(session: Session) -> None:
        # In the step change's own transaction: no change without its audit row.
        ctx.audit.record_in(session, agent, "tickets.advance", params, 200, 1, verified)

    try:
        ticket = await blocking(
            functools.partial(ctx.tickets.advance_step, also=audit_the_change),
            number.value, step, status, note, actor,
        )
    except InvalidTicketInput as exc:
        reply = error(400, _chinese(exc))
    except TicketNotFound:
        reply = error(404, f"找不到工单 {number.value}")
    except (TicketClosed, StepOrderError) as exc:
        reply = error(409, _chinese(exc))
    except TicketStoreUnavailable:
        reply = error(503, "工单系统暂时不可用，请稍后再试")
    else:  # changed and audited; the history is only for display
        try:
            history = await blocking(ctx.tickets.history, number.value)
        except TicketStoreUnavailable:
            history = ()
        notices = await blocking(_notices, ctx.outbox, number.value)
        return as_json({"ticket": ticket_json(ticket, history, notices)})
    return await audited(request, "tickets.advance", params, reply, 0)


def _chinese(exc: Exception) -> str:
    """The Chinese half of a ticket service message ("中文 / english")."""
    return str(exc).split(" / ")[0]
