"""Per-conversation-day counters kept in the tracker store as events are saved.

The 统计 page must answer in well under 2 s at 100,000 conversations; grouping a million
``events`` rows per request cannot (docs/benchmarks.md). So the tracker store
(``bot.stores.RedactingSQLTrackerStore``) adds, in the transaction that stores a turn's
events, what those events change to two small tables of the same database:

- ``conversation_days``: one row per merchant (sender id) and Beijing day: channel (of the
  first message), messages, messages not understood, hand-off, and the unbind form's
  steps reached and validation failures;
- ``conversation_topics``: messages per merchant, day and intent.

Updates are additive upserts (``INSERT … ON CONFLICT DO UPDATE``, SQLite and PostgreSQL),
so they are exact whatever the order of conversations. :func:`rebuild` recomputes both
tables from ``events`` (``python -m bot.analytics rebuild``: after an upgrade, or to
check), one sender's rows at a time, streamed.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    delete,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Dialect, Engine

from bot.analytics.sql import DAY_SECONDS, SHANGHAI_OFFSET

FALLBACK_INTENT = "nlu_fallback"
HANDOFF_ACTION = "action_human_handoff"
FORM = "unbind_form"
FIELDS = ("merchant_id", "unbind_reason", "serial_number", "contact_phone")
ATTEMPTS = "failed_attempts"
COUNTERS = ("turns", "fallbacks", *(f"fail_{f}" for f in FIELDS))
FLAGS = ("handoff", "form_started", *FIELDS)
CREATE_LOCK = 0x6A62_0001  # pg_advisory_xact_lock key serialising :func:`create`

metadata = MetaData()
days = Table(
    "conversation_days", metadata,
    Column("sender_id", String(255), primary_key=True),
    Column("day", Integer, primary_key=True),
    Column("channel", String(32)),
    *(Column(name, Integer, nullable=False, default=0) for name in (*COUNTERS, *FLAGS)),
    Index("ix_conversation_days_day", "day"),
)
topics = Table(
    "conversation_topics", metadata,
    Column("sender_id", String(255), primary_key=True),
    Column("day", Integer, primary_key=True),
    Column("intent", String(255), primary_key=True),
    Column("channel", String(32)),
    Column("messages", Integer, nullable=False, default=0),
    Index("ix_conversation_topics_day", "day"),
)


@dataclass
class DayDelta:
    """What one batch of events adds to one merchant's day."""

    channel: str | None = None
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys((*COUNTERS, *FLAGS), 0))
    topics: dict[str, int] = field(default_factory=dict)


