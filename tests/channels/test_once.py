"""Exactly-once turns (``bot.channels.once``) shared by replicas, on every backend.

Each "replica" is a :class:`Once` with stores of its own (its own engine, its own
in-process cache), as two Rasa processes have; only the database or Redis is shared.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable

import pytest
from wechat_support import require_redis

from bot.channels.once import Once
from bot.channels.wechat_dedup import Deduplicator
from bot.channels.wechat_sqlstore import dedup_store
from bot.channels.wechat_store import MemoryStore, RedisStore, TieredStore

Replica = Callable[..., Once]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres),
                        pytest.param("redis", marks=pytest.mark.redis),
                        pytest.param("postgresql+redis",
                                     marks=[pytest.mark.postgres, pytest.mark.redis])])
async def replicas(request: pytest.FixtureRequest) -> AsyncIterator[Replica]:
    """Makes replicas sharing the backend named by the parameter."""
    backend = request.param
    database = (request.getfixturevalue("callbacks_db_url_pg") if "postgresql" in backend
                else request.getfixturevalue("callbacks_db_url_sqlite"))
    redis_url = require_redis() if "redis" in backend else None
    prefix = f"test:once:{uuid.uuid4().hex}"
    made: list[Once] = []

    def replica(stale_after: float = 20.0) -> Once:
        if backend == "redis":  # Redis alone (no database tier) is shared as well
            store = RedisStore(redis_url)
        else:
            store = dedup_store(RedisStore(redis_url) if redis_url else MemoryStore(), database)
        once = Once(store, prefix, stale_after=stale_after, poll=0.05)
        made.append(once)
        return once

    yield replica
    for once in made:
        await once.close()
    if redis_url:
        import redis.asyncio as aioredis

        client = aioredis.from_url(redis_url)
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
        await client.close()


class Turn:
    """A turn that records its runs and, if asked, waits to be let go."""

    def __init__(self, answer: str | None = "answer", hold: bool = False) -> None:
        self.answer = answer
        self.runs = 0
        self.retried: list[bool] = []
        self.started = asyncio.Event()
        self.go = asyncio.Event()
        if not hold:
            self.go.set()

    async def __call__(self, retried: bool) -> str | None:
        self.runs += 1
        self.retried.append(retried)
        self.started.set()
        await self.go.wait()
        return self.answer


async def test_a_resend_to_another_replica_gets_the_first_answer(replicas: Replica) -> None:
    first, second = replicas(), replicas()
    turn = Turn("你好，我是解绑助手")
    handled = await first.handle("m1", "id-1", turn, wait=5)
    assert (handled.first, handled.answer) == (True, "你好，我是解绑助手")
    again = await second.handle("m1", "id-1", Turn("never"), wait=5)
    assert (again.first, again.answer) == (False, "你好，我是解绑助手")
    assert turn.runs == 1
    other = await second.handle("m2", "id-1", Turn("m2's"), wait=5)  # another sender
    assert (other.first, other.answer) == (True, "m2's")


async def test_a_resend_during_the_turn_waits_for_its_answer(replicas: Replica) -> None:
    first, second = replicas(), replicas()
    turn = Turn("第一份回答", hold=True)
    owner = asyncio.create_task(first.handle("m1", "id-1", turn, wait=5))
    await turn.started.wait()
    resent = asyncio.create_task(second.handle("m1", "id-1", Turn("never"), wait=60))
    await asyncio.sleep(0.3)  # the resend is polling meanwhile
    assert not resent.done()
    turn.go.set()
    assert (await owner).first and (await resent).answer == "第一份回答"
    assert turn.runs == 1


async def test_a_resend_still_unanswered_after_its_wait_is_told_so(replicas: Replica) -> None:
    first, second = replicas(), replicas()
    turn = Turn(hold=True)
    owner = asyncio.create_task(first.handle("m1", "id-1", turn, wait=5))
    await turn.started.wait()
    handled = await second.handle("m1", "id-1", Turn("never"), wait=0.2)
    assert (handled.first, handled.answer) == (False, None)
    turn.go.set()
    await owner


async def test_a_failed_turn_is_taken_over_at_once_and_said_to_be_retried(
    replicas: Replica,
) -> None:
    first, second = replicas(), replicas()
    failing = Turn(answer=None)
    failed = await first.handle("m1", "id-1", failing, wait=5)
    assert (failed.first, failed.answer, failing.retried) == (True, None, [False])
    retried = Turn("这次成功了")
    assert (await second.handle("m1", "id-1", retried, wait=5)).first
    assert retried.retried == [True]  # the channel looks whether it was stored after all

    async def boom(retried: bool) -> str:
        raise RuntimeError("tracker store down")

    with pytest.raises(RuntimeError):
        await first.handle("m1", "id-2", boom, wait=5)
    again = Turn()
    assert (await second.handle("m1", "id-2", again, wait=5)).first
    assert again.retried == [True]
    assert not (await first.handle("m1", "id-2", Turn(), wait=5)).first  # now answered


async def test_a_dead_replicas_claim_is_taken_over(replicas: Replica) -> None:
    survivor = replicas(stale_after=0.5)
    # The dead replica claimed the message and then vanished: no answer, no renewal.
    dead = Deduplicator(survivor.store, survivor._dedup._prefix, ttl=600, stale_after=0.5)
    assert await dead.claim(Once.key("m1", "id-1"))
    turn = Turn("接手后的回答")
    handled = await survivor.handle("m1", "id-1", turn, wait=60)
    assert (handled.first, handled.answer, turn.retried) == (True, "接手后的回答", [True])


async def test_a_long_turn_keeps_its_claim(replicas: Replica) -> None:
    first, second = replicas(stale_after=1.5), replicas(stale_after=1.5)
    turn = Turn("慢慢处理完的回答", hold=True)
    owner = asyncio.create_task(first.handle("m1", "id-1", turn, wait=5))
    await turn.started.wait()
    resent = asyncio.create_task(second.handle("m1", "id-1", Turn("twice!"), wait=60))
    await asyncio.sleep(4.5)  # three times stale_after: renewed meanwhile, never stale
    turn.go.set()
    assert (await resent).answer == "慢慢处理完的回答"
    assert (await owner).first and turn.runs == 1


class DownStore(MemoryStore):
    """A store whose every call fails, as the database and Redis both down."""

    async def set_if_absent(self, key: str, value: str, ttl: float) -> bool:
        raise ConnectionError("down")

    async def get(self, key: str) -> str | None:
        raise ConnectionError("down")


async def test_with_no_store_at_all_the_message_is_still_processed() -> None:
    once = Once(TieredStore(DownStore(), DownStore()), "test:once:down")
    turn = Turn("照常回答")
    handled = await once.handle("m1", "id-1", turn, wait=1)
    assert (handled.first, handled.answer, turn.runs) == (True, "照常回答", 1)


class Flaky:
    """A durable store whose writes fail while ``down`` (a database restarting)."""

    def __init__(self, store) -> None:
        self.store = store
        self.down = False

    async def set_if_absent(self, key: str, value: str, ttl: float) -> bool:
        return await self.store.set_if_absent(key, value, ttl)

    async def set(self, key: str, value: str, ttl: float) -> None:
        if self.down:
            raise ConnectionError("the database system is shutting down")
        await self.store.set(key, value, ttl)

    async def get(self, key: str) -> str | None:
        return await self.store.get(key)

    async def delete(self, key: str, only_if: str | None = None) -> None:
        await self.store.delete(key, only_if)

    async def close(self) -> None:
        await self.store.close()


async def test_a_turn_failed_while_the_database_was_down_is_taken_over_at_once(
    callbacks_db_url_sqlite: str,
) -> None:
    from bot.channels.wechat_sqlstore import SqlStore

    redis = MemoryStore()  # shared by both replicas, as Redis is
    durable = Flaky(SqlStore(callbacks_db_url_sqlite))
    prefix = f"test:once:{uuid.uuid4().hex}"
    first = Once(TieredStore(redis, durable), prefix, stale_after=3600)
    second = Once(TieredStore(redis, durable), prefix, stale_after=3600)
    try:
        durable.down = True  # the failed mark reaches Redis only
        assert (await first.handle("m1", "id-1", Turn(answer=None), wait=1)).answer is None
        durable.down = False
        resent = Turn("重发后的回答")
        handled = await second.handle("m1", "id-1", resent, wait=1)
        assert (handled.first, handled.answer, resent.retried) == (True, "重发后的回答", [True])
    finally:
        await durable.close()
