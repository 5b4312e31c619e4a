"""Writing, leasing and settling outbox rows (:mod:`bot.outbox.models`).

:func:`enqueue` adds a row inside the caller's transaction (the step change, the agent's
reply). Workers then :meth:`OutboxStore.lease` due rows: a row is taken by one worker
only (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite, and a
compare-and-set on the state either way), and a row waits while an earlier row of the
same conversation is still on its way, so a conversation's messages arrive in order.
Every later change is a compare-and-set on the lease owner: a worker whose lease was
taken over cannot overwrite what the new owner decided.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import and_, delete, exists, insert, or_, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import Session

from bot.db import writer
from bot.outbox.models import WAITING, NoticePreference, OutboxMessage

log = logging.getLogger(__name__)
TABLE = OutboxMessage.__table__
PREFS = NoticePreference.__table__
MAX_ERROR = 500
STATE_LABELS = {
    "pending": "待发送", "leased": "发送中", "sent": "已送达", "failed": "发送失败",
    "uncertain": "可能已送达", "held": "等待商户发消息", "opted_out": "商户已关闭通知",
}


class OutboxUnavailable(RuntimeError):
    """The ticket database (which holds the outbox) cannot be used right now."""


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class OutboxRow:
    """An outbox row, detached: what a worker sends and what the console shows."""

    id: int
    kind: str
    channel: str
    sender_id: str
    text: str
    agent: str | None
    ticket_no: str | None
    step: str | None
    handoff_id: int | None
    state: str
    attempts: int
    parts_sent: int
    recorded: bool
    last_error: str
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None
    client_key: str | None = None


@dataclass(frozen=True)
class Backoff:
    """Seconds before retry ``n`` (1-based): ``base·2ⁿ⁻¹`` up to ``cap``, ±``jitter``."""

    base: float = 2.0
    cap: float = 300.0
    jitter: float = 0.2
    max_attempts: int = 10

    def delay(self, attempt: int) -> float:
        raw = min(self.cap, self.base * 2 ** max(0, attempt - 1))
        return raw * (1 + random.uniform(-self.jitter, self.jitter))


def enqueue(
    session: Session | Connection,
    *,
    kind: str,
    channel: str,
    sender_id: str,
    text: str,
    now: datetime | None = None,
    agent: str | None = None,
    handoff_id: int | None = None,
    ticket_no: str | None = None,
    step: str | None = None,
    client_key: str | None = None,
    state: str = "pending",
    last_error: str = "",
) -> int:
    """Add one row in the caller's transaction; its id."""
    now = now or utcnow()
    result = session.execute(
        insert(TABLE).values(
            kind=kind, channel=channel, sender_id=sender_id, text=text, agent=agent,
            handoff_id=handoff_id, ticket_no=ticket_no, step=step, client_key=client_key,
            state=state, attempts=0, parts_sent=0, recorded=False, in_flight=False,
            next_attempt_at=now, last_error=last_error[:MAX_ERROR], created_at=now,
            updated_at=now,
        )
    )
    return int(result.inserted_primary_key[0])


def notices_enabled(session: Session | Connection, channel: str, sender_id: str) -> bool:
    """Whether this conversation gets step-change notices (yes unless turned off)."""
    enabled = session.execute(
        select(PREFS.c.enabled).where(PREFS.c.channel == channel, PREFS.c.sender_id == sender_id)
    ).scalar_one_or_none()
    return enabled is not False


def _view(row: object) -> OutboxRow:
    return OutboxRow(
        id=row.id, kind=row.kind, channel=row.channel, sender_id=row.sender_id, text=row.text,
        agent=row.agent, ticket_no=row.ticket_no, step=row.step, handoff_id=row.handoff_id,
        state=row.state, attempts=row.attempts, parts_sent=row.parts_sent,
        recorded=bool(row.recorded), last_error=row.last_error, created_at=row.created_at,
        updated_at=row.updated_at, sent_at=row.sent_at, client_key=row.client_key,
    )


