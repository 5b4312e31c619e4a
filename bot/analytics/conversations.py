"""Conversation figures by SQL over the tracker store's ``events`` table.

Definitions (see docs/console.md):

- a *conversation* is one merchant (sender id) on one Beijing day with at least one
  message; *turns* are the merchant's messages;
- a *fallback* is a message the NLU did not understand (intent ``nlu_fallback``);
- a conversation was *handed off* when ``action_human_handoff`` ran in it that day;
  *contained* conversations are the others;
- the unbind form's funnel counts merchants (sender ids) who, within the range, started
  the form and gave a valid merchant number, reason, serial and phone; a *validation
  failure* is a refused value of the field being asked (the form's ``failed_attempts``
  count for that field went up).

The channel of a conversation is the input channel of its messages; filtering by channel
keeps the merchants who wrote through it. Only user, action, slot and active-loop rows
in the range are read (index ``ix_events_type_name_timestamp``, :func:`ensure_indexes`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import and_, case, distinct, func, literal_column, or_, select, text, tuple_
from sqlalchemy.engine import Engine
from sqlalchemy.sql import ColumnElement, Select

from bot.analytics.sql import Filters, as_date, day_number, json_number, json_text
from bot.knowledge.topics import INTENT_PREFIX, load_topics
from bot.web.console.conversations import events

FALLBACK_INTENT = "nlu_fallback"
HANDOFF_ACTION = "action_human_handoff"
FORM = "unbind_form"
FIELDS = ("merchant_id", "unbind_reason", "serial_number", "contact_phone")
FIELD_TITLES = {
    "merchant_id": "商户号", "unbind_reason": "解绑原因",
    "serial_number": "机身序列号", "contact_phone": "联系手机号",
}
INDEX = "ix_events_type_name_timestamp"


@dataclass(frozen=True)
class Day:
    """One day's conversation figures."""

    day: date
    conversations: int
    turns: int
    fallbacks: int
    handoffs: int

    @property
    def contained(self) -> int:
        return self.conversations - self.handoffs

    def rate(self, part: int, whole: int) -> float | None:
        return round(part / whole, 4) if whole else None


@dataclass(frozen=True)
class TopicCount:
    """How often a guide topic was asked."""

    intent: str
    title: str
    messages: int
    merchants: int


@dataclass(frozen=True)
class FunnelStep:
    """One step of the unbind form: how many merchants reached it, and failures."""

    key: str
    title: str
    reached: int
    failures: int = 0


def ensure_indexes(engine: Engine) -> None:
    """The index the analytics queries need on Rasa's ``events`` table (idempotent)."""
    with engine.begin() as conn:
        conn.execute(text(f"CREATE INDEX IF NOT EXISTS {INDEX} ON events (type_name, timestamp)"))


def _rows(kind: str, filters: Filters) -> ColumnElement:
    lo, hi = filters.since.timestamp(), filters.until.timestamp()
    return and_(events.c.type_name == kind, events.c.timestamp >= lo, events.c.timestamp < hi)


def _messages(filters: Filters, dialect: str) -> Select:
    """The merchant's messages in the range (and channel): sender, day, intent."""
    query = select(
        events.c.sender_id.label("sender_id"),
        day_number(events.c.timestamp, dialect).label("day"),
        events.c.intent_name.label("intent"),
    ).where(_rows("user", filters))
    if filters.input_channels:
        channel = json_text(events.c.data, "input_channel", dialect)
        query = query.where(channel.in_(filters.input_channels))
    return query


def daily(engine: Engine, filters: Filters) -> list[Day]:
    """Conversations, turns, fallbacks and handed-off conversations of every day."""
    dialect = engine.dialect.name
    messages = _messages(filters, dialect).subquery()
    per_day = select(
        messages.c.day, func.count(distinct(messages.c.sender_id)), func.count(),
        func.sum(case((messages.c.intent == FALLBACK_INTENT, 1), else_=0)),
    ).group_by(messages.c.day)
    day = day_number(events.c.timestamp, dialect)
    handoffs = select(day.label("day"), func.count(distinct(events.c.sender_id))).where(
        _rows("action", filters), events.c.action_name == HANDOFF_ACTION,
        tuple_(events.c.sender_id, day).in_(select(messages.c.sender_id, messages.c.day)),
    ).group_by(day)
    with engine.connect() as conn:
        found = {int(d): (c, t, f or 0) for d, c, t, f in conn.execute(per_day)}
        handed = {int(d): n for d, n in conn.execute(handoffs)}
    out = []
    for moment in filters.days():
        number = (moment - as_date(0)).days
        conversations, turns, fallbacks = found.get(number, (0, 0, 0))
        out.append(Day(moment, conversations, turns, fallbacks, handed.get(number, 0)))
    return out


