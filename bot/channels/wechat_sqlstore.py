"""The durable record of WeChat/WeCom callbacks: a key-value store in the ticket database.

Rows live in ``wechat_callbacks`` (migration ``0003``) of the database at
``DATABASE_URL``: PostgreSQL in the production profile, SQLite in the embedded default.
:class:`SqlStore` implements :class:`~bot.channels.wechat_store.KeyValueStore`; a claim
(:meth:`SqlStore.set_if_absent`) is one ``INSERT … ON CONFLICT (key) DO UPDATE … WHERE
expired`` statement, so exactly one caller wins a key however many processes race for
it, and an expired row can be claimed again. :func:`dedup_store` puts it behind the
fast store (Redis or in-process) for the channels' :class:`Deduplicator`.

Database calls run in a small thread pool of the store's own (one connection per
thread), never on the event loop. Expired rows are harmless (they can be claimed again
and are never read) and are deleted by ``python -m bot.privacy purge``
(:func:`purge_expired`).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

from sqlalchemy import Column, String, Text, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Mapped

from bot.channels.wechat_store import KeyValueStore, TieredStore
from bot.db import make_engine, writer
from bot.tickets.models import Base, UTCDateTime

Clock = Callable[[], datetime]
T = TypeVar("T")

_INSERTS: dict[str, Callable[..., Any]] = {
    "postgresql": postgresql.insert,
    "sqlite": sqlite.insert,
}
DEFAULT_CONNECTIONS = 4
PG_CONNECT_TIMEOUT = 3  # seconds; WeChat gives up on a callback after 5


class WeChatCallback(Base):
    """One key of the durable store (a callback's claim or its owner's outcome)."""

    __tablename__ = "wechat_callbacks"

    key: Mapped[str] = Column(String(512), primary_key=True)
    value: Mapped[str] = Column(Text, nullable=False)
    expires_at: Mapped[datetime] = Column(UTCDateTime(), nullable=False, index=True)


_TABLE = WeChatCallback.__table__


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(timezone.utc)


def _write(engine: Engine, stmt: Any) -> int:
    """Run ``stmt`` in a write transaction; the number of rows it changed."""
    with writer(engine).begin() as conn:
        return conn.execute(stmt).rowcount


def _scalar(engine: Engine, stmt: Any) -> Any:
    """The single value ``stmt`` selects, or None."""
    with engine.connect() as conn:
        return conn.execute(stmt).scalar_one_or_none()


def purge_expired(engine: Engine, now: datetime | None = None) -> int:
    """Delete the rows that expired before ``now``; returns how many."""
    return _write(engine, delete(_TABLE).where(_TABLE.c.expires_at <= (now or utcnow())))


class SqlStore:
    """:class:`KeyValueStore` on the ``wechat_callbacks`` table (PostgreSQL or SQLite).

    The engine is created on first use, so a channel that is never called never
    connects. At most ``connections`` calls run at once (one thread and one pooled
    connection each); more wait for a free thread.
    """

    def __init__(
        self, url: str, clock: Clock = utcnow, connections: int = DEFAULT_CONNECTIONS
    ) -> None:
        backend = make_url(url).get_backend_name()
        if backend not in _INSERTS:
            raise ValueError(f"the WeChat dedup store needs PostgreSQL or SQLite, not {backend}")
        self._url = url
        self._insert = _INSERTS[backend]
        self._clock = clock
        self._connections = connections
        self._engine: Engine | None = None
        self._executor: ThreadPoolExecutor | None = None

    def _make_engine(self) -> Engine:
        url = make_url(self._url)
        if url.get_backend_name() != "postgresql":
            return make_engine(url)
        connect_args = {} if "connect_timeout" in url.query else {
            "connect_timeout": PG_CONNECT_TIMEOUT
        }
        return make_engine(
            url, pool_size=self._connections, max_overflow=0, connect_args=connect_args
        )

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(engine, *args)`` in the store's thread pool."""
        if self._engine is None or self._executor is None:
            self._engine = self._make_engine()
            self._executor = ThreadPoolExecutor(self._connections, "wechat-sqlstore")
        call = functools.partial(fn, self._engine, *args)
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    def _upsert(self, key: str, value: str, ttl: float, only_expired: bool) -> Any:
        """Insert ``key``, or overwrite its row (only an expired one if ``only_expired``)."""
        now = self._clock()
        stmt = self._insert(_TABLE).values(
            key=key, value=value, expires_at=now + timedelta(seconds=ttl)
        )
        return stmt.on_conflict_do_update(
            index_elements=[_TABLE.c.key],
            set_={"value": stmt.excluded.value, "expires_at": stmt.excluded.expires_at},
            where=(_TABLE.c.expires_at <= now) if only_expired else None,
        )

    async def set_if_absent(self, key: str, value: str, ttl: float) -> bool:
        return await self._run(_write, self._upsert(key, value, ttl, only_expired=True)) == 1

    async def set(self, key: str, value: str, ttl: float) -> None:
        await self._run(_write, self._upsert(key, value, ttl, only_expired=False))

    async def get(self, key: str) -> str | None:
        live = (_TABLE.c.key == key, _TABLE.c.expires_at > self._clock())
        return await self._run(_scalar, select(_TABLE.c.value).where(*live))

    async def delete(self, key: str, only_if: str | None = None) -> None:
        stmt = delete(_TABLE).where(_TABLE.c.key == key)
        if only_if is not None:
            stmt = stmt.where(_TABLE.c.value == only_if)
        await self._run(_write, stmt)

    async def close(self) -> None:
        engine, executor = self._engine, self._executor
        self._engine = self._executor = None
        if engine is not None and executor is not None:
            await asyncio.get_running_loop().run_in_executor(executor, engine.dispose)
            executor.shutdown(wait=False)


def dedup_store(fast: KeyValueStore, database_url: str | None) -> KeyValueStore:
    """The channels' dedup store: ``fast`` in front of :class:`SqlStore` at ``database_url``.

    Without a URL (tests that build channels by hand) it is ``fast`` alone.
    """
    if database_url is None:
        return fast
    return TieredStore(fast, SqlStore(database_url))
