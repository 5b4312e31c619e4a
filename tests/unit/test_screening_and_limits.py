"""Screening, log masking and rate limiting, in process (fuzzed with hypothesis)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import unicodedata
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.channels.screening import (
    EMPTY_REPLY,
    MAX_MESSAGE_CHARS,
    MAX_METADATA_ID_CHARS,
    METADATA_KEYS,
    admit,
    screen,
    screen_metadata,
)
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


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from([*METADATA_KEYS, "x", "密码"]) | st.text(), _JSON)
       | _JSON)
def test_metadata_keeps_only_known_short_values(metadata: object) -> None:
    kept = screen_metadata(metadata)
    assert set(kept) <= set(METADATA_KEYS)
    for key in ("client_id", "turn_id"):
        assert len(kept.get(key, "")) <= MAX_METADATA_ID_CHARS
    assert len(kept.get("display", "")) <= MAX_MESSAGE_CHARS
    assert kept.get("hidden", False) in (True, False)


def test_metadata_display_is_screened_like_a_message() -> None:
    kept = screen_metadata({"display": "\u202e我的密码是 Zx998877", "client_id": "c1"})
    assert kept == {"display": f"我的密码是 {MASK}", "client_id": "c1"}


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


def test_percent_encoded_request_lines_are_masked_too() -> None:
    """An access log line of a console search: the query string is percent-encoded."""
    from urllib.parse import quote, quote_plus

    from bot.logmask import _AccessLogFilter

    record = logging.LogRecord("sanic.access", logging.INFO, __file__, 1, "", None, None)
    record.request = "GET /api/answers?q=" + quote("我的密码是 Abc12345x 手机13912340093")
    _AccessLogFilter().filter(record)
    assert "Abc12345x" not in record.request and "139****0093" in record.request
    form = mask_personal("/a?q=" + quote_plus("卡号 6222 0212 3456 7890 128 商户849581058120003"))
    assert form == "/a?q=卡号 **** ************128 商户849581******003"
    assert mask_personal("next=%0AFAKE%20LINE") == "next=%0AFAKE LINE"  # no forged lines


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


# --- log masking: properties (hypothesis) -------------------------------------------

_SEPARATORS = st.sampled_from([" ", "-"])


@st.composite
def _typed(draw: st.DrawFn, digits: str) -> list[str]:
    """``digits`` cut into the groups a merchant might type."""
    cuts = draw(st.sets(st.integers(1, len(digits) - 1), max_size=5)) if len(digits) > 1 else []
    bounds = [0, *sorted(cuts), len(digits)]
    return [digits[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


def _run(draw: st.DrawFn, numbers: list[list[str]]) -> str:
    groups = [group for number in numbers for group in number]
    return "".join(g + (draw(_SEPARATORS) if i < len(groups) - 1 else "")
                   for i, g in enumerate(groups))


# Merchant digits are 5–9, every other digit 0–4 (mobiles: 13/14 and 0–4): the merchant
# digits visible after masking can then be counted.
_MERCHANT = st.text(alphabet="56789", min_size=15, max_size=15)
_OTHER = st.one_of(
    st.from_regex(r"1[34][0-4]{9}", fullmatch=True),
    st.from_regex(r"861[34][0-4]{9}", fullmatch=True),
    st.text(alphabet="01234", min_size=1, max_size=16),
)


@settings(max_examples=300, deadline=None)
@given(st.data(), _MERCHANT, st.lists(_OTHER, max_size=3), st.lists(_OTHER, max_size=3))
def test_no_more_of_a_merchant_number_shows_than_its_masked_form(
    data: st.DataObject, merchant: str, before: list[str], after: list[str]
) -> None:
    """Whatever numbers stand next to it, however grouped, 9 of its 15 digits at most."""
    numbers = [data.draw(_typed(n)) for n in (*before, merchant, *after)]
    line = f"lookup for {_run(data.draw, numbers)} done"
    masked = mask_personal(line)
    assert sum(ch in "56789" for ch in masked) <= 9, masked
    assert masked.startswith("lookup for ") and masked.endswith(" done")
    if not before and not after:  # alone: exactly the documented masked form
        assert masked == f"lookup for {merchant[:6]}******{merchant[-3:]} done"


@settings(max_examples=300, deadline=None)
@given(st.data(), st.from_regex(r"1[5-9]{10}", fullmatch=True),
       st.lists(st.text(alphabet="01234", min_size=1, max_size=16), max_size=3),
       st.lists(st.text(alphabet="01234", min_size=1, max_size=16), max_size=3))
def test_no_more_of_a_mobile_number_shows_than_its_masked_form(
    data: st.DataObject, phone: str, before: list[str], after: list[str]
) -> None:
    """At most 7 of its 11 digits, as many as its masked form shows (138****5678)."""
    numbers = [data.draw(_typed(n)) for n in (*before, phone, *after)]
    masked = mask_personal(f"phone={_run(data.draw, numbers)};")
    assert sum(ch in "56789" for ch in masked) <= 7, masked
    if not before and not after:
        assert masked == f"phone={phone[:3]}****{phone[-4:]};"


@settings(max_examples=200, deadline=None)
@given(st.dates(date(2000, 1, 1)).map(lambda d: d.strftime("%Y%m%d")), st.integers(0, 9999),
       st.sampled_from([" ", "，", " 手机 ", "-"]), st.from_regex(r"1[3-9]\d{9}", fullmatch=True))
def test_ticket_numbers_survive_masking_next_to_a_mobile(
    day: str, number: int, between: str, phone: str
) -> None:
    ticket = f"UB-{day}-{number:04d}"
    masked = mask_personal(f"ticket {ticket}{between}{phone}")
    assert masked.startswith(f"ticket {ticket}") and phone not in masked


def test_adjacent_numbers_are_split_not_swallowed() -> None:
    """The audit's case: a mobile, then a merchant number, in one space-separated run."""
    masked = mask_personal("+86 138 1234 5678 8495-8105-8120-001")
    assert masked == "+*********5678 ************001"
    assert mask_personal("849581058120003 1733212345") == "************003 **********"
    assert mask_personal("merchant 849 581 058 120 003.") == "merchant 849581******003."
    dated = "at 2026-11-28 13:45:12,345 id 12 34"
    assert mask_personal(dated) == dated


