"""Retry dedup that survives Redis: claims decided by the database, Redis in front,
and Redis (or the in-process cache) deciding while the database is down.

Losing Redis's keys (``shutdown nosave`` in the load test) is simulated by deleting
every key under the test's prefix, which is all a channel writes; FLUSHDB would also
wipe keys of tests running in parallel on the same Redis database.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy.exc import OperationalError
from wechat_support import (
    FakeApi,
    FakeBot,
    OfficialAccount,
    official_account,
    require_redis,
    serve,
    text_xml,
)

from bot.channels.wechat import WeChatInput
from bot.channels.wechat_dedup import ASYNC, PASSIVE, Deduplicator, Outcome
from bot.channels.wechat_sqlstore import SqlStore
from bot.channels.wechat_store import KeyValueStore, MemoryStore, RedisStore, TieredStore
from bot.launcher import free_port

PLATFORM = OfficialAccount()


def down_redis() -> str:
    """A Redis URL on a port nothing listens on."""
    return f"redis://127.0.0.1:{free_port()}/0"


def down_database() -> str:
    """A PostgreSQL URL on a port nothing listens on."""
    return f"postgresql://postgres@127.0.0.1:{free_port()}/test?connect_timeout=3"


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    """A unique key prefix; its Redis keys are deleted afterwards."""
    name = f"test:durable:{uuid.uuid4().hex}"
    yield name
    await forget_redis(name)


async def forget_redis(prefix: str) -> int:
    """Delete every Redis key under ``prefix``, as a restart without persistence does."""
    client = aioredis.from_url(require_redis())
    try:
        keys = [k async for k in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
        return len(keys)
    finally:
        await client.close()


class Stores:
    """Stores made by a test, closed at the end."""

    def __init__(self) -> None:
        self.made: list[KeyValueStore] = []

    def tiered(self, database_url: str, fast: KeyValueStore | None = None) -> TieredStore:
        store = TieredStore(fast or RedisStore(require_redis()), SqlStore(database_url))
        self.made.append(store)
        return store

    async def close(self) -> None:
        for store in self.made:
            await store.close()


@pytest.fixture
async def stores() -> AsyncIterator[Stores]:
    made = Stores()
    yield made
    await made.close()


# -- the store ---------------------------------------------------------------------------


@pytest.mark.redis
async def test_a_claim_and_its_outcome_survive_losing_the_redis_keys(
    callbacks_db_url: str, prefix: str, stores: Stores
) -> None:
    dedup = Deduplicator(stores.tiered(callbacks_db_url), prefix)
    assert await dedup.claim("m1") and await dedup.claim("m2")
    await dedup.publish("m1", Outcome(PASSIVE, "您的工单正在处理。"))
    await dedup.publish("m2", Outcome(ASYNC))
    assert await forget_redis(prefix) == 4  # two claims (mirrored) and two outcomes

    restarted = Deduplicator(stores.tiered(callbacks_db_url, fast=MemoryStore()), prefix)
    for process in (dedup, restarted):
        assert not await process.claim("m1")
        assert not await process.claim("m2")
        assert await process.wait_outcome("m1", 1) == Outcome(PASSIVE, "您的工单正在处理。")
        assert await process.outcome("m2") == Outcome(ASYNC)
    assert await restarted.claim("m3")


@pytest.mark.redis
async def test_redis_alone_forgets_claims_when_it_loses_its_keys(prefix: str) -> None:
    """The failure of the load test, for comparison: a retry after the loss looks new."""
    store = RedisStore(require_redis())
    dedup = Deduplicator(store, prefix)
    assert await dedup.claim("m1")
    await forget_redis(prefix)
    assert await dedup.claim("m1")
    await store.close()


@pytest.mark.redis
async def test_concurrent_claims_from_four_processes_have_one_winner(
    callbacks_db_url: str, prefix: str, stores: Stores
) -> None:
    processes = [Deduplicator(stores.tiered(callbacks_db_url), prefix) for _ in range(4)]
    for round_ in range(5):
        msg = f"race-{round_}"
        results = await asyncio.gather(*(processes[i % 4].claim(msg) for i in range(20)))
        assert results.count(True) == 1
        owner = processes[results.index(True) % 4]
        await owner.publish(msg, Outcome(PASSIVE, f"答复{round_}"))
        for process in processes:
            assert await process.outcome(msg) == Outcome(PASSIVE, f"答复{round_}")


@pytest.mark.redis
async def test_an_expired_claim_can_be_claimed_again(
    callbacks_db_url: str, prefix: str, stores: Stores
) -> None:
    dedup = Deduplicator(stores.tiered(callbacks_db_url), prefix, ttl=0.5)
    assert await dedup.claim("m1")
    await dedup.publish("m1", Outcome(PASSIVE, "旧答复"))
    assert not await dedup.claim("m1")
    await asyncio.sleep(0.6)
    assert await dedup.outcome("m1") is None
    assert await dedup.claim("m1")
    assert not await dedup.claim("m1")


@pytest.mark.redis
async def test_outcomes_go_to_both_and_are_read_from_redis_first(
    callbacks_db_url: str, prefix: str, stores: Stores
) -> None:
    store = stores.tiered(callbacks_db_url)
    await store.set(f"{prefix}:k", "v", 60)
    assert await store.fast.get(f"{prefix}:k") == "v"
    assert await store.durable.get(f"{prefix}:k") == "v"
    await store.fast.set(f"{prefix}:k", "from redis", 60)
    assert await store.get(f"{prefix}:k") == "from redis"
    await forget_redis(prefix)
    assert await store.get(f"{prefix}:k") == "v"


@pytest.mark.redis
async def test_with_redis_down_the_database_decides_and_answers(
    callbacks_db_url: str, prefix: str, stores: Stores
) -> None:
    dedup = Deduplicator(stores.tiered(callbacks_db_url, fast=RedisStore(down_redis())), prefix)
    assert await dedup.claim("m1")
    assert not await dedup.claim("m1")
    await dedup.publish("m1", Outcome(PASSIVE, "答复"))
    assert await dedup.wait_outcome("m1", 1) == Outcome(PASSIVE, "答复")


class HangingStore(MemoryStore):
    """A database that accepts connections and then never answers a claim."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    async def set_if_absent(self, key: str, value: str, ttl: float) -> bool:
        self.calls += 1
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


