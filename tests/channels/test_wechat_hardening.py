"""The reply budget, bounded claims, stale-claim takeover and callback freshness
(timestamp window, replayed signatures, plaintext in safe mode), over real HTTP.

No test measures elapsed time: slow steps are a fake clock, or a claim that blocks
until the test lets it go, and each test checks which reply path was taken.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from wechat_support import (
    ACCOUNT,
    OPENID,
    FakeApi,
    FakeBot,
    OfficialAccount,
    WeComServer,
    official_account,
    require_redis,
    serve,
    text_xml,
    wecom_app,
    wecom_xml,
    xml_fields,
)

from bot.channels.wechat_base import CLAIM_TIMEOUT, TIMESTAMP_TOLERANCE
from bot.channels.wechat_dedup import Deduplicator
from bot.channels.wechat_store import MemoryStore
from bot.launcher import free_port

PLATFORM = OfficialAccount()
WECOM = WeComServer()
ANSWER = "已收到您的消息（第1条）。"


class FakeClock:
    """A clock that the test (or a fake store) moves forward."""

    def __init__(self, base: float) -> None:
        self.now = base

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class MonotonicPlus:
    """``time.monotonic()`` plus the seconds a fake slow step "took"."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.offset


class SlowClaims(MemoryStore):
    """Claims that "take" ``seconds`` on the channel's budget clock (returning at once)."""

    def __init__(self, clock: MonotonicPlus, seconds: float) -> None:
        super().__init__()
        self.clock = clock
        self.seconds = seconds

    async def set_if_absent(self, key: str, value: str, ttl: float) -> bool:
        self.clock.offset += self.seconds
        return await super().set_if_absent(key, value, ttl)


class BlockedClaims(MemoryStore):
    """Claims that block until the test sets ``go`` (longer than any budget)."""

    def __init__(self) -> None:
        super().__init__()
        self.go = asyncio.Event()

    async def set_if_absent(self, key: str, value: str, ttl: float) -> bool:
        await self.go.wait()
        return await super().set_if_absent(key, value, ttl)


def claim_key(channel: object, msg_id: int) -> str:
    return f"{channel.settings.key_prefix}:claim:{ACCOUNT}:{msg_id}"  # type: ignore[attr-defined]


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    """A unique key prefix in REDIS_URL_TEST, deleted afterwards."""
    import redis.asyncio as aioredis

    prefix = f"test:hardening:{uuid.uuid4().hex}"
    yield prefix
    client = aioredis.from_url(require_redis())
    keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
    if keys:
        await client.delete(*keys)
    await client.close()


# -- P1: the reply budget starts when the callback arrives ----------------------------------


async def test_time_spent_claiming_counts_against_the_reply_budget(api: FakeApi) -> None:
    """The same 0.6 s answer: passive after a quick claim, through the API after a claim
    that used 1.9 s of the 2 s budget."""
    results = {}
    for claim_seconds in (0.0, 1.9):
        bot = FakeBot(delay=0.6)
        channel = official_account(api, reply_timeout=2.0)
        clock = MonotonicPlus()
        channel.monotonic = clock
        channel._dedup = Deduplicator(SlowClaims(clock, claim_seconds), channel.settings.key_prefix)
        async with serve(channel, bot) as served:
            results[claim_seconds] = await served.post(
                PLATFORM.plaintext(text_xml("查询进度", 11_000 + int(claim_seconds * 10)))
            )
            await channel.wait_idle()
        assert len(bot.turns) == 1
    assert results[0.0][0] == 200 and xml_fields(results[0.0][1])["Content"] == ANSWER
    assert results[1.9] == (200, b"success")
    assert api.contents() == [ANSWER]  # only the slow-claim turn went through the API


async def test_budget_used_up_before_the_turn_still_answers_once_through_the_api(
    api: FakeApi,
) -> None:
    bot = FakeBot()
    channel = official_account(api, reply_timeout=1.0)
    clock = MonotonicPlus()
    channel.monotonic = clock
    channel._dedup = Deduplicator(SlowClaims(clock, 1.2), channel.settings.key_prefix)
    async with serve(channel, bot) as served:
        status, body = await served.post(PLATFORM.plaintext(text_xml("你好", 11_100)))
        await channel.wait_idle()
    assert (status, body) == (200, b"success")
    assert len(bot.turns) == 1
    assert api.contents() == [ANSWER]