class _Request:
    """Just what ``forwarded_ip`` reads of a Sanic request."""

    def __init__(self, peer: str, *forwarded: str) -> None:
        self.ip, self._forwarded = peer, list(forwarded)

    @property
    def headers(self) -> _Request:
        return self

    def getall(self, name: str, default: list[str]) -> list[str]:
        assert name == "x-forwarded-for"
        return self._forwarded or default


def test_the_client_ip_is_the_entry_the_trusted_proxies_added() -> None:
    from bot.ratelimit import forwarded_ip

    assert forwarded_ip(_Request("10.0.0.2", "1.1.1.1, 203.0.113.7"), 1) == "203.0.113.7"
    assert forwarded_ip(_Request("10.0.0.2", "1.1.1.1", "203.0.113.7, 10.0.0.9"), 2) == (
        "203.0.113.7"
    )  # two headers are one list; the second proxy's hop is skipped
    assert forwarded_ip(_Request("10.0.0.2", "203.0.113.7"), 0) == "10.0.0.2"  # untrusted
    assert forwarded_ip(_Request("127.0.0.1"), 1) == "127.0.0.1"  # a direct local call
    assert forwarded_ip(_Request("10.0.0.2", "203.0.113.7"), 2) == "10.0.0.2"  # too few hops


def test_exempt_networks_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.ratelimit import exempt_networks, is_exempt

    monkeypatch.delenv("RATE_LIMIT_IP_EXEMPT", raising=False)
    loopback = exempt_networks()
    assert all(is_exempt(ip, loopback) for ip in ("127.0.0.1", "::1", "::ffff:127.0.0.9"))
    assert not any(is_exempt(ip, loopback) for ip in ("10.0.0.1", "unknown", ""))
    monkeypatch.setenv("RATE_LIMIT_IP_EXEMPT", "10.1.0.0/16, not-a-network")
    office = exempt_networks()
    assert is_exempt("10.1.2.3", office) and not is_exempt("127.0.0.1", office)
    monkeypatch.setenv("RATE_LIMIT_IP_EXEMPT", "")
    assert exempt_networks() == ()
