"""The durable dedup store (``wechat_callbacks``) on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select

from bot.channels.wechat_sqlstore import SqlStore, WeChatCallback, purge_expired
from bot.db import make_engine, writer
from bot.privacy import purge
from bot.tickets import TicketService

START = datetime(2026, 11, 29, 8, 0, tzinfo=timezone.utc)
TABLE = WeChatCallback.__table__


class Clock:
    """A settable UTC clock shared by stores, as if every process had the same time."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


StoreFactory = Callable[..., SqlStore]


@pytest.fixture
async def stores(callbacks_db_url: str) -> AsyncIterator[StoreFactory]:
    """Makes stores on the test database (each with its own engine, like a process)."""
    made: list[SqlStore] = []

    def make(clock: Callable[[], datetime] | None = None) -> SqlStore:
        store = SqlStore(callbacks_db_url, clock=clock) if clock else SqlStore(callbacks_db_url)
        made.append(store)
        return store

    yield make
    for store in made:
        await store.close()


def key(name: str = "k") -> str:
    return f"test:{uuid.uuid4().hex}:{name}"


async def test_claim_get_set_delete_and_expiry(stores: StoreFactory) -> None:
    clock = Clock()
    store, k = stores(clock), key()
    assert await store.get(k) is None
    assert await store.set_if_absent(k, "first", 600)
    assert not await store.set_if_absent(k, "second", 600)
    assert await store.get(k) == "first"
    clock.advance(599)
    assert not await store.set_if_absent(k, "third", 600)
    clock.advance(1)  # expires_at reached: gone, and claimable again
    assert await store.get(k) is None
    assert await store.set_if_absent(k, "fourth", 600)
    assert await store.get(k) == "fourth"
    await store.set(k, "overwritten", 10)
    assert await store.get(k) == "overwritten"
    await store.delete(k, only_if="someone else's")
    assert await store.get(k) == "overwritten"
    await store.delete(k, only_if="overwritten")
    assert await store.get(k) is None
    await store.set(k, "again", 10)
    await store.delete(k)
    assert await store.get(k) is None


async def test_concurrent_claims_have_exactly_one_winner(stores: StoreFactory) -> None:
    """16 claims per key from 4 stores (engines, thread pools) at once, fresh and expired keys."""
    clock = Clock()
    processes = [stores(clock) for _ in range(4)]
    fresh = [key(f"fresh{i}") for i in range(10)]
    expired = [key(f"expired{i}") for i in range(10)]
    for k in expired:
        assert await processes[0].set_if_absent(k, "old", 1)
    clock.advance(2)
    for k in fresh + expired:
        results = await asyncio.gather(
            *(processes[i % 4].set_if_absent(k, f"claim-{i}", 600) for i in range(16))
        )
        assert results.count(True) == 1, (k, results)
        winner = f"claim-{results.index(True)}"
        assert await processes[3].get(k) == winner


async def test_a_waiting_claim_does_not_block_the_event_loop(
    callbacks_db_url: str, stores: StoreFactory
) -> None:
    """Another connection holds the key uncommitted; the claim waits in its thread, the
    event loop keeps running, and the claim loses once the holder commits."""
    store, k = stores(), key()
    await store.get(k)  # engine and pool ready
    holder = make_engine(callbacks_db_url)
    conn = writer(holder).connect()
    transaction = conn.begin()
    far = datetime.now(timezone.utc) + timedelta(hours=1)
    conn.execute(insert(TABLE).values(key=k, value="holder", expires_at=far))
    claim = asyncio.create_task(store.set_if_absent(k, "mine", 600))
    ticks = 0
    for _ in range(25):
        await asyncio.sleep(0.02)
        ticks += 1
    assert not claim.done()
    transaction.commit()
    conn.close()
    holder.dispose()
    assert await asyncio.wait_for(claim, 30) is False
    assert ticks == 25
    assert await store.get(k) == "holder"


async def test_purge_deletes_only_expired_rows(callbacks_db_url: str, stores: StoreFactory) -> None:
    clock = Clock()
    store, old, live = stores(clock), key("old"), key("live")
    await store.set(old, "x", 10)
    await store.set(live, "y", 600)
    clock.advance(60)
    engine = make_engine(callbacks_db_url)
    try:
        assert purge_expired(engine, clock.now) >= 1
        with engine.connect() as conn:
            keys = set(conn.execute(select(TABLE.c.key).where(TABLE.c.key.in_([old, live])))
                       .scalars())
            assert keys == {live}
            expired = conn.execute(
                select(func.count()).select_from(TABLE).where(TABLE.c.expires_at <= clock.now)
            ).scalar_one()
        assert expired == 0
    finally:
        engine.dispose()
    assert await store.get(live) == "y"


async def test_privacy_purge_deletes_expired_callbacks(
    callbacks_db_url: str, stores: StoreFactory, tmp_path: Path
) -> None:
    store, k = stores(), key()
    await store.set(k, "x", 0.01)
    await asyncio.sleep(0.05)
    tickets = TicketService.from_url(callbacks_db_url)
    tracker = make_engine(f"sqlite:///{tmp_path / 'tracker.db'}")
    try:
        result = purge(tickets, tracker, days=180)
    finally:
        tickets.dispose()
        tracker.dispose()
    assert result["wechat_callbacks_deleted"] >= 1
    assert await store.get(k) is None


def test_only_postgresql_and_sqlite_are_supported() -> None:
    with pytest.raises(ValueError, match="PostgreSQL or SQLite"):
        SqlStore("mysql://u@127.0.0.1/db")
