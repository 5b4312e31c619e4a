"""Rasa tracker store that never persists a secret and never fails silently.

Every event is passed through ``bot.redaction`` before it is written, whatever channel
it came from: user texts, parse data, slot values and bot messages alike.

Rasa wraps every tracker store in ``FailSafeTrackerStore``, which swallows errors and
carries on in memory: the conversation would silently lose its history. This store
records any failure in a context variable that the channels check after each turn
(``bot.channels.delivery``), so the merchant is told and can retry.
"""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore, TrackerEventDiffEngine
from rasa.shared.core.events import Event
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.orm import sessionmaker
from sqlalchemy.pool import QueuePool

from bot.analytics import summary
from bot.db import SQLITE_BUSY_TIMEOUT_MS
from bot.logmask import install as mask_logs
from bot.rasa_fixes import install as install_rasa_fixes
from bot.redaction import redact_text
from bot.tracker_cache import TrackerCache
from bot.tracker_history import event_index

DEFAULT_URL = "sqlite:///var/tracker.db"
logger = logging.getLogger(__name__)
mask_logs()  # Rasa loads this store from endpoints.yml: mask its log lines too
install_rasa_fixes()  # ... and speed up what it does per turn (bot/rasa_fixes.py)
_failure: ContextVar[Exception | None] = ContextVar("tracker_store_failure", default=None)


def reset_store_failure() -> None:
    """Forget earlier failures; call before processing a message."""
    _failure.set(None)


def store_failure() -> Exception | None:
    """The tracker-store error raised while processing the current message, if any."""
    return _failure.get()


def redact_value(value: Any) -> Any:
    """Redact every string inside a JSON-like value; ``value`` itself when nothing in
    it is a secret (no copy is made of what needs no change)."""
    if isinstance(value, str):
        redacted = redact_text(value)
        return value if redacted == value else redacted
    if isinstance(value, dict):
        changed = {key: new for key, item in value.items()
                   if (new := redact_value(item)) is not item}
        return {**value, **changed} if changed else value
    if isinstance(value, list):
        items = [redact_value(item) for item in value]
        changed = any(new is not old for new, old in zip(items, value, strict=True))
        return items if changed else value
    return value


def redacted_data(event: Event) -> tuple[dict[str, Any], bool]:
    """The event's dictionary with every secret hidden, and whether anything was."""
    data = event.as_dict()
    redacted = redact_value(data)
    return redacted, redacted is not data


def redact_event(event: Event) -> Event:
    """``event`` itself when it holds no secret, else a copy with every secret hidden."""
    data, changed = redacted_data(event)
    return Event.from_parameters(data) if changed else event


def pooled_sqlite_engine(url: URL) -> Engine:
    """An SQLite engine that keeps its connection open, in WAL with ``synchronous = NORMAL``.

    Rasa's engine opens and closes a connection per session; closing the last
    connection of a WAL database checkpoints it, so every turn paid for a checkpoint
    and two fsyncs. Kept open, a commit waits for no disk: a killed process loses
    nothing (the WAL is on disk), only a power cut can undo the last commits, and
    readers (the console) never block the writer.
    """
    engine = sa.create_engine(
        url, poolclass=QueuePool, pool_size=1, max_overflow=4,
        connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
    )

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    return engine


