"""The REST webhook in process: per-IP limit, metadata screening, oversized input.

The running bot's tests all come from 127.0.0.1, which is exempt from per-IP limits
(local tools and proxies); here the channel runs in a Sanic test app where the
environment, the trusted proxies and the client addresses are the test's to choose.
"""

from __future__ import annotations

import itertools

import pytest
from rasa.core.channels.channel import UserMessage
from sanic import Sanic

from bot.channels.rest import RestInput
from bot.channels.screening import MAX_MESSAGE_CHARS, METADATA_KEYS, TOO_LONG_REPLY
from bot.ratelimit import SENDER_REPLY
from bot.redaction import MASK

_ids = itertools.count()
CLIENT, OTHER = "203.0.113.7", "198.51.100.9"


@pytest.fixture
def received() -> list[UserMessage]:
    return []


@pytest.fixture
def make_app(monkeypatch: pytest.MonkeyPatch, received: list[UserMessage]):
    """A Sanic app with the REST channel, built under the given environment."""

    def make(**env: str) -> Sanic:
        monkeypatch.delenv("REDIS_URL", raising=False)
        for name in ("RATE_LIMIT_REST_IP", "PROXIES_COUNT", "RATE_LIMIT_IP_EXEMPT"):
            monkeypatch.delenv(name, raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)

        async def answer(message: UserMessage) -> None:
            received.append(message)
            await message.output_channel.send_text_message(message.sender_id, "好的")

        app = Sanic(f"rest_abuse_{next(_ids)}")
        app.blueprint(RestInput().blueprint(answer), url_prefix="/webhooks/rest")
        return app

    return make


def post(app: Sanic, sender: str = "m1", message: object = "你好", via: str | None = None,
         **kwargs):
    headers = {"X-Forwarded-For": via} if via else {}
    body = kwargs.pop("json", {"sender": sender, "message": message})
    _, response = app.test_client.post("/webhooks/rest/webhook", json=body, headers=headers,
                                       **kwargs)
    return response


def test_one_ip_rotating_senders_is_limited_politely_and_others_are_not(make_app) -> None:
    app = make_app(RATE_LIMIT_REST_IP="3", PROXIES_COUNT="1")
    codes = [post(app, f"rotating-{n}", via=CLIENT).status for n in range(3)]
    assert codes == [200, 200, 200]
    limited = post(app, "rotating-4", via=CLIENT)
    assert limited.status == 429 and limited.headers["retry-after"] == "60"
    assert limited.json == [{"recipient_id": "rotating-4", "text": SENDER_REPLY}]
    assert post(app, "rotating-5", via=OTHER).status == 200  # another client is served


def test_malformed_requests_count_against_the_ip_too(make_app) -> None:
    app = make_app(RATE_LIMIT_REST_IP="2", PROXIES_COUNT="1")
    headers = {"X-Forwarded-For": CLIENT, "Content-Type": "application/json"}
    for _ in range(2):
        _, bad = app.test_client.post("/webhooks/rest/webhook", data=b"\xff{", headers=headers)
        assert bad.status == 400
    _, limited = app.test_client.post("/webhooks/rest/webhook", data=b"\xff{", headers=headers)
    assert limited.status == 429 and limited.json[0]["text"] == SENDER_REPLY
    assert post(app, "m1", via=CLIENT).status == 429


def test_a_forged_forwarded_for_does_not_escape_the_limit(make_app, received) -> None:
    """Entries left of the one the trusted proxy appended are the client's own words."""
    app = make_app(RATE_LIMIT_REST_IP="2", PROXIES_COUNT="1")
    forged = [f"10.0.0.{n}, 127.0.0.1, {CLIENT}" for n in range(3)]
    assert [post(app, f"s{n}", via=via).status for n, via in enumerate(forged)] == [
        200, 200, 429
    ]
    assert len(received) == 2


def test_without_trusted_proxies_the_peer_counts_and_the_header_is_ignored(make_app) -> None:
    # The test client connects from 127.0.0.1; with no exemption it is limited like any IP.
    app = make_app(RATE_LIMIT_REST_IP="2", RATE_LIMIT_IP_EXEMPT="")
    statuses = [post(app, f"s{n}", via=f"192.0.2.{n}").status for n in range(3)]
    assert statuses == [200, 200, 429]


def test_loopback_is_exempt_by_default(make_app, received) -> None:
    """Local tools and a same-host proxy calling directly are never limited per IP."""
    app = make_app(RATE_LIMIT_REST_IP="2")
    assert [post(app, f"local-{n}").status for n in range(5)] == [200] * 5
    assert len(received) == 5


def test_only_known_metadata_keys_reach_the_bot(make_app, received) -> None:
    app = make_app()
    metadata = {
        "turn_id": "run-1#3", "client_id": "c-9", "display": "验证码 552301", "hidden": False,
        "extra": "x" * 500_000, "nested": {"密码": "Zx998877", "list": list(range(10_000))},
    }
    reply = post(app, json={"sender": "meta", "message": "谢谢", "metadata": metadata})
    assert reply.status == 200
    stored = received[0].metadata
    assert stored == {"turn_id": "run-1#3", "client_id": "c-9", "display": f"验证码 {MASK}",
                      "hidden": False}
    assert set(stored) <= set(METADATA_KEYS)


@pytest.mark.parametrize(
    "metadata",
    [
        {"display": "解" * 500_000, "turn_id": "t" * 129, "client_id": ["not", "a", "str"]},
        {"hidden": "yes", "client_id": "\x00\u202e"},
        "not a dict",
        ["a", "list"],
    ],
    ids=["oversized", "wrong-types", "string", "list"],
)
def test_oversized_or_odd_metadata_is_dropped(make_app, received, metadata: object) -> None:
    reply = post(make_app(), json={"sender": "m", "message": "谢谢", "metadata": metadata})
    assert reply.status == 200
    assert received[0].metadata is None  # nothing usable: Rasa gets no metadata at all


def test_a_100_kb_message_gets_the_too_long_reply(make_app, received) -> None:
    reply = post(make_app(), message="解绑" * 50_000)
    assert reply.status == 200
    assert reply.json[0]["text"] == TOO_LONG_REPLY.format(limit=MAX_MESSAGE_CHARS)
    assert received == []
