"""``/webhooks/outbound/deliver`` (the outbox worker's way into a conversation) refuses
anyone but the worker: a token when ``RASA_AUTH_TOKEN`` is set, else a direct loopback
caller; malformed deliveries get 400. (Storing and pushing are exercised with the real
Rasa in tests/handoff.)"""

from __future__ import annotations

import uuid

import pytest
from sanic import Sanic

from bot.outbox.rasa_channel import OutboundInput

BODY = {"outbox_id": 7, "sender_id": "a" * 32, "channel": "socketio", "kind": "agent",
        "text": "您好", "agent": "张三"}


@pytest.fixture
def app() -> Sanic:
    app = Sanic(f"outbound_{uuid.uuid4().hex}")
    app.blueprint(OutboundInput().blueprint(lambda message: None),
                  url_prefix="/webhooks/outbound")
    return app


async def post(app: Sanic, body: object, headers: dict[str, str] | None = None) -> int:
    _, reply = await app.asgi_client.post("/webhooks/outbound/deliver", json=body,
                                          headers=headers or {})
    return reply.status


async def test_without_a_token_a_forwarded_caller_is_refused(app, monkeypatch):
    monkeypatch.delenv("RASA_AUTH_TOKEN", raising=False)
    assert await post(app, BODY, {"X-Forwarded-For": "127.0.0.1"}) == 403


async def test_malformed_deliveries_get_400(app, monkeypatch):
    monkeypatch.setenv("RASA_AUTH_TOKEN", "t" * 32)
    token = {"Authorization": f"Bearer {'t' * 32}"}
    assert await post(app, {"outbox_id": "7"}, token) == 400
    assert await post(app, {**BODY, "kind": "bot"}, token) == 400
    assert await post(app, [BODY], token) == 400


async def test_with_a_token_the_bearer_must_match(app, monkeypatch):
    monkeypatch.setenv("RASA_AUTH_TOKEN", "t" * 32)
    assert await post(app, BODY) == 403
    assert await post(app, BODY, {"Authorization": "Bearer wrong"}) == 403
    # The right token gets past the check (this bare app has no Rasa agent: 503).
    assert await post(app, BODY, {"Authorization": f"Bearer {'t' * 32}"}) == 503
