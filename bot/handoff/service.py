"""Handoffs: the queue, claims, agent replies, hand-back, and claims that lapse.

One API for the action server (``action_human_handoff``, leaving a message), the agent
console and the outbox worker. Each method is one transaction; what the merchant is told
(an agent joined, handed back, the queue again) and what the agent says are outbox rows
written in that same transaction, and a console action's audit row too (``audit``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, DisconnectionError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from bot.db import make_engine, writer
from bot.handoff.models import ACTIVE, Handoff
from bot.handoff.settings import DutyHours, idle_timeout
from bot.outbox.models import OutboxMessage
from bot.outbox.store import enqueue
from bot.outbox.texts import handoff_text
from bot.redaction import redact_text

log = logging.getLogger(__name__)
TABLE = Handoff.__table__
OUTBOX = OutboxMessage.__table__
MAX_REPLY = 2000
Audit = Callable[[Connection], None]


class HandoffError(Exception):
    """Base class of the handoff service's errors (messages are Chinese, for agents)."""


class HandoffUnavailable(HandoffError):
    """The ticket database cannot be used; nothing was written."""


class HandoffNotFound(HandoffError, LookupError):
    """No handoff has this id."""


class ClaimRefused(HandoffError):
    """Someone else holds the conversation, or it is closed."""

    def __init__(self, message: str, holder: str | None = None) -> None:
        super().__init__(message)
        self.holder = holder


class NotHolder(HandoffError):
    """Only the agent who holds a conversation may do this."""


class InvalidReply(HandoffError, ValueError):
    """An agent's message that cannot be sent (empty, too long, control characters)."""


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class HandoffView:
    """A handoff row, detached."""

    id: int
    channel: str
    sender_id: str
    state: str
    reason: str
    agent: str | None
    agent_verified: bool
    left_message: str
    created_at: datetime
    queued_at: datetime
    claimed_at: datetime | None
    reply_due_at: datetime | None
    last_merchant_at: datetime | None
    last_agent_at: datetime | None
    closed_at: datetime | None
    closed_by: str | None
    outcome: str | None
    requeued: int


@dataclass(frozen=True)
class Requested:
    """What ``action_human_handoff`` learns: the row, whether it is new, the queue ahead."""

    handoff: HandoffView
    created: bool
    ahead: int = 0


@dataclass(frozen=True)
class Reply:
    """An agent's message as queued in the outbox."""

    outbox_id: int
    text: str
    duplicate: bool = False


def _view(row: object) -> HandoffView:
    return HandoffView(
        id=row.id, channel=row.channel, sender_id=row.sender_id, state=row.state,
        reason=row.reason, agent=row.agent, agent_verified=bool(row.agent_verified),
        left_message=row.left_message, created_at=row.created_at, queued_at=row.queued_at,
        claimed_at=row.claimed_at, reply_due_at=row.reply_due_at,
        last_merchant_at=row.last_merchant_at, last_agent_at=row.last_agent_at,
        closed_at=row.closed_at, closed_by=row.closed_by, outcome=row.outcome,
        requeued=row.requeued,
    )


