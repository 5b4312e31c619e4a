"""Read-only transcripts from the Rasa tracker store's SQL ``events`` table.

The table is written by ``bot.stores.RedactingSQLTrackerStore`` (Rasa's SQLTrackerStore
schema), so secrets were already replaced before they were stored; this module only
reads. SQLite is opened in ``mode=ro``; other databases run read-only transactions.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Column, Float, Integer, MetaData, String, Table, Text, event, select
from sqlalchemy.engine import Connection, Engine, create_engine, make_url
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from bot.paths import ROOT

DEFAULT_URL = "sqlite:///var/tracker.db"
MAX_EVENTS = 2000
"""The console shows at most this many of a conversation's newest messages."""

CHANNELS = {"rest": "web", "socketio": "web", "wechat": "wechat", "wecom": "wecom"}
CHANNEL_LABELS = {"web": "网页", "wechat": "微信公众号", "wecom": "企业微信"}

# Rasa's SQLTrackerStore.SQLEvent, declared on a private metadata (not a ticket table).
events = Table(
    "events",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("sender_id", String(255)),
    Column("type_name", String(255)),
    Column("timestamp", Float),
    Column("intent_name", String(255)),
    Column("action_name", String(255)),
    Column("data", Text),
)


class TranscriptUnavailable(Exception):
    """The tracker store cannot be read."""


@dataclass(frozen=True)
class Turn:
    """One message of a conversation.

    ``speaker`` is ``user``, ``bot``, ``agent`` (a call-centre agent, named in ``agent``;
    stored as a ``bot`` event whose metadata has ``kind: agent``) or ``system`` (a
    step-change notice or a handoff message; ``kind`` says which). A user message that
    went to an agent instead of the bot has ``to_agent`` set.
    """

    speaker: str
    text: str
    time: datetime
    intent: str | None = None
    confidence: float | None = None
    buttons: tuple[dict[str, str], ...] = ()
    channel: str | None = None
    agent: str | None = None
    kind: str | None = None
    to_agent: bool = False
    event_id: int = 0
    outbox_id: int | None = None


def channel_of(input_channel: str | None) -> str:
    """``web``, ``wechat``, ``wecom`` or the raw channel name (``unknown`` if none)."""
    if not input_channel:
        return "unknown"
    return CHANNELS.get(input_channel, input_channel)


def read_only_engine(url: str | None = None) -> Engine:
    """An engine on the tracker store that cannot write."""
    parsed = make_url(url or os.environ.get("TRACKER_STORE_URL") or DEFAULT_URL)
    if parsed.get_backend_name() == "sqlite":
        path = parsed.database or ""
        if path and not os.path.isabs(path):
            path = str(ROOT / path)
        ro = f"sqlite:///file:{path}?mode=ro&uri=true"
        return create_engine(ro, future=True)
    engine = create_engine(parsed, future=True, pool_pre_ping=True)

    @event.listens_for(engine, "begin")
    def _read_only(conn: Connection) -> None:
        conn.exec_driver_sql("SET TRANSACTION READ ONLY")

    return engine


SYSTEM_KINDS = ("notice", "handoff")


def _turn(
    type_name: str, timestamp: float, intent: str | None, data: dict[str, Any], event_id: int = 0
) -> Turn:
    moment = datetime.fromtimestamp(timestamp, tz=timezone.utc)
    text = data.get("text") or ""
    meta = data.get("metadata") or {}
    if type_name == "user":
        parsed = data.get("parse_data") or {}
        top = parsed.get("intent") or {}
        return Turn(
            "user", text, moment, intent or top.get("name"), top.get("confidence"),
            channel=channel_of(data.get("input_channel")),
            to_agent=isinstance(meta.get("handoff"), dict), event_id=event_id,
        )
    kind = meta.get("kind") if isinstance(meta.get("kind"), str) else None
    if kind == "agent" or kind in SYSTEM_KINDS:
        speaker = "agent" if kind == "agent" else "system"
        agent = meta.get("agent") if isinstance(meta.get("agent"), str) else None
        outbox_id = meta.get("outbox_id") if isinstance(meta.get("outbox_id"), int) else None
        return Turn(speaker, text, moment, agent=agent, kind=kind, event_id=event_id,
                    outbox_id=outbox_id)
    extra = data.get("data") or {}
    buttons = tuple(
        {"title": str(b.get("title", "")), "payload": str(b.get("payload", ""))}
        for b in extra.get("buttons") or ()
        if isinstance(b, dict)
    )
    if not text and extra.get("custom"):
        text = json.dumps(extra["custom"], ensure_ascii=False)
    return Turn("bot", text, moment, buttons=buttons, event_id=event_id)


@dataclass(frozen=True)
class Transcript:
    """The last messages of a conversation; ``truncated`` if older ones were left out."""

    turns: list[Turn]
    truncated: bool


@dataclass
class TranscriptReader:
    """Transcripts by sender id."""

    engine: Engine

    def transcript(self, sender_id: str) -> list[Turn]:
        """Every user and bot message in order (empty if the sender is unknown)."""
        return self.last(sender_id, None).turns

    def last(
        self, sender_id: str, limit: int | None = MAX_EVENTS, after_id: int = 0
    ) -> Transcript:
        """The newest ``limit`` messages (all if None), oldest first; only those stored
        after event ``after_id`` when it is given (a console polling for new ones)."""
        stmt = (
            select(events.c.type_name, events.c.timestamp, events.c.intent_name, events.c.data,
                   events.c.id)
            .where(events.c.sender_id == sender_id)
            .where(events.c.type_name.in_(("user", "bot")))
            .order_by(events.c.timestamp.desc(), events.c.id.desc())
        )
        if after_id:
            stmt = stmt.where(events.c.id > after_id)
        if limit is not None:
            stmt = stmt.limit(limit + 1)
        try:
            with self.engine.connect() as conn:
                rows = conn.execute(stmt).all()
        except OperationalError as exc:
            if "no such table" in str(exc) or "unable to open" in str(exc):
                return Transcript([], False)
            raise TranscriptUnavailable(type(exc).__name__) from exc
        except SQLAlchemyError as exc:
            raise TranscriptUnavailable(type(exc).__name__) from exc
        truncated = limit is not None and len(rows) > limit
        turns = []
        for type_name, timestamp, intent, data, event_id in reversed(
            rows[:limit] if truncated else rows
        ):
            try:
                payload = json.loads(data or "{}")
            except ValueError:
                payload = {}
            turns.append(_turn(type_name, timestamp or 0.0, intent, payload, event_id))
        return Transcript(turns, truncated)
