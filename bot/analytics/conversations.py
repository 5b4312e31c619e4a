"""Conversation figures by SQL over the tracker store's counters (``bot.analytics.summary``).

Definitions (docs/console.md):

- a *conversation* is one merchant (sender id) on one Beijing day with at least one
  message; *turns* are the merchant's messages;
- a *fallback* is a message the NLU did not understand (intent ``nlu_fallback``);
- a conversation was *handed off* when ``action_human_handoff`` ran in it that day;
  *contained* conversations are the others;
- the unbind form's funnel counts conversations that started the form and gave a valid
  merchant number, reason, serial and phone; a *validation failure* is a refused value
  of the field being asked (the form's ``failed_attempts`` count for that field went up);
- a topic's *conversations* are those that asked about it at least once.

Every figure is a plain sum or count over the counter rows of the range: no DISTINCT.

The channel of a conversation is that of its first message that day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, literal_column, select
from sqlalchemy.engine import Engine
from sqlalchemy.sql import ColumnElement

from bot.analytics.sql import Filters, as_date
from bot.analytics.summary import FIELDS, days, topics
from bot.knowledge.topics import INTENT_PREFIX, load_topics

FIELD_TITLES = {
    "merchant_id": "商户号", "unbind_reason": "解绑原因",
    "serial_number": "机身序列号", "contact_phone": "联系手机号",
}


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
    """How often a guide topic was asked, and in how many conversations."""

    intent: str
    title: str
    messages: int
    conversations: int


@dataclass(frozen=True)
class FunnelStep:
    """One step of the unbind form: how many conversations reached it, and failures."""

    key: str
    title: str
    reached: int
    failures: int = 0


def _day_number(moment: date) -> int:
    return (moment - as_date(0)).days


def _scope(table: object, filters: Filters) -> list[ColumnElement]:
    """Rows of the range (and channel) of ``table`` (``days`` or ``topics``)."""
    c = table.c  # type: ignore[attr-defined]
    where = [c.day >= _day_number(filters.start), c.day <= _day_number(filters.end)]
    if filters.input_channels:
        where.append(c.channel.in_(filters.input_channels))
    return where


def daily(engine: Engine, filters: Filters) -> list[Day]:
    """Conversations, turns, fallbacks and handed-off conversations of every day."""
    talked = days.c.turns > 0
    query = select(
        days.c.day, func.count(), func.sum(days.c.turns), func.sum(days.c.fallbacks),
        func.sum(days.c.handoff),
    ).where(talked, *_scope(days, filters)).group_by(days.c.day)
    with engine.connect() as conn:
        found = {int(d): (c, t or 0, f or 0, h or 0) for d, c, t, f, h in conn.execute(query)}
    return [Day(moment, *found.get(_day_number(moment), (0, 0, 0, 0)))
            for moment in filters.days()]


def top_topics(engine: Engine, filters: Filters, limit: int = 10) -> list[TopicCount]:
    """The guide topics merchants asked about most (messages, then conversations)."""
    query = (
        select(topics.c.intent, func.sum(topics.c.messages).label("n"), func.count())
        .where(topics.c.intent.like(INTENT_PREFIX + "%"), *_scope(topics, filters))
        .group_by(topics.c.intent)
        .order_by(literal_column("n").desc(), topics.c.intent)
        .limit(limit)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [TopicCount(intent, topic_title(intent), int(n), count) for intent, n, count in rows]


def topic_title(intent: str) -> str:
    """The guide topic's Chinese title for a ``faq_*`` intent (else the intent)."""
    faq = intent.startswith(INTENT_PREFIX)
    topic = load_topics().get(intent[len(INTENT_PREFIX):]) if faq else None
    return topic.title if topic is not None else intent


def funnel(engine: Engine, filters: Filters, confirmed: int) -> list[FunnelStep]:
    """Started → each field given → ``confirmed`` (tickets opened, from the ticket
    database), with each field's validation failures."""
    query = select(
        func.sum(days.c.form_started), *(func.sum(days.c[f]) for f in FIELDS),
        *(func.sum(days.c[f"fail_{f}"]) for f in FIELDS),
    ).where(*_scope(days, filters))
    with engine.connect() as conn:
        row = [int(v or 0) for v in conn.execute(query).one()]
    steps = [FunnelStep("started", "开始申请", row[0])]
    steps += [FunnelStep(f, FIELD_TITLES[f], row[1 + i], row[1 + len(FIELDS) + i])
              for i, f in enumerate(FIELDS)]
    steps.append(FunnelStep("confirmed", "确认提交", confirmed))
    return steps