async def test_a_claim_that_blocks_past_the_bound_gets_503_and_is_released_later(
    api: FakeApi, bot: FakeBot
) -> None:
    channel = official_account(api)
    assert channel.claim_timeout == CLAIM_TIMEOUT == 1.5
    store = BlockedClaims()
    channel._dedup = Deduplicator(store, channel.settings.key_prefix)
    callback = PLATFORM.plaintext(text_xml("我要解绑", 11_200))
    async with serve(channel, bot) as served:
        assert await served.post(callback) == (503, b"temporarily unavailable")
        assert bot.turns == []
        store.go.set()  # the claim finally goes through, after its caller gave up ...
        for _ in range(200):
            if not channel._tasks and await store.get(claim_key(channel, 11_200)) is None:
                break
            await asyncio.sleep(0.01)
        # ... and is released, so WeChat's retry owns the turn and gets the answer
        assert await store.get(claim_key(channel, 11_200)) is None
        status, body = await served.post(PLATFORM.plaintext(text_xml("我要解绑", 11_200)))
    assert status == 200
    assert xml_fields(body)["Content"].startswith("请问解绑的原因是什么？")
    assert len(bot.turns) == 1


# -- P4: a claim whose owner died is taken over ------------------------------------------------


async def test_a_stale_claim_without_an_outcome_is_taken_over_by_a_retry(api: FakeApi) -> None:
    bot = FakeBot()
    channel = official_account(api, reply_timeout=1.0)
    clock = FakeClock(time.time())
    channel._dedup.clock = clock
    dead_process = Deduplicator(channel._dedup_store, channel.settings.key_prefix, clock=clock)
    assert await dead_process.claim(f"{ACCOUNT}:11300")  # claimed, then the process died
    async with serve(channel, bot) as served:
        early = await served.post(PLATFORM.plaintext(text_xml("你好", 11_300)))
        clock.advance(channel._dedup.stale_after + 1)
        takeovers = await asyncio.gather(
            *(served.post(PLATFORM.plaintext(text_xml("你好", 11_300))) for _ in range(3))
        )
        clock.advance(60)
        later = await served.post(PLATFORM.plaintext(text_xml("你好", 11_300)))
    assert early == (200, b"success")  # the owner may still be working: wait, don't duplicate
    assert len(bot.turns) == 1
    assert {xml_fields(body)["Content"] for _, body in [*takeovers, later]} == {ANSWER}
    assert channel._dedup.stale_after == 2.0  # twice the reply budget


# -- P3: timestamps, replayed signatures, plaintext in safe mode --------------------------


@pytest.mark.parametrize("offset", [-(TIMESTAMP_TOLERANCE + 60), TIMESTAMP_TOLERANCE + 60])
async def test_timestamps_far_from_now_are_refused(
    api: FakeApi, bot: FakeBot, offset: int
) -> None:
    stamp = str(int(time.time()) + offset)
    xml = text_xml("你好", 11_400)
    async with serve(official_account(api), bot) as served:
        plain = await served.post(PLATFORM.plaintext(xml, timestamp=stamp))
        safe = await served.post(PLATFORM.encrypted(xml, timestamp=stamp))
    async with serve(wecom_app(api), bot) as served:
        wecom = await served.post(
            WECOM.encrypted(wecom_xml("text", {"Content": "x"}, 1), timestamp=stamp)
        )
    assert plain == safe == wecom == (403, b"timestamp too far from the server's clock")
    assert bot.turns == []


async def test_timestamps_within_the_window_and_malformed_ones(
    api: FakeApi, bot: FakeBot
) -> None:
    inside = str(int(time.time()) - (TIMESTAMP_TOLERANCE - 60))
    async with serve(official_account(api), bot) as served:
        ok = await served.post(PLATFORM.plaintext(text_xml("你好", 11_500), timestamp=inside))
        bad = await served.post(PLATFORM.plaintext(text_xml("你好", 11_501), timestamp="17e8"))
    assert ok[0] == 200 and xml_fields(ok[1])["Content"] == ANSWER
    assert bad == (400, b"invalid timestamp")
    assert bot.texts == ["你好"]


async def test_signed_query_reused_with_another_body_is_refused(
    api: FakeApi, bot: FakeBot
) -> None:
    """Plaintext mode signs only token+timestamp+nonce: a logged query string must not
    carry a forged message (here, as another merchant)."""
    genuine = PLATFORM.plaintext(text_xml("查询进度", 11_600))
    forged_body = text_xml("转人工", 11_601, sender="oVICTIM_openid").encode()
    async with serve(official_account(api), bot) as served:
        first = await served.post(genuine)
        forged = await served.post_raw(genuine.params, forged_body)
        retry = await served.post(genuine)  # the platform's own retry: same query, same body
    assert first[0] == 200 and retry == first
    assert forged == (403, b"timestamp and nonce already used for another message")
    assert [(t.sender_id, t.text) for t in bot.turns] == [(OPENID, "查询进度")]


