"""The bot's silence while an agent holds a conversation, in the Rasa process.

:func:`install` wraps Rasa's ``MessageProcessor.handle_message`` (every channel's
messages go through it, inside the conversation's lock). Before Rasa parses anything it
asks the ticket database one question: is this conversation (channel + sender id)
queued or claimed? That is one lookup on the partial unique index of active handoffs
(``uq_handoffs_active_conversation``), sent as plain SQL on a connection kept open, so
the check costs the same on every replica and needs no cache to be correct.

- Not claimed (no row, queued, or a claim whose reply time ran out): Rasa handles the
  message as always.
- Claimed: the merchant's message is stored in the tracker as a ``user`` event whose
  metadata names the handoff and the agent (``{"handoff": {"id": …, "agent": …}}``), the
  handoff's ``last_merchant_at`` is set (and its reply deadline starts if nobody was
  waiting), and Rasa predicts nothing: the bot stays silent. The agent reads the message
  in the console, which polls the tracker store.

If the database cannot be asked, the bot answers (and says so in the log once a minute):
a merchant must never be left without any answer. After a PostgreSQL restart the first
check drops the dead pooled connections and asks again, so no claimed conversation is
answered by the bot once the database is back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from rasa.core.channels.channel import UserMessage
from rasa.core.processor import MessageProcessor
from rasa.shared.core.events import UserUttered
from sqlalchemy import event, func, update
from sqlalchemy.engine import Engine

from bot.db import database_url, make_engine, writer
from bot.handoff.models import Handoff
from bot.handoff.settings import idle_timeout

logger = logging.getLogger(__name__)

_QUERY = (
    "SELECT id, state, agent, reply_due_at FROM handoffs "
    "WHERE channel = {p} AND sender_id = {p} AND state IN ('queued', 'claimed')"
)
_with_agent: ContextVar[Claim | None] = ContextVar("handed_to_agent", default=None)
_original = MessageProcessor.handle_message
_installed = False


@dataclass(frozen=True)
class Claim:
    """A conversation an agent holds."""

    handoff_id: int
    agent: str


def handed_to_agent() -> Claim | None:
    """The claim the current message went to instead of the bot (None: the bot answered)."""
    return _with_agent.get()


def _aware(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):  # SQLite returns text through the plain DB-API
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


class HandoffGate:
    """Answers "is this conversation claimed?" with one indexed query."""

    def __init__(self, url: str | None = None) -> None:
        self._url = url
        self._engine: Engine | None = None
        self._sql: str | None = None
        self._failed_at = 0.0

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            # No pre-ping and no reset on return: each would add a round trip. A dropped
            # connection fails one check (the bot then answers) and is replaced.
            engine = make_engine(self._url or database_url(), pool_pre_ping=False,
                                 pool_reset_on_return=None)
            if engine.dialect.name == "postgresql":

                @event.listens_for(engine, "connect")
                def _autocommit(dbapi_conn: Any, _record: Any) -> None:
                    dbapi_conn.autocommit = True  # a lone SELECT opens no transaction

            marker = "?" if engine.dialect.paramstyle == "qmark" else "%s"
            self._sql = _QUERY.format(p=marker)
            self._engine = engine
        return self._engine

    def _lookup(self, channel: str, sender_id: str) -> tuple | None:
        """The one query, on a pooled DB-API connection (no transaction around it)."""
        raw = self.engine.raw_connection()
        try:
            cursor = raw.cursor()
            try:
                cursor.execute(self._sql, (channel, sender_id))
                return cursor.fetchone()
            finally:
                cursor.close()
        except Exception:
            raw.invalidate()  # never hand a broken connection to the next check
            raise
        finally:
            raw.close()

    def claim(
        self, channel: str | None, sender_id: str, now: datetime | None = None
    ) -> Claim | None:
        """The active claim on the conversation, or None (also when the check fails).

        A connection the database dropped (PostgreSQL restarted: every pooled one is
        dead) empties the pool and the check is asked once more on a new connection.
        """
        try:
            try:
                row = self._lookup(channel or "", sender_id)
            except Exception as exc:
                if not self.engine.dialect.is_disconnect(exc, None, None):
                    raise
                self.engine.dispose()
                row = self._lookup(channel or "", sender_id)
        except Exception as exc:  # noqa: BLE001 - fail open: the bot answers
            if time.monotonic() - self._failed_at > 60:
                logger.error("handoff check failed (%s); the bot answers", type(exc).__name__)
                self._failed_at = time.monotonic()
            return None
        if row is None or row[1] != "claimed":
            return None
        due = _aware(row[3])
        if due is not None and due <= (now or datetime.now(timezone.utc)):
            return None  # the claim lapsed; the worker puts it back in the queue
        return Claim(int(row[0]), str(row[2] or ""))

    def merchant_wrote(self, handoff_id: int, now: datetime) -> None:
        """Note the merchant's message; start the reply deadline if nobody was waiting."""
        table = Handoff.__table__
        due = now + idle_timeout()
        with writer(self.engine).begin() as conn:
            conn.execute(
                update(table).where(table.c.id == handoff_id, table.c.state == "claimed")
                .values(last_merchant_at=now,
                        reply_due_at=func.coalesce(table.c.reply_due_at, due))
            )

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


_gate = HandoffGate()


def gate() -> HandoffGate:
    """The process's gate (on ``DATABASE_URL``)."""
    return _gate


async def to_agent(processor: MessageProcessor, message: UserMessage, claim: Claim) -> None:
    """Store the merchant's message for the agent; Rasa predicts nothing."""
    tracker = await processor.fetch_tracker_and_update_session(
        message.sender_id, message.output_channel, message.metadata
    )
    metadata = {**(message.metadata or {}),
                "handoff": {"id": claim.handoff_id, "agent": claim.agent}}
    tracker.update(UserUttered(
        message.text, input_channel=message.input_channel, message_id=message.message_id,
        metadata=metadata,
    ))
    await processor.save_tracker(tracker)
    now = datetime.now(timezone.utc)
    try:
        await asyncio.get_running_loop().run_in_executor(
            None, _gate.merchant_wrote, claim.handoff_id, now
        )
    except Exception as exc:  # noqa: BLE001 - the message is stored; the deadline waits
        logger.warning("could not note the merchant's message on handoff %s (%s)",
                       claim.handoff_id, type(exc).__name__)


async def handle_message(
    self: MessageProcessor, message: UserMessage
) -> list[dict[str, Any]] | None:
    """Rasa's ``handle_message``, unless an agent holds the conversation."""
    _with_agent.set(None)
    claim = _gate.claim(message.input_channel, message.sender_id)
    if claim is None:
        return await _original(self, message)
    await to_agent(self, message, claim)
    _with_agent.set(claim)
    logger.info("message of sender %s went to agent (handoff %s)", message.sender_id,
                claim.handoff_id)
    return []


def install() -> None:
    """Wrap Rasa's message handling once per process."""
    global _installed
    if not _installed:
        MessageProcessor.handle_message = handle_message  # type: ignore[method-assign]
        _installed = True
