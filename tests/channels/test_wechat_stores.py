"""Dedup store and access-token cache: in-process, and shared through Redis (REDIS_URL_TEST)."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from wechat_support import (
    ACCOUNT,
    FakeApi,
    FakeBot,
    OfficialAccount,
    official_account,
    require_redis,
    serve,
    text_xml,
    xml_fields,
)

from bot.channels.wechat_dedup import PASSIVE, Deduplicator, Outcome
from bot.channels.wechat_store import KeyValueStore, MemoryStore, RedisStore
from bot.channels.wechat_token import AccessTokenCache, TokenError

PLATFORM = OfficialAccount()


class CountingFetcher:
    """A token endpoint stand-in that counts calls."""

    def __init__(self, expires_in: int = 7200, delay: float = 0.1) -> None:
        self.calls = 0
        self.expires_in = expires_in
        self.delay = delay

    async def __call__(self) -> tuple[str, int]:
        self.calls += 1
        await asyncio.sleep(self.delay)
        return f"TOKEN_{self.calls}", self.expires_in


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    """A unique key prefix in REDIS_URL_TEST, deleted afterwards."""
    url = require_redis()
    prefix = f"test:wechat:{uuid.uuid4().hex}"
    yield prefix
    client = aioredis.from_url(url)
    keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
    if keys:
        await client.delete(*keys)
    await client.close()


# -- in-process ------------------------------------------------------------------------


async def test_memory_store_is_atomic_and_expires() -> None:
    store = MemoryStore()
    results = await asyncio.gather(*(store.set_if_absent("k", str(i), 0.2) for i in range(20)))
    assert results.count(True) == 1
    await asyncio.sleep(0.25)
    assert await store.get("k") is None
    assert await store.set_if_absent("k", "again", 1)
    await store.delete("k", only_if="other")
    assert await store.get("k") == "again"


async def test_memory_dedup_and_outcome() -> None:
    dedup = Deduplicator(MemoryStore(), "t", ttl=5)
    assert [await dedup.claim("m1") for _ in range(3)] == [True, False, False]
    waiter = asyncio.create_task(dedup.wait_outcome("m1", timeout=2))
    await asyncio.sleep(0.1)
    await dedup.publish("m1", Outcome(PASSIVE, "答复"))
    assert await waiter == Outcome(PASSIVE, "答复")
    assert await dedup.wait_outcome("m2", timeout=0.1) is None


async def test_memory_token_cache_shares_one_fetch() -> None:
    fetch = CountingFetcher()
    cache = AccessTokenCache(MemoryStore(), "tok", fetch)
    tokens = await asyncio.gather(*(cache.get() for _ in range(10)))
    assert set(tokens) == {"TOKEN_1"} and fetch.calls == 1
    await cache.invalidate("stale-token-from-someone-else")
    assert await cache.get() == "TOKEN_1"
    await cache.invalidate("TOKEN_1")
    assert await cache.get() == "TOKEN_2"
    assert fetch.calls == 2


async def test_token_is_refreshed_margin_seconds_before_it_expires() -> None:
    fetch = CountingFetcher(expires_in=1, delay=0)
    cache = AccessTokenCache(MemoryStore(), "tok", fetch, margin=0.3)
    assert await cache.get() == "TOKEN_1"
    await asyncio.sleep(0.5)
    assert await cache.get() == "TOKEN_1"
    await asyncio.sleep(0.3)  # 0.8 s > 1 s - 0.3 s margin
    assert await cache.get() == "TOKEN_2"


async def test_token_endpoint_errors_name_the_errcode_not_the_secret(api: FakeApi) -> None:
    channel = official_account(api)
    channel.api = dataclasses.replace(channel.api, secret="wrong-secret-value")
    with pytest.raises(TokenError) as raised:
        await channel.tokens.get()
    assert "40125" in str(raised.value) and "wrong-secret-value" not in str(raised.value)
    await channel.aclose()


# -- Redis --------------------------------------------------------------------------------


@pytest.mark.redis
async def test_redis_claim_is_atomic(redis_prefix: str) -> None:
    stores: list[KeyValueStore] = [RedisStore(require_redis()) for _ in range(4)]
    dedups = [Deduplicator(store, redis_prefix, ttl=30) for store in stores]
    results = await asyncio.gather(*(dedups[i % 4].claim("msg-1") for i in range(20)))
    assert results.count(True) == 1
    await dedups[0].publish("msg-1", Outcome(PASSIVE, "同一个答复"))
    assert await dedups[3].outcome("msg-1") == Outcome(PASSIVE, "同一个答复")
    for store in stores:
        await store.close()


@pytest.mark.redis
async def test_redis_token_cache_one_fetch_across_processes(redis_prefix: str) -> None:
    fetch = CountingFetcher(delay=0.3)
    stores = [RedisStore(require_redis()) for _ in range(3)]
    caches = [AccessTokenCache(s, f"{redis_prefix}:tok", fetch) for s in stores]
    tokens = await asyncio.gather(*(caches[i % 3].get() for i in range(12)))
    assert set(tokens) == {"TOKEN_1"}
    assert fetch.calls == 1
    ttl = await stores[0]._redis().pttl(f"{redis_prefix}:tok")
    assert 0 < ttl <= (7200 - 300) * 1000
    await caches[1].invalidate("TOKEN_1")
    assert await caches[2].get() == "TOKEN_2"
    assert await caches[0].get() == "TOKEN_2"
    assert fetch.calls == 2
    for store in stores:
        await store.close()


@pytest.mark.redis
async def test_two_channel_processes_share_the_token_from_the_fake_api(
    api: FakeApi, redis_prefix: str
) -> None:
    api.token_delay = 0.05
    channels = [
        official_account(api, redis_url=require_redis(), key_prefix=redis_prefix) for _ in range(2)
    ]
    try:
        for _ in range(5):  # a fresh cache each round; the Redis lock must hold every time
            await channels[0]._store.delete(f"{redis_prefix}:access_token")
            before = len(api.token_fetches)
            tokens = await asyncio.gather(*(channels[i % 2].tokens.get() for i in range(6)))
            assert len(set(tokens)) == 1
            assert len(api.token_fetches) == before + 1
    finally:
        for channel in channels:
            await channel.aclose()


@pytest.mark.redis
async def test_retries_spread_over_two_processes_give_one_turn(
    api: FakeApi, redis_prefix: str
) -> None:
    bots = [FakeBot(delay=0.4), FakeBot(delay=0.4)]
    channels = [
        official_account(api, redis_url=require_redis(), key_prefix=redis_prefix, reply_timeout=2)
        for _ in range(2)
    ]
    xml = text_xml("查一下我的工单", 424242)
    async with serve(channels[0], bots[0]) as a, serve(channels[1], bots[1]) as b:
        first = asyncio.create_task(a.post(PLATFORM.encrypted(xml)))
        await asyncio.sleep(0.05)
        retries = await asyncio.gather(
            b.post(PLATFORM.encrypted(xml)), b.post(PLATFORM.encrypted(xml))
        )
        results = [await first, *retries]
    assert len(bots[0].turns) + len(bots[1].turns) == 1
    contents = {PLATFORM.open_reply(body)["Content"] for status, body in results if status == 200}
    assert contents == {"已收到您的消息（第1条）。"}
    assert api.messages == []


@pytest.mark.redis
async def test_slow_answer_with_retries_on_two_processes_is_sent_once(
    api: FakeApi, redis_prefix: str
) -> None:
    bots = [FakeBot(delay=0.7), FakeBot(delay=0.7)]
    channels = [
        official_account(api, redis_url=require_redis(), key_prefix=redis_prefix, reply_timeout=0.2)
        for _ in range(2)
    ]
    xml = text_xml("我要解绑", 434343)
    async with serve(channels[0], bots[0]) as a, serve(channels[1], bots[1]) as b:
        results = await asyncio.gather(
            a.post(PLATFORM.plaintext(xml)),
            b.post(PLATFORM.plaintext(xml)),
            b.post(PLATFORM.plaintext(xml)),
        )
        for channel in channels:
            await channel.wait_idle()
        sent = list(api.messages)
        # the numbered options live in Redis: the other process understands "1"
        owner = 0 if bots[0].turns else 1
        bots[1 - owner].delay = 0
        other = (a, b)[1 - owner]
        _, body = await other.post(PLATFORM.plaintext(text_xml("1", 434344)))
    assert results == [(200, b"success")] * 3
    assert len(bots[owner].turns) == 1
    assert len(sent) == 1
    assert sent[0]["body"]["text"]["content"].startswith("请问解绑的原因是什么？")
    assert bots[1 - owner].texts == ['/inform{"unbind_reason":"更换设备"}']
    assert xml_fields(body)["FromUserName"] == ACCOUNT