async def test_replayed_timestamp_and_nonce_in_safe_mode_and_wecom(
    api: FakeApi, bot: FakeBot
) -> None:
    stamp, nonce = str(int(time.time())), "fixednonce1"
    async with serve(official_account(api), bot) as served:
        first = await served.post(PLATFORM.encrypted(text_xml("一", 11_700), stamp, nonce))
        again = await served.post(PLATFORM.encrypted(text_xml("二", 11_701), stamp, nonce))
    wecom_bot = FakeBot()
    async with serve(wecom_app(api), wecom_bot) as served:
        w_first = await served.post(
            WECOM.encrypted(wecom_xml("text", {"Content": "一"}, 1), timestamp=stamp, nonce=nonce)
        )
        w_again = await served.post(
            WECOM.encrypted(wecom_xml("text", {"Content": "二"}, 2), timestamp=stamp, nonce=nonce)
        )
    assert first[0] == 200 and w_first[0] == 200
    assert again[0] == w_again[0] == 403
    assert bot.texts == ["一"] and wecom_bot.texts == ["一"]


@pytest.mark.redis
async def test_replay_cache_is_shared_through_redis(api: FakeApi, redis_prefix: str) -> None:
    bots = [FakeBot(), FakeBot()]
    channels = [
        official_account(api, redis_url=require_redis(), key_prefix=redis_prefix)
        for _ in range(2)
    ]
    genuine = PLATFORM.plaintext(text_xml("查询进度", 11_800))
    async with serve(channels[0], bots[0]) as a, serve(channels[1], bots[1]) as b:
        assert (await a.post(genuine))[0] == 200
        forged = await b.post_raw(genuine.params, text_xml("转人工", 11_801).encode())
    assert forged[0] == 403
    assert bots[0].texts == ["查询进度"] and bots[1].turns == []


async def test_replay_cache_falls_back_to_the_process_when_redis_is_down(
    api: FakeApi, bot: FakeBot, callbacks_db_url: str
) -> None:
    channel = official_account(
        api, redis_url=f"redis://127.0.0.1:{free_port()}/0", database_url=callbacks_db_url
    )
    genuine = PLATFORM.plaintext(text_xml("查询进度", 11_900))
    async with serve(channel, bot) as served:
        assert (await served.post(genuine))[0] == 200
        forged = await served.post_raw(genuine.params, text_xml("转人工", 11_901).encode())
    assert forged[0] == 403
    assert bot.texts == ["查询进度"]


XXE = (
    '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    f"<xml><ToUserName>{ACCOUNT}</ToUserName><FromUserName>{OPENID}</FromUserName>"
    "<CreateTime>1</CreateTime><MsgType>text</MsgType><Content>&xxe;</Content></xml>"
)


async def test_safe_mode_refuses_plaintext_before_reading_the_body(
    api: FakeApi, bot: FakeBot
) -> None:
    channel = official_account(api, allow_plaintext=False)
    refused = b"plaintext callbacks are refused in safe mode"
    async with serve(channel, bot) as served:
        plain = await served.post(PLATFORM.plaintext(text_xml("你好", 12_000)))
        xxe = await served.post_raw(PLATFORM.plaintext("").params, XXE.encode())
        safe = await served.post(PLATFORM.encrypted(text_xml("你好", 12_001)))
    assert plain == xxe == (403, refused)
    assert safe[0] == 200 and PLATFORM.open_reply(safe[1])["Content"] == ANSWER
    assert bot.texts == ["你好"]


async def test_plaintext_only_channel_still_takes_plaintext(api: FakeApi, bot: FakeBot) -> None:
    channel = official_account(api, aes=False, allow_plaintext=False)
    async with serve(channel, bot) as served:
        status, body = await served.post(PLATFORM.plaintext(text_xml("你好", 12_100)))
    assert status == 200 and xml_fields(body)["Content"] == ANSWER


# -- P4: the caller's address in rejection logs ------------------------------------------------


@pytest.mark.parametrize(("proxies", "logged"), [(0, "127.0.0.1"), (1, "198.51.100.7")])
async def test_rejections_log_the_forwarded_caller_only_behind_trusted_proxies(
    api: FakeApi, bot: FakeBot, caplog: pytest.LogCaptureFixture, proxies: int, logged: str
) -> None:
    caplog.set_level(logging.WARNING)
    forged = OfficialAccount(token="guessed-token").plaintext(text_xml("x", 12_200))
    headers = {"X-Forwarded-For": "203.0.113.9, 198.51.100.7"}
    async with serve(official_account(api, proxies_count=proxies), bot) as served:
        assert (await served.post_raw(forged.params, forged.body, headers))[0] == 403
    [line] = [r.getMessage() for r in caplog.records if "rejected (403)" in r.getMessage()]
    assert line.endswith(f"from {logged}")
    assert "203.0.113.9" not in line