def day_of(timestamp: float) -> int:
    """The Beijing day of a Unix time, as days since 1970-01-01."""
    return int((timestamp + SHANGHAI_OFFSET) // DAY_SECONDS)


def _data(row: Mapping[str, Any]) -> dict[str, Any]:
    data = row.get("data")
    return json.loads(data) if isinstance(data, str) else dict(data or {})


def summarise(
    rows: Iterable[Mapping[str, Any]], attempts: dict[str, int] | None = None,
) -> tuple[dict[int, DayDelta], dict[str, int] | None]:
    """The deltas per day of one sender's new ``events`` rows (oldest first), given the
    form's ``failed_attempts`` before them; returns the deltas and the new attempts."""
    out: dict[int, DayDelta] = {}
    for row in rows:
        kind, name = row.get("type_name"), row.get("action_name")
        if kind not in ("user", "action", "slot", "active_loop") or row.get("timestamp") is None:
            continue
        wanted = kind == "user" or (kind == "slot" and name in (*FIELDS, ATTEMPTS))
        data = _data(row) if wanted else {}
        if kind == "user" and (data.get("metadata") or {}).get("hidden"):
            continue  # the greeting the chat page sends for itself, not the merchant
        delta = out.setdefault(day_of(float(row["timestamp"])), DayDelta())
        counts = delta.counts
        if kind == "user":
            intent = row.get("intent_name")
            counts["turns"] += 1
            counts["fallbacks"] += intent == FALLBACK_INTENT
            if delta.channel is None:
                delta.channel = data.get("input_channel") or "unknown"
            if intent:
                delta.topics[intent] = delta.topics.get(intent, 0) + 1
        elif kind == "action" and name == HANDOFF_ACTION:
            counts["handoff"] = 1
        elif kind == "active_loop" and name == FORM:
            counts["form_started"] = 1
        elif kind == "slot" and name in FIELDS and data.get("value") is not None:
            counts[name] = 1
        elif kind == "slot" and name == ATTEMPTS:
            now = data.get("value")
            now = now if isinstance(now, dict) else None
            for f in FIELDS:
                after, before = (now or {}).get(f), (attempts or {}).get(f) or 0
                if isinstance(after, int) and (after > before or (after == 0 and before > 0)):
                    counts[f"fail_{f}"] += 1
            attempts = now
    return out, attempts


def _upsert(conn: Connection, table: Table, rows: list[dict[str, Any]], keys: tuple[str, ...],
            add: tuple[str, ...], either: tuple[str, ...] = ()) -> None:
    """Insert ``rows``, or add them to the rows already there (one executemany)."""
    if not rows:
        return
    sql, order = _upsert_sql(conn.dialect, table, keys, add, either)
    if order is None:  # named parameters (psycopg2): the rows as they are
        conn.exec_driver_sql(sql, rows)
    else:
        conn.exec_driver_sql(sql, [tuple(row[name] for name in order) for row in rows])


def upsert_statement(dialect_name: str, table: Table, keys: tuple[str, ...],
                     add: tuple[str, ...], either: tuple[str, ...] = ()) -> Any:
    """``INSERT … ON CONFLICT (keys) DO UPDATE``: ``add`` columns summed, ``either``
    columns or-ed (0/1 flags), the first channel kept."""
    insert = (postgresql.insert if dialect_name == "postgresql" else sqlite.insert)(table)
    new = insert.excluded
    changes: dict[str, Any] = {name: table.c[name] + new[name] for name in add}
    changes.update({name: table.c[name] + new[name] - table.c[name] * new[name]
                    for name in either})  # logical OR of 0/1 flags
    changes["channel"] = func.coalesce(table.c.channel, new.channel)
    return insert.on_conflict_do_update(index_elements=list(keys), set_=changes)


_compiled: dict[tuple[Any, ...], tuple[str, tuple[str, ...] | None]] = {}


def _upsert_sql(dialect: Dialect, table: Table, keys: tuple[str, ...], add: tuple[str, ...],
                either: tuple[str, ...]) -> tuple[str, tuple[str, ...] | None]:
    """:func:`upsert_statement` compiled once per dialect, with every column a parameter:
    its SQL and, for positional parameters, the column of each.

    SQLAlchemy has no cache key for ``ON CONFLICT`` statements and compiled both on every
    turn (about a sixth of the Rasa server's CPU, docs/benchmarks.md). The columns here
    take no bind processing (strings and integers), so the driver gets what SQLAlchemy
    would have given it.
    """
    cache_key = (dialect.name, dialect.paramstyle, dialect.server_version_info,
                 table.name, keys, add, either)
    if cache_key not in _compiled:
        columns = [column.name for column in table.columns]
        compiled = upsert_statement(dialect.name, table, keys, add, either).compile(
            dialect=dialect, column_keys=columns)
        order = tuple(compiled.positiontup) if compiled.positional else None
        if set(order or compiled.binds) != set(columns):
            raise RuntimeError(f"unexpected parameters in the {table.name} upsert")
        _compiled[cache_key] = (compiled.string, order)
    return _compiled[cache_key]


def apply(conn: Connection, changes: Iterable[tuple[str, Mapping[int, DayDelta]]]) -> None:
    """Add each sender's deltas to both tables (in the caller's transaction)."""
    day_rows: list[dict[str, Any]] = []
    topic_rows: list[dict[str, Any]] = []
    for sender_id, deltas in changes:
        for day, delta in deltas.items():
            day_rows.append({"sender_id": sender_id, "day": day, "channel": delta.channel,
                             **delta.counts})
            topic_rows += [{"sender_id": sender_id, "day": day, "intent": intent,
                            "channel": delta.channel, "messages": n}
                           for intent, n in delta.topics.items()]
    _upsert(conn, days, day_rows, ("sender_id", "day"), COUNTERS, FLAGS)
    _upsert(conn, topics, topic_rows, ("sender_id", "day", "intent"), ("messages",))


def forget(conn: Connection, senders: Iterable[str]) -> None:
    """Unlink the counters of deleted conversations from their sender ids (retention,
    ``bot.privacy``): each sender becomes a random name, so the figures stay."""
    if not conn.dialect.has_table(conn, days.name):
        return
    for sender in senders:
        anonymous = f"purged-{uuid.uuid4().hex}"
        for table in (days, topics):
            conn.execute(update(table).where(table.c.sender_id == sender)
                         .values(sender_id=anonymous))


def create(engine: Engine) -> None:
    """Create the two tables if they are missing.

    Replicas that start together on an empty PostgreSQL database would otherwise race:
    both see no table, and the second ``CREATE TABLE`` fails on the catalogue's unique
    type name and stops its replica. A transaction-level advisory lock makes them take
    turns; the second finds the tables and creates nothing.
    """
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CREATE_LOCK})
        metadata.create_all(conn)


def rebuild(engine: Engine, batch: int = 20_000) -> int:
    """Recompute both tables from ``events``, streamed by sender; returns the senders."""
    from bot.web.console.conversations import events

    create(engine)
    columns = (events.c.sender_id, events.c.type_name, events.c.timestamp,
               events.c.intent_name, events.c.action_name, events.c.data)
    query = select(*columns).where(
        events.c.type_name.in_(("user", "action", "slot", "active_loop"))
    ).order_by(events.c.sender_id, events.c.id)
    senders = 0
    with engine.connect() as read, engine.begin() as write:
        write.execute(delete(days))
        write.execute(delete(topics))
        current: str | None = None
        rows: list[dict[str, Any]] = []
        pending: list[tuple[str, Mapping[int, DayDelta]]] = []
        stream = read.execution_options(stream_results=True, yield_per=batch).execute(query)
        for row in stream:
            if row.sender_id != current:
                if current is not None:
                    pending.append((current, summarise(rows)[0]))
                current, rows, senders = row.sender_id, [], senders + 1
                if len(pending) >= batch // 10:
                    apply(write, pending)
                    pending = []
            rows.append(row._asdict())
        if current is not None:
            pending.append((current, summarise(rows)[0]))
        apply(write, pending)
    return senders