@pytest.mark.redis
async def test_with_the_database_down_redis_decides_claims_and_keeps_outcomes(
    prefix: str, stores: Stores
) -> None:
    """Claims fall back to Redis SET NX PX; an outcome still reaches Redis. Only when
    Redis is down too does a claim (or a publish) fail."""
    dedup = Deduplicator(stores.tiered(down_database()), prefix)
    other_process = Deduplicator(stores.tiered(down_database()), prefix)
    assert await dedup.claim("m1")
    assert not await other_process.claim("m1")
    assert not await dedup.claim("m1")
    await dedup.publish("m1", Outcome(PASSIVE, "答复"))
    assert await other_process.outcome("m1") == Outcome(PASSIVE, "答复")
    with pytest.raises(OperationalError):  # Redis has no answer, the database fails
        await dedup.outcome("m2")
    assert await dedup.wait_outcome("m2", 0.2) is None  # a failing poll is "not yet"
    both_down = Deduplicator(stores.tiered(down_database(), fast=RedisStore(down_redis())), "p")
    with pytest.raises(RedisConnectionError):
        await both_down.claim("m1")
    with pytest.raises(OperationalError):
        await both_down.publish("m1", Outcome(PASSIVE, "答复"))


async def test_with_the_database_down_and_no_redis_the_process_cache_decides(
    stores: Stores,
) -> None:
    dedup = Deduplicator(stores.tiered(down_database(), fast=MemoryStore()), "p")
    assert [await dedup.claim("m1") for _ in range(3)] == [True, False, False]


async def test_a_hanging_database_claim_falls_back_after_the_claim_timeout() -> None:
    durable = HangingStore()
    dedup = Deduplicator(TieredStore(MemoryStore(), durable, claim_timeout=0.05), "p")
    assert await dedup.claim("m1")
    assert not await dedup.claim("m1")
    assert durable.calls == 2  # the database was asked each time


@pytest.mark.redis
async def test_a_claim_made_in_redis_during_an_outage_holds_when_the_database_is_back(
    callbacks_db_url: str, prefix: str, stores: Stores
) -> None:
    during_outage = Deduplicator(stores.tiered(down_database()), prefix)
    assert await during_outage.claim("m1")
    recovered = stores.tiered(callbacks_db_url)
    after = Deduplicator(recovered, prefix)
    assert not await after.claim("m1")  # the database alone would have said "new"
    # the database row that retry won was given back, so nobody else is blocked by it
    assert await recovered.durable.get(f"{prefix}:claim:m1") is None
    await during_outage.publish("m1", Outcome(ASYNC))
    assert await after.wait_outcome("m1", 1) == Outcome(ASYNC)