@dataclass
class OutboxStore:
    """The outbox table for workers and the console."""

    engine: Engine
    clock: Callable[[], datetime] = utcnow
    backoff: Backoff = Backoff()

    @contextmanager
    def _begin(self, write: bool = True) -> Iterator[Connection]:
        try:
            with (writer(self.engine) if write else self.engine).begin() as conn:
                yield conn
        except (DBAPIError, DisconnectionError, PoolTimeoutError) as exc:
            raise OutboxUnavailable(type(exc).__name__) from exc

    # -- workers ---------------------------------------------------------------------

    def lease(self, owner: str, limit: int = 10, lease_for: float = 120.0) -> list[OutboxRow]:
        """Take up to ``limit`` due rows for ``owner`` until ``lease_for`` seconds from now.

        A row is due when pending, its retry time has come, and no earlier row of the same
        conversation is still on its way (pending or leased).
        """
        now = self.clock()
        earlier = TABLE.alias("earlier")
        blocked = exists().where(
            earlier.c.channel == TABLE.c.channel,
            earlier.c.sender_id == TABLE.c.sender_id,
            earlier.c.id < TABLE.c.id,
            earlier.c.state.in_(WAITING),
        )
        due = (
            select(TABLE.c.id)
            .where(TABLE.c.state == "pending", TABLE.c.next_attempt_at <= now, ~blocked)
            .order_by(TABLE.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True, of=TABLE)
        )
        with self._begin() as conn:
            ids = list(conn.execute(due).scalars())
            if not ids:
                return []
            conn.execute(
                update(TABLE)
                .where(TABLE.c.id.in_(ids), TABLE.c.state == "pending")
                .values(
                    state="leased", lease_owner=owner,
                    lease_until=now + timedelta(seconds=lease_for),
                    attempts=TABLE.c.attempts + 1, updated_at=now,
                )
            )
            rows = conn.execute(
                select(TABLE).where(TABLE.c.id.in_(ids), TABLE.c.lease_owner == owner,
                                    TABLE.c.state == "leased").order_by(TABLE.c.id)
            ).all()
        return [_view(r) for r in rows]

    def _mine(self, row_id: int, owner: str) -> object:
        return and_(TABLE.c.id == row_id, TABLE.c.state == "leased", TABLE.c.lease_owner == owner)

    def _change(self, row_id: int, owner: str, **values: object) -> bool:
        values.setdefault("updated_at", self.clock())
        with self._begin() as conn:
            changed = conn.execute(update(TABLE).where(self._mine(row_id, owner)).values(**values))
        if changed.rowcount != 1:
            log.warning("outbox row %s: lease of %s was lost; change dropped", row_id, owner)
            return False
        return True

    def start_send(self, row_id: int, owner: str, lease_for: float = 120.0) -> bool:
        """Mark a request to the platform as out (``in_flight``), extending the lease.

        If the worker dies before :meth:`progress` clears it, the row becomes
        ``uncertain`` instead of being sent again.
        """
        until = self.clock() + timedelta(seconds=lease_for)
        return self._change(row_id, owner, in_flight=True, lease_until=until)

    def progress(
        self, row_id: int, owner: str, *, parts_sent: int | None = None,
        recorded: bool | None = None,
    ) -> bool:
        """Record how far delivery got (parts sent, stored in the tracker)."""
        values: dict[str, object] = {"in_flight": False}
        if parts_sent is not None:
            values["parts_sent"] = parts_sent
        if recorded is not None:
            values["recorded"] = recorded
        return self._change(row_id, owner, **values)

    def settle(self, row_id: int, owner: str, state: str, error: str = "") -> bool:
        """End the lease with ``state`` (sent, failed, uncertain, held)."""
        now = self.clock()
        values: dict[str, object] = {
            "state": state, "lease_owner": None, "lease_until": None, "in_flight": False,
            "last_error": error[:MAX_ERROR], "updated_at": now,
        }
        if state == "sent":
            values["sent_at"] = now
        return self._change(row_id, owner, **values)

    def retry_later(self, row_id: int, owner: str, attempts: int, error: str) -> str:
        """Back to pending after a backoff, or ``failed`` once attempts are used up."""
        if attempts >= self.backoff.max_attempts:
            self.settle(row_id, owner, "failed", f"{attempts} 次尝试均失败：{error}")
            return "failed"
        delay = self.backoff.delay(attempts)
        self._change(
            row_id, owner, state="pending", lease_owner=None, lease_until=None,
            in_flight=False, last_error=error[:MAX_ERROR],
            next_attempt_at=self.clock() + timedelta(seconds=delay),
        )
        return "pending"

    def recover(self) -> tuple[int, int]:
        """Rows whose lease ran out: back to pending, or ``uncertain`` if a request to the
        platform was out when the worker stopped. Returns (requeued, uncertain)."""
        now = self.clock()
        expired = and_(TABLE.c.state == "leased", TABLE.c.lease_until < now)
        cleared = {"lease_owner": None, "lease_until": None, "in_flight": False,
                   "updated_at": now}
        with self._begin() as conn:
            uncertain = conn.execute(
                update(TABLE).where(expired, TABLE.c.in_flight.is_(True)).values(
                    state="uncertain",
                    last_error="发送途中发送进程停止，可能已送达（不会自动重发）",
                    **cleared,
                )
            ).rowcount
            requeued = conn.execute(
                update(TABLE).where(expired).values(state="pending", **cleared)
            ).rowcount
        if requeued or uncertain:
            log.warning("outbox: %d expired lease(s) requeued, %d uncertain", requeued,
                        uncertain)
        return requeued, uncertain

    def held(self) -> list[tuple[int, str, str, datetime]]:
        """Held rows: (id, channel, sender id, since)."""
        with self._begin(write=False) as conn:
            rows = conn.execute(
                select(TABLE.c.id, TABLE.c.channel, TABLE.c.sender_id, TABLE.c.updated_at)
                .where(TABLE.c.state == "held").order_by(TABLE.c.id)
            ).all()
        return [tuple(r) for r in rows]

    def release_held(self, ids: Sequence[int]) -> int:
        """Held rows back to pending (the merchant wrote again)."""
        if not ids:
            return 0
        with self._begin() as conn:
            return conn.execute(
                update(TABLE).where(TABLE.c.id.in_(list(ids)), TABLE.c.state == "held")
                .values(state="pending", next_attempt_at=self.clock(), updated_at=self.clock())
            ).rowcount

    # -- console ---------------------------------------------------------------------

    def resend(self, row_id: int) -> OutboxRow | None:
        """Send a failed or uncertain row again (an agent's decision); None if not allowed."""
        now = self.clock()
        with self._begin() as conn:
            changed = conn.execute(
                update(TABLE)
                .where(TABLE.c.id == row_id, TABLE.c.state.in_(("failed", "uncertain")))
                .values(state="pending", attempts=0, parts_sent=0, in_flight=False,
                        next_attempt_at=now, last_error="", updated_at=now)
            ).rowcount
            row = conn.execute(select(TABLE).where(TABLE.c.id == row_id)).first()
        return _view(row) if changed and row is not None else None

    def get(self, row_id: int) -> OutboxRow | None:
        with self._begin(write=False) as conn:
            row = conn.execute(select(TABLE).where(TABLE.c.id == row_id)).first()
        return _view(row) if row is not None else None

    def of_ticket(self, ticket_no: str) -> list[OutboxRow]:
        return self._views(TABLE.c.ticket_no == ticket_no, newest_first=True)

    def of_handoff(self, handoff_id: int) -> list[OutboxRow]:
        return self._views(TABLE.c.handoff_id == handoff_id)

    def recent(
        self, limit: int = 100, kinds: Sequence[str] = ("notice",),
        states: Sequence[str] | None = None,
    ) -> list[OutboxRow]:
        condition = TABLE.c.kind.in_(list(kinds))
        if states:
            condition = and_(condition, TABLE.c.state.in_(list(states)))
        return self._views(condition, newest_first=True, limit=limit)

    def _views(
        self, condition: object, newest_first: bool = False, limit: int | None = None
    ) -> list[OutboxRow]:
        order = TABLE.c.id.desc() if newest_first else TABLE.c.id
        stmt = select(TABLE).where(condition).order_by(order)  # type: ignore[arg-type]
        if limit is not None:
            stmt = stmt.limit(limit)
        with self._begin(write=False) as conn:
            return [_view(r) for r in conn.execute(stmt).all()]

    # -- preferences -------------------------------------------------------------------

    def set_notices(self, channel: str, sender_id: str, enabled: bool) -> None:
        """Turn a conversation's step-change notices on or off (an upsert)."""
        now = self.clock()
        with self._begin() as conn:
            changed = conn.execute(
                update(PREFS).where(PREFS.c.channel == channel, PREFS.c.sender_id == sender_id)
                .values(enabled=enabled, updated_at=now)
            ).rowcount
            if not changed:
                conn.execute(insert(PREFS).values(channel=channel, sender_id=sender_id,
                                                  enabled=enabled, updated_at=now))

    def notices_enabled(self, channel: str, sender_id: str) -> bool:
        with self._begin(write=False) as conn:
            return notices_enabled(conn, channel, sender_id)


def purge_before(engine: Engine, cutoff: datetime) -> tuple[int, int]:
    """Retention (``python -m bot.privacy purge``): delete outbox rows that are settled
    and older than ``cutoff``, and handoffs closed (or asked off duty) before it.
    Returns (outbox rows, handoffs) deleted."""
    from bot.handoff.models import Handoff

    handoffs = Handoff.__table__
    with writer(engine).begin() as conn:
        rows = conn.execute(
            delete(TABLE).where(TABLE.c.created_at < cutoff, TABLE.c.state.notin_(WAITING))
        ).rowcount
        old = or_(and_(handoffs.c.state == "closed", handoffs.c.closed_at < cutoff),
                  and_(handoffs.c.state == "offline", handoffs.c.created_at < cutoff))
        closed = conn.execute(delete(handoffs).where(old)).rowcount
    return rows, closed
