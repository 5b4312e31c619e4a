"""Screening, log masking and rate limiting, in process (fuzzed with hypothesis)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.channels.screening import EMPTY_REPLY, MAX_MESSAGE_CHARS, admit, screen
from bot.logmask import install, mask_personal
from bot.ratelimit import SENDER_REPLY, RateLimiter
from bot.redaction import MASK, redact

HOSTILE = {
    "empty": "", "spaces": " \t\n　", "control": "\x00\x01\x1b\x7f", "rtl": "\u202e\u200f",
    "zero-width": "\u200b\ufeff", "surrogate": "\ud800", "not a string": 12345,
}


@pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
def test_nothing_to_say_gets_the_empty_reply(text: object) -> None:
    assert screen(text).reply == EMPTY_REPLY


def test_emoji_and_rtl_text_pass_cleaned() -> None:
    assert screen("😀😀").text == "😀😀"
    assert screen("\u202e我要解绑\u202c").text == "我要解绑"


def test_100_kb_is_refused_without_being_parsed() -> None:
    assert "太长" in (screen("解" * 100_000).reply or "")


def test_secrets_are_masked_before_the_bot_sees_them_and_still_count_as_secrets() -> None:
    screened = screen("我的支付密码是 Pay2024x")
    assert screened.text == f"我的支付密码是 {MASK}"
    assert redact(screened.text).found  # so NLU still answers share_secret


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=3000) | st.binary(max_size=200).map(lambda b: b.decode("latin-1")))
def test_screen_never_raises_and_passes_only_clean_short_text(text: str) -> None:
    screened = screen(text)
    assert (screened.reply is None) == bool(screened.text)
    if screened.reply is None:
        assert len(screened.text) <= MAX_MESSAGE_CHARS + len(MASK) * 10
        assert not any(unicodedata.category(c) in ("Cc", "Cs") and c not in "\n\t"
                       for c in screened.text)


def test_log_lines_mask_merchant_and_mobile_numbers_and_hide_secrets() -> None:
    line = "merchant 849581058120003 / 849 581 058 120 003, phone +86 138-1234-5678, 验证码 552301"
    masked = mask_personal(line)
    assert masked.count("849581******003") == 2 and "138****5678" in masked
    assert "552301" not in masked
    assert mask_personal("0.123456789012345") == "0.123456789012345"


def test_json_escaped_log_lines_are_masked_too() -> None:
    line = json.dumps({"text": "我的密码是 Abc12345x 手机13912340093"})  # \u-escaped
    masked = mask_personal(line)
    assert "Abc12345x" not in masked and "13912340093" not in masked


def test_every_log_record_is_masked_once_installed(caplog: pytest.LogCaptureFixture) -> None:
    install()
    install()  # idempotent
    logger = logging.getLogger("rasa.core.processor")
    with caplog.at_level(logging.DEBUG):
        logger.debug("Received user message '%s'", "卡号 849581058120003 密码 qwe12345")
        try:
            raise ValueError("phone 13812345678")
        except ValueError:
            logger.exception("failed")
    text = caplog.text
    assert "849581058120003" not in text and "qwe12345" not in text
    assert "13812345678" not in text and "138****5678" in text


async def test_in_process_limit_is_per_key_and_per_minute(monkeypatch) -> None:
    limiter = RateLimiter("t", limit=3)
    assert [await limiter.hit("a") for _ in range(4)] == [True, True, True, False]
    assert await limiter.hit("b")  # another sender is not affected
    assert await limiter.over("a") and not await limiter.over("b")
    monkeypatch.setattr("bot.ratelimit.time.time", lambda: 10**10)  # a later minute
    assert await limiter.hit("a")


async def test_admit_answers_politely_when_over_the_limit() -> None:
    limiter = RateLimiter("t", limit=2)
    results = [await admit(limiter, "rest", "s1", "你好") for _ in range(3)]
    assert [r.reply for r in results[:2]] == [None, None]
    assert results[2].reply == SENDER_REPLY and results[2].limited


async def test_unlimited_when_the_limit_is_zero() -> None:
    limiter = RateLimiter("t", limit=0)
    assert all([await limiter.hit("a") for _ in range(100)])


@pytest.mark.redis
async def test_redis_limit_is_shared_by_every_replica() -> None:
    url = os.environ.get("REDIS_URL_TEST", "").strip()
    if not url:
        pytest.skip("REDIS_URL_TEST is not set (e.g. redis://127.0.0.1:6379/15)")
    name = f"test-{os.urandom(4).hex()}"
    one, two = RateLimiter(name, 3, redis_url=url), RateLimiter(name, 3, redis_url=url)
    hits = [await one.hit("s"), await two.hit("s"), await one.hit("s"), await two.hit("s")]
    assert hits == [True, True, True, False]
    assert await one.over("s")
    await one.aclose()
    await two.aclose()


async def test_an_unreachable_redis_lets_messages_through(caplog) -> None:
    limiter = RateLimiter("t", 1, redis_url="redis://127.0.0.1:1/0")
    assert await limiter.hit("s") and await limiter.hit("s")
    assert "Redis unavailable" in caplog.text
    await limiter.aclose()


def test_limits_come_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("RATE_LIMIT_SENDER", "7")
    monkeypatch.delenv("REDIS_URL", raising=False)
    from bot.ratelimit import sender_limiter

    limiter = sender_limiter()
    assert limiter.limit == 7 and limiter.redis_url is None
    asyncio.run(limiter.aclose())