class Clock:
    """A wall clock shared by the "processes" of a test, moved by hand."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.redis
async def test_a_stale_claim_is_taken_over_by_exactly_one_of_many_retries(
    callbacks_db_url: str, prefix: str, stores: Stores
) -> None:
    clock = Clock()
    processes = [
        Deduplicator(stores.tiered(callbacks_db_url), prefix, stale_after=8, clock=clock)
        for _ in range(4)
    ]
    assert await processes[0].claim("m1")  # ... and then that process died
    clock.now += 7
    assert not any(await asyncio.gather(*(p.claim("m1") for p in processes)))
    clock.now += 2
    results = await asyncio.gather(*(processes[i % 4].claim("m1") for i in range(20)))
    assert results.count(True) == 1
    winner = processes[results.index(True) % 4]
    await winner.publish("m1", Outcome(PASSIVE, "答复"))
    clock.now += 60
    assert not any(await asyncio.gather(*(p.claim("m1") for p in processes)))


async def test_claims_with_an_outcome_or_without_a_time_are_never_taken_over() -> None:
    clock, store = Clock(), MemoryStore()
    dedup = Deduplicator(store, "p", stale_after=8, clock=clock)
    assert await dedup.claim("answered")
    await dedup.publish("answered", Outcome(ASYNC))
    await store.set("p:claim:legacy", "1", 600)  # written before claims carried a time
    clock.now += 3600
    assert not await dedup.claim("answered")
    assert not await dedup.claim("legacy")


# -- the channel -------------------------------------------------------------------------


@pytest.mark.redis
async def test_a_retry_after_redis_lost_its_keys_gets_the_answer_without_a_second_turn(
    api: FakeApi, callbacks_db_url: str, prefix: str
) -> None:
    bots = [FakeBot(), FakeBot()]
    channels = [
        official_account(
            api, redis_url=require_redis(), database_url=callbacks_db_url, key_prefix=prefix
        )
        for _ in range(2)
    ]
    xml = text_xml("查一下我的工单", 515151)
    async with serve(channels[0], bots[0]) as a, serve(channels[1], bots[1]) as b:
        first = await a.post(PLATFORM.encrypted(xml))
        assert await forget_redis(prefix) > 0
        retries = [await b.post(PLATFORM.encrypted(xml)), await a.post(PLATFORM.encrypted(xml))]
    assert len(bots[0].turns) + len(bots[1].turns) == 1
    assert [status for status, _ in [first, *retries]] == [200, 200, 200]
    contents = {PLATFORM.open_reply(body)["Content"] for _, body in [first, *retries]}
    assert contents == {"已收到您的消息（第1条）。"}


@pytest.mark.redis
async def test_with_redis_down_the_channel_still_answers_retries_once(
    api: FakeApi, bot: FakeBot, callbacks_db_url: str, prefix: str
) -> None:
    channel = official_account(
        api, redis_url=down_redis(), database_url=callbacks_db_url, key_prefix=prefix
    )
    xml = text_xml("你好", 525252)
    async with serve(channel, bot) as served:
        results = [await served.post(PLATFORM.encrypted(xml)) for _ in range(3)]
    assert len(bot.turns) == 1
    assert {PLATFORM.open_reply(body)["Content"] for status, body in results if status == 200} \
        == {"已收到您的消息（第1条）。"}
    assert [status for status, _ in results] == [200, 200, 200]


@pytest.mark.redis
async def test_database_down_redis_up_gives_one_turn_and_200s(
    api: FakeApi, prefix: str
) -> None:
    """Two processes, the database unreachable: Redis decides, every retry gets 200."""
    bots = [FakeBot(delay=0.2), FakeBot(delay=0.2)]
    channels = [
        official_account(
            api,
            redis_url=require_redis(),
            database_url=down_database(),
            key_prefix=prefix,
            reply_timeout=2.0,
        )
        for _ in range(2)
    ]
    xml = text_xml("你好", 535353)
    async with serve(channels[0], bots[0]) as a, serve(channels[1], bots[1]) as b:
        results = await asyncio.gather(
            a.post(PLATFORM.encrypted(xml)),
            b.post(PLATFORM.encrypted(xml)),
            a.post(PLATFORM.encrypted(xml)),
        )
        late = await b.post(PLATFORM.encrypted(xml))
    assert len(bots[0].turns) + len(bots[1].turns) == 1
    assert [status for status, _ in [*results, late]] == [200] * 4
    contents = {PLATFORM.open_reply(body)["Content"] for _, body in [*results, late]}
    assert contents == {"已收到您的消息（第1条）。"}


async def test_database_down_without_redis_answers_from_the_process_cache(
    api: FakeApi, bot: FakeBot
) -> None:
    channel = official_account(api, database_url=down_database())
    xml = text_xml("你好", 545454)
    async with serve(channel, bot) as served:
        results = [await served.post(PLATFORM.encrypted(xml)) for _ in range(3)]
    assert [status for status, _ in results] == [200, 200, 200]
    assert len(bot.turns) == 1


async def test_database_and_redis_down_answers_503(api: FakeApi, bot: FakeBot) -> None:
    """Nothing can decide the claim: 503 (WeChat retries), Rasa never called."""
    channel = official_account(api, redis_url=down_redis(), database_url=down_database())
    async with serve(channel, bot) as served:
        status, body = await served.post(PLATFORM.encrypted(text_xml("你好", 555555)))
    assert (status, body) == (503, b"temporarily unavailable")
    assert bot.turns == []


def test_channels_record_claims_in_the_ticket_database(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/jiebang")
    monkeypatch.delenv("REDIS_URL", raising=False)
    channel = WeChatInput.from_credentials(None)
    assert channel.settings.database_url == "postgresql://postgres@127.0.0.1:5432/jiebang"
    assert isinstance(channel._dedup_store, TieredStore)
    assert isinstance(channel._dedup_store.fast, MemoryStore)
    assert isinstance(channel._dedup_store.durable, SqlStore)