class RedactingSQLTrackerStore(SQLTrackerStore):
    """SQL tracker store configured by one URL, writing only redacted events.

    The endpoint's ``url`` (which Rasa passes as ``host``) is any SQLAlchemy URL, e.g.
    ``sqlite:///var/tracker.db`` or ``postgresql://user@host:5432/db``. ``cache_size``
    (endpoints.yml, default 256, 0 turns it off) bounds the trackers kept between turns
    (``bot.tracker_cache``).
    """

    def __init__(
        self, domain: Any = None, host: str | None = None, cache_size: int = 256,
        **kwargs: Any,
    ) -> None:
        self.cache = TrackerCache(int(cache_size))
        parsed = make_url(host or DEFAULT_URL)
        super().__init__(
            domain=domain,
            dialect=parsed.drivername,
            host=parsed.host,
            port=parsed.port,
            db=parsed.database or "rasa.db",
            username=parsed.username,
            password=parsed.password,
            login_db=kwargs.pop("login_db", None),
            query=dict(parsed.query),
            **kwargs,
        )
        if self.engine.dialect.name == "sqlite":
            self.engine.dispose()
            self.engine = pooled_sqlite_engine(self.engine.url)
            self.sessionmaker = sessionmaker(bind=self.engine)
        summary.create(self.engine)  # the 统计 page's counters (bot.analytics.summary)

    async def retrieve(self, sender_id: str) -> DialogueStateTracker | None:
        try:
            with self.session_scope() as session:
                version = self._newest_event_id(session, sender_id)
            # No stored event: Rasa's query would find none and return None (a new sender).
            tracker = None if version is None else (
                self.cache.take(sender_id, version) or await super().retrieve(sender_id))
            self.cache.check_out(sender_id, tracker)
            return tracker
        except Exception as error:
            _failure.set(error)
            logger.error("tracker store retrieve failed for %s: %s", sender_id, type(error))
            raise

    async def save(self, tracker: DialogueStateTracker) -> None:
        try:
            await self._save_new_events(tracker)
        except Exception as error:
            _failure.set(error)
            logger.error("tracker store save failed for %s: %s", tracker.sender_id, type(error))
            raise

    async def _save_new_events(self, tracker: DialogueStateTracker) -> None:
        """Rasa's ``SQLTrackerStore.save``, with one multi-row insert instead of ORM objects.

        Events already stored are known without a count when this store handed the
        tracker out, and are none when the sender has no stored event (a new
        conversation); the saved tracker is kept for the next turn if nothing was redacted.
        """
        await self.stream_events(tracker)
        with self.session_scope() as session:
            stored = self.cache.stored_count(tracker)
            if stored is None:  # a new conversation has none: no count query to build
                none = self._newest_event_id(session, tracker.sender_id) is None
                stored = 0 if none else self._stored_count(session, tracker.sender_id)
            rows = []
            unchanged = True
            for event in itertools.islice(tracker.events, stored, len(tracker.events)):
                data, changed = redacted_data(event)
                unchanged = unchanged and not changed
                rows.append({
                    "sender_id": tracker.sender_id,
                    "type_name": event.type_name,
                    "timestamp": data.get("timestamp"),
                    "intent_name": (data.get("parse_data") or {}).get("intent", {}).get("name"),
                    "action_name": data.get("name"),
                    "data": json.dumps(data),
                })
            if rows:
                # Through the connection, not the ORM session's execution layer.
                session.connection().execute(sa.insert(self.SQLEvent.__table__), rows)
                earlier = event_index(tracker).latest_slot_event(
                    list(tracker.events), summary.ATTEMPTS, before=stored)
                before = earlier.value if earlier and isinstance(earlier.value, dict) else None
                summary.apply(session.connection(),
                              [(tracker.sender_id, summary.summarise(rows, before)[0])])
            # Read inside the transaction: after the commit, a lost connection would report
            # a stored turn as failed.
            newest = self._newest_event_id(session, tracker.sender_id)
            session.commit()
        self.cache.keep(tracker, newest, exact=unchanged)

    async def stream_events(self, tracker: DialogueStateTracker) -> None:
        """Rasa's streaming to an event broker, of redacted events only."""
        if self.event_broker is None:
            return
        stored = await SQLTrackerStore.retrieve(self, tracker.sender_id)  # not the cache
        new_events = TrackerEventDiffEngine.event_difference(stored, tracker)
        await self._stream_new_events(
            self.event_broker, [redact_event(event) for event in new_events], tracker.sender_id
        )

    def _stored_count(self, session: Any, sender_id: str) -> int:
        """Rasa's count of the stored events of the sender's latest session."""
        return self._event_query(session, sender_id, fetch_events_from_all_sessions=False).count()

    def _newest_event_id(self, session: Any, sender_id: str) -> int | None:
        """The sender's newest stored event id: the version the tracker cache checks.

        Sent as plain SQL: building and compiling the equivalent ``select()`` on each
        call cost more than the query itself.
        """
        marker = "?" if self.engine.dialect.paramstyle == "qmark" else "%s"
        sql = f"SELECT max(id) FROM {self.SQLEvent.__tablename__} WHERE sender_id = {marker}"
        return session.connection().exec_driver_sql(sql, (sender_id,)).scalar()

    def _additional_events(self, session: Any, tracker: DialogueStateTracker) -> Iterator:
        """Rasa's events not yet stored, redacted (used by Rasa's own ``save`` paths)."""
        stored = self._stored_count(session, tracker.sender_id)
        new_events = itertools.islice(tracker.events, stored, len(tracker.events))
        return (redact_event(event) for event in new_events)