def clean_reply(text: object) -> str:
    """An agent's message as it may be sent: trimmed, secrets hidden."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidReply("消息不能为空")
    text = text.strip()
    if len(text) > MAX_REPLY:
        raise InvalidReply(f"消息最多{MAX_REPLY}字")
    if any(ord(ch) < 32 and ch not in "\n\t" for ch in text):
        raise InvalidReply("消息含有控制字符")
    return redact_text(text)


@dataclass
class HandoffService:
    """The handoff table and the outbox rows handoffs write."""

    engine: Engine
    clock: Callable[[], datetime] = utcnow
    hours: DutyHours = field(default_factory=DutyHours.from_env)
    idle: timedelta = field(default_factory=idle_timeout)

    @classmethod
    def from_url(cls, url: str | None = None, **kwargs: object) -> HandoffService:
        return cls(make_engine(url), **kwargs)  # type: ignore[arg-type]

    @contextmanager
    def _begin(self, write: bool = True) -> Iterator[Connection]:
        try:
            with (writer(self.engine) if write else self.engine).begin() as conn:
                yield conn
        except IntegrityError:
            raise
        except (DBAPIError, DisconnectionError, PoolTimeoutError) as exc:
            log.error("handoff store unavailable: %s", type(exc).__name__)
            raise HandoffUnavailable("人工客服系统暂时不可用，请稍后再试") from exc

    def _now(self) -> datetime:
        return self.clock().astimezone(timezone.utc)

    # -- reads ---------------------------------------------------------------------------

    def get(self, handoff_id: int) -> HandoffView | None:
        with self._begin(write=False) as conn:
            row = conn.execute(select(TABLE).where(TABLE.c.id == handoff_id)).first()
        return _view(row) if row is not None else None

    def active(self, channel: str, sender_id: str) -> HandoffView | None:
        """The conversation's queued or claimed handoff."""
        with self._begin(write=False) as conn:
            return self._active(conn, channel, sender_id)

    def _active(self, conn: Connection, channel: str, sender_id: str) -> HandoffView | None:
        row = conn.execute(
            select(TABLE).where(TABLE.c.channel == channel, TABLE.c.sender_id == sender_id,
                                TABLE.c.state.in_(ACTIVE))
        ).first()
        return _view(row) if row is not None else None

    def queue(self, closed_since: datetime | None = None) -> list[HandoffView]:
        """Queued and claimed handoffs, longest waiting first (and those closed since)."""
        condition = TABLE.c.state.in_(ACTIVE)
        if closed_since is not None:
            condition = condition | (
                (TABLE.c.state == "closed") & (TABLE.c.closed_at >= closed_since)
            )
        with self._begin(write=False) as conn:
            rows = conn.execute(
                select(TABLE).where(condition).order_by(TABLE.c.queued_at, TABLE.c.id)
            ).all()
        return [_view(r) for r in rows]

    def _ahead(self, conn: Connection, view: HandoffView) -> int:
        return int(conn.execute(
            select(func.count()).select_from(TABLE).where(
                TABLE.c.state == "queued", TABLE.c.queued_at < view.queued_at)
        ).scalar_one())

    # -- the merchant's side (action server) ---------------------------------------------

    def on_duty(self) -> bool:
        return self.hours.on_duty(self._now())

    def request(self, channel: str, sender_id: str, reason: str) -> Requested:
        """Queue the conversation (or return its active handoff); off duty, an
        ``offline`` row records the request for the analytics and for a left message."""
        now = self._now()
        for _ in range(3):
            try:
                with self._begin() as conn:
                    existing = self._active(conn, channel, sender_id)
                    if existing is not None:
                        return Requested(existing, False, self._ahead(conn, existing))
                    state = "queued" if self.hours.on_duty(now) else "offline"
                    new_id = conn.execute(insert(TABLE).values(
                        channel=channel, sender_id=sender_id, state=state, reason=reason,
                        left_message="", created_at=now, queued_at=now, requeued=0,
                    )).inserted_primary_key[0]
                    view = _view(conn.execute(select(TABLE).where(TABLE.c.id == new_id)).one())
                    return Requested(view, True, self._ahead(conn, view))
            except IntegrityError:
                continue  # another replica queued it first: return that row
        raise HandoffUnavailable("人工客服系统暂时不可用，请稍后再试")

    def leave_message(self, channel: str, sender_id: str, text: str) -> HandoffView:
        """Queue the conversation with the merchant's message for the next agent on duty."""
        message = redact_text(text.strip())[:MAX_REPLY]
        now = self._now()
        with self._begin() as conn:
            active = self._active(conn, channel, sender_id)
            if active is not None:
                left = "\n".join(filter(None, (active.left_message, message)))
                conn.execute(update(TABLE).where(TABLE.c.id == active.id)
                             .values(left_message=left))
                handoff_id = active.id
            else:
                offline = conn.execute(
                    select(TABLE.c.id).where(TABLE.c.channel == channel,
                                             TABLE.c.sender_id == sender_id,
                                             TABLE.c.state == "offline")
                    .order_by(TABLE.c.id.desc()).limit(1)
                ).scalar_one_or_none()
                values = {"state": "queued", "left_message": message, "queued_at": now}
                if offline is not None:
                    conn.execute(update(TABLE).where(TABLE.c.id == offline).values(**values))
                    handoff_id = offline
                else:
                    handoff_id = conn.execute(insert(TABLE).values(
                        channel=channel, sender_id=sender_id, reason="left_message",
                        created_at=now, requeued=0, **values,
                    )).inserted_primary_key[0]
            return _view(conn.execute(select(TABLE).where(TABLE.c.id == handoff_id)).one())

    # -- the agent's side (console) ------------------------------------------------------

    def _locked(self, conn: Connection, handoff_id: int) -> HandoffView:
        row = conn.execute(
            select(TABLE).where(TABLE.c.id == handoff_id).with_for_update()
        ).first()
        if row is None:
            raise HandoffNotFound(f"找不到人工会话 {handoff_id}")
        return _view(row)

    def _tell(self, conn: Connection, view: HandoffView, text: str, now: datetime,
              agent: str | None = None) -> int:
        return enqueue(conn, kind="handoff", channel=view.channel, sender_id=view.sender_id,
                       text=text, now=now, agent=agent, handoff_id=view.id)

    def claim(self, handoff_id: int, agent: str, verified: bool = False,
              audit: Audit | None = None) -> HandoffView:
        """Take a queued conversation; the bot goes silent and the merchant is told.

        Claiming one's own conversation again changes nothing; one held by someone else
        raises :class:`ClaimRefused` naming the holder.
        """
        now = self._now()
        with self._begin() as conn:
            view = self._locked(conn, handoff_id)
            if view.state == "claimed" and view.agent == agent:
                return view
            if view.state == "claimed":
                raise ClaimRefused(f"这个对话已由 {view.agent} 接待", view.agent)
            if view.state != "queued":
                raise ClaimRefused("这个对话已经结束，不在队列中")
            conn.execute(update(TABLE).where(TABLE.c.id == handoff_id).values(
                state="claimed", agent=agent, agent_verified=verified, claimed_at=now,
                reply_due_at=now + self.idle,
            ))
            self._tell(conn, view, handoff_text("claimed", agent=agent), now, agent)
            if audit is not None:
                audit(conn)
            return _view(conn.execute(select(TABLE).where(TABLE.c.id == handoff_id)).one())

    def reply(self, handoff_id: int, agent: str, text: object, client_key: str | None = None,
              audit: Audit | None = None) -> Reply:
        """Queue the agent's message to the merchant (once per ``client_key``)."""
        message = clean_reply(text)
        now = self._now()
        with self._begin() as conn:
            view = self._locked(conn, handoff_id)
            if view.state != "claimed" or view.agent != agent:
                holder = f"（现在由 {view.agent} 接待）" if view.state == "claimed" else ""
                raise NotHolder(f"您没有接待这个对话，消息未发送{holder}")
            if client_key:
                existing = conn.execute(
                    select(OUTBOX.c.id, OUTBOX.c.text).where(
                        OUTBOX.c.handoff_id == handoff_id, OUTBOX.c.client_key == client_key)
                ).first()
                if existing is not None:
                    return Reply(existing.id, existing.text, duplicate=True)
            outbox_id = enqueue(conn, kind="agent", channel=view.channel,
                                sender_id=view.sender_id, text=message, now=now, agent=agent,
                                handoff_id=handoff_id, client_key=client_key)
            conn.execute(update(TABLE).where(TABLE.c.id == handoff_id)
                         .values(last_agent_at=now, reply_due_at=None))
            if audit is not None:
                audit(conn)
            return Reply(outbox_id, message)

    def release(self, handoff_id: int, agent: str, action: str,
                audit: Audit | None = None) -> HandoffView:
        """``handback`` (the bot answers again), ``close`` or ``requeue`` (for another
        agent). Only the holder may release a claimed conversation; anyone may close a
        queued one (a message answered by phone, say)."""
        if action not in ("handback", "close", "requeue"):
            raise HandoffError("操作应为 handback、close 或 requeue")
        now = self._now()
        with self._begin() as conn:
            view = self._locked(conn, handoff_id)
            if view.state == "claimed" and view.agent != agent:
                raise NotHolder(f"这个对话由 {view.agent} 接待，只有 TA 可以结束或交还")
            if view.state not in ACTIVE or (action != "close" and view.state != "claimed"):
                raise ClaimRefused("这个对话不在您的接待中")
            if action == "requeue":
                values = {"state": "queued", "agent": None, "claimed_at": None,
                          "reply_due_at": None}
                text = handoff_text("returned")
            else:
                values = {"state": "closed", "closed_at": now, "closed_by": agent,
                          "reply_due_at": None,
                          "outcome": "handed_back" if action == "handback" else "closed"}
                text = handoff_text("handed_back" if action == "handback" else "closed",
                                    agent=view.agent or agent)
            conn.execute(update(TABLE).where(TABLE.c.id == handoff_id).values(**values))
            self._tell(conn, view, text, now, agent if view.state == "claimed" else None)
            if audit is not None:
                audit(conn)
            return _view(conn.execute(select(TABLE).where(TABLE.c.id == handoff_id)).one())

    # -- the worker's side -----------------------------------------------------------------

    def requeue_lapsed(self) -> list[int]:
        """Claims whose merchant waited past the reply deadline go back to the queue (at
        their old place) and the merchant is told. Returns their ids."""
        now = self._now()
        with self._begin() as conn:
            rows = conn.execute(
                select(TABLE).where(TABLE.c.state == "claimed", TABLE.c.reply_due_at < now)
                .with_for_update(skip_locked=True)
            ).all()
            for row in rows:
                view = _view(row)
                conn.execute(update(TABLE).where(TABLE.c.id == view.id).values(
                    state="queued", agent=None, claimed_at=None, reply_due_at=None,
                    requeued=TABLE.c.requeued + 1,
                ))
                self._tell(conn, view, handoff_text("requeued"), now)
        if rows:
            log.warning("handoff: %d claim(s) lapsed without an agent reply; requeued",
                        len(rows))
        return [row.id for row in rows]
