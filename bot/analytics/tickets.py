"""Ticket figures by SQL over the ticket database.

Steps must be completed in order (``TicketService.advance_step``), so the time a ticket
spent in a step is from the previous step's completion (the ticket's creation for the
first step) to this step's completion, both read from the history (``ticket_events``).
Durations count for the range when the step was completed in it; median and p90 are
nearest-rank percentiles computed in SQL. "Waiting longest" lists open tickets by how
long their current step has been waiting (since the previous completion).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import Float, and_, case, cast, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.sql import ColumnElement

from bot.analytics.sql import Filters, percentile_rank
from bot.tickets.models import STEPS, StepStatus, Ticket, TicketEvent, TicketStatus, TicketStep

DONE = StepStatus.DONE.value


@dataclass(frozen=True)
class StepDuration:
    """Time spent in one of the eight steps by tickets that completed it in the range."""

    step: str
    completed: int
    median_seconds: float | None
    p90_seconds: float | None


@dataclass(frozen=True)
class Waiting:
    """An open ticket and how long its current step has waited."""

    ticket_no: str
    step: str
    status: str
    since: datetime
    waited_seconds: float


def _seconds(later: ColumnElement, earlier: ColumnElement, dialect: str) -> ColumnElement:
    if dialect == "sqlite":
        return (func.julianday(later) - func.julianday(earlier)) * 86400.0
    return func.extract("epoch", later - earlier)


def _completions(filters: Filters | None) -> ColumnElement:
    """Each ticket's step completions: ticket id, step, position, completion time."""
    position = case({name: n for n, name in enumerate(STEPS, 1)}, value=TicketEvent.step)
    query = select(
        TicketEvent.ticket_id.label("ticket_id"), TicketEvent.step.label("step"),
        position.label("position"), func.min(TicketEvent.created_at).label("done_at"),
    ).where(TicketEvent.step.in_(STEPS), TicketEvent.new_status == DONE)
    return query.group_by(TicketEvent.ticket_id, TicketEvent.step)


def step_durations(engine: Engine, filters: Filters) -> list[StepDuration]:
    """Median and p90 time in each of the eight steps (seconds)."""
    dialect = engine.dialect.name
    done = _completions(filters).subquery()
    started = func.coalesce(
        func.lag(done.c.done_at).over(partition_by=done.c.ticket_id, order_by=done.c.position),
        Ticket.created_at,
    )
    spans = select(
        done.c.step, done.c.done_at, Ticket.channel,
        cast(_seconds(done.c.done_at, started, dialect), Float).label("seconds"),
    ).join(Ticket, Ticket.id == done.c.ticket_id).subquery()
    scope = [spans.c.done_at >= filters.since, spans.c.done_at < filters.until]
    if filters.input_channels:
        scope.append(spans.c.channel.in_(filters.input_channels))
    ranked = select(
        spans.c.step, spans.c.seconds,
        func.row_number().over(partition_by=spans.c.step, order_by=spans.c.seconds).label("rn"),
        func.count().over(partition_by=spans.c.step).label("n"),
    ).where(*scope).subquery()
    query = select(
        ranked.c.step, func.max(ranked.c.n),
        func.max(case((ranked.c.rn == percentile_rank(ranked.c.n, 0.5, dialect),
                       ranked.c.seconds))),
        func.max(case((ranked.c.rn == percentile_rank(ranked.c.n, 0.9, dialect),
                       ranked.c.seconds))),
    ).group_by(ranked.c.step)
    with engine.connect() as conn:
        found = {step: (n, _round(med), _round(p90)) for step, n, med, p90 in conn.execute(query)}
    return [StepDuration(step, *found.get(step, (0, None, None))) for step in STEPS]


def _round(seconds: float | None) -> float | None:
    """Whole seconds (SQLite's julianday arithmetic is off by microseconds)."""
    return None if seconds is None else float(round(seconds))


def waiting_longest(
    engine: Engine, filters: Filters, limit: int = 20, now: datetime | None = None,
) -> list[Waiting]:
    """Open tickets whose current step has waited longest (channel filter applies)."""
    now = now or datetime.now(timezone.utc)
    current = select(
        TicketStep.ticket_id.label("ticket_id"), func.min(TicketStep.position).label("position"),
    ).where(TicketStep.status != DONE).group_by(TicketStep.ticket_id).subquery()
    done = _completions(None).subquery()
    last_done = select(
        done.c.ticket_id, func.max(done.c.done_at).label("done_at"),
    ).group_by(done.c.ticket_id).subquery()
    since = func.coalesce(last_done.c.done_at, Ticket.created_at)
    query = (
        select(Ticket.ticket_no, TicketStep.name, TicketStep.status, since.label("since"))
        .join(current, current.c.ticket_id == Ticket.id)
        .join(TicketStep, and_(TicketStep.ticket_id == Ticket.id,
                               TicketStep.position == current.c.position))
        .outerjoin(last_done, last_done.c.ticket_id == Ticket.id)
        .where(Ticket.status == TicketStatus.OPEN.value)
        .order_by(since, Ticket.ticket_no)
        .limit(limit)
    )
    if filters.input_channels:
        query = query.where(Ticket.channel.in_(filters.input_channels))
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    out = []
    for ticket_no, step, status, moment in rows:
        moment = _aware(moment)
        out.append(Waiting(ticket_no, step, status, moment, (now - moment).total_seconds()))
    return out


def _aware(value: datetime | str) -> datetime:
    if isinstance(value, str):  # SQLite returns coalesce() of two columns as text
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value


def tickets_opened(engine: Engine, filters: Filters) -> int:
    """Merchants (sender ids) whose request became a ticket in the range."""
    query = select(func.count(func.distinct(Ticket.sender_id))).where(
        Ticket.created_at >= filters.since, Ticket.created_at < filters.until)
    if filters.input_channels:
        query = query.where(Ticket.channel.in_(filters.input_channels))
    with engine.connect() as conn:
        return int(conn.execute(query).scalar() or 0)