def top_topics(engine: Engine, filters: Filters, limit: int = 10) -> list[TopicCount]:
    """The guide topics merchants asked about most (messages, then merchants)."""
    messages = _messages(filters, engine.dialect.name).subquery()
    query = (
        select(messages.c.intent, func.count().label("n"),
               func.count(distinct(messages.c.sender_id)))
        .where(messages.c.intent.like(INTENT_PREFIX + "%"))
        .group_by(messages.c.intent)
        .order_by(literal_column("n").desc(), messages.c.intent)
        .limit(limit)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [TopicCount(intent, topic_title(intent), n, merchants) for intent, n, merchants in rows]


def topic_title(intent: str) -> str:
    """The guide topic's Chinese title for a ``faq_*`` intent (else the intent)."""
    faq = intent.startswith(INTENT_PREFIX)
    topic = load_topics().get(intent[len(INTENT_PREFIX):]) if faq else None
    return topic.title if topic is not None else intent


def _in_channel(filters: Filters, dialect: str) -> ColumnElement | None:
    if not filters.input_channels:
        return None
    return events.c.sender_id.in_(select(_messages(filters, dialect).subquery().c.sender_id))


def funnel(engine: Engine, filters: Filters, confirmed: int) -> list[FunnelStep]:
    """Started → each field given → ``confirmed`` (tickets opened, from the ticket
    database), with each field's validation failures."""
    dialect = engine.dialect.name
    scope = [c for c in (_in_channel(filters, dialect),) if c is not None]
    started = select(func.count(distinct(events.c.sender_id))).where(
        _rows("active_loop", filters), events.c.action_name == FORM, *scope)
    value = json_text(events.c.data, "value", dialect)
    given = select(events.c.action_name, func.count(distinct(events.c.sender_id))).where(
        _rows("slot", filters), events.c.action_name.in_(FIELDS), value.is_not(None), *scope,
    ).group_by(events.c.action_name)
    with engine.connect() as conn:
        steps = [FunnelStep("started", "开始申请", conn.execute(started).scalar() or 0)]
        reached = dict(conn.execute(given).all())
        failures = validation_failures(conn, filters, dialect, scope)
    steps += [FunnelStep(f, FIELD_TITLES[f], reached.get(f, 0), failures.get(f, 0))
              for f in FIELDS]
    steps.append(FunnelStep("confirmed", "确认提交", confirmed))
    return steps


def validation_failures(
    conn: object, filters: Filters, dialect: str, scope: list[ColumnElement],
) -> dict[str, int]:
    """Refused values per field: a ``failed_attempts`` slot event whose count for the
    field went up from the merchant's previous one (or restarted at 0 after the last
    allowed attempt)."""
    previous = func.lag(events.c.data).over(
        partition_by=events.c.sender_id, order_by=events.c.id)
    attempts = select(events.c.data.label("now"), previous.label("before")).where(
        _rows("slot", filters), events.c.action_name == "failed_attempts", *scope,
    ).subquery()
    counts = []
    for field in FIELDS:
        now = json_number(attempts.c.now, ("value", field), dialect)
        before = func.coalesce(json_number(attempts.c.before, ("value", field), dialect), 0)
        went_up = or_(now > before, and_(now == 0, before > 0))
        counts.append(func.sum(case((and_(now.is_not(None), went_up), 1), else_=0)))
    row = conn.execute(select(*counts)).one()  # type: ignore[attr-defined]
    return {field: int(n or 0) for field, n in zip(FIELDS, row, strict=True)}
