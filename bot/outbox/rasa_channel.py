"""``POST /webhooks/outbound/deliver``: the outbox worker's way into a conversation.

Listed in ``credentials.yml`` like a channel, so it runs inside Rasa with the agent, its
lock store and tracker store. For one outbox row it

1. stores the message in the conversation's tracker, under the conversation's lock, as a
   ``bot`` event whose metadata says who spoke: ``{"outbox_id": 12, "kind": "agent",
   "agent": "张三"}`` for an agent, ``"kind": "notice"`` (with ``ticket_no``) for a
   step-change notice, ``"kind": "handoff"`` for the handoff messages. A row already
   stored (a worker retrying after a crash) is not stored twice;
2. for the web chat, pushes it to the page's socket.io room (every replica's, through
   the socket.io Redis manager when ``REDIS_URL`` is set). A page that is not connected
   shows it from the history when the conversation next opens.

Only the worker may call it: with ``RASA_AUTH_TOKEN`` set (production) it needs
``Authorization: Bearer <token>``; without it (the embedded default, Rasa on 127.0.0.1)
only a direct loopback caller, not one forwarded by a proxy.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import InputChannel, UserMessage
from rasa.shared.core.events import BotUttered
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.stores import reset_store_failure, store_failure

logger = logging.getLogger(__name__)
KINDS = ("agent", "notice", "handoff")
MAX_TEXT = 4000


def authorised(request: Request) -> bool:
    """The bearer token when one is configured, else a direct loopback caller."""
    token = os.environ.get("RASA_AUTH_TOKEN", "").strip()
    if token:
        scheme, _, given = (request.headers.get("authorization") or "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode(), token.encode()
        )
    if request.headers.get("x-forwarded-for"):
        return False
    try:
        return ipaddress.ip_address(request.ip or "").is_loopback
    except ValueError:
        return False


def parse(body: Any) -> dict[str, Any] | str:
    """The validated delivery request, or what is wrong with it."""
    if not isinstance(body, dict):
        return "body must be a JSON object"
    for key in ("sender_id", "channel", "text", "kind"):
        if not isinstance(body.get(key), str) or not body[key]:
            return f"{key} must be a non-empty string"
    if not isinstance(body.get("outbox_id"), int):
        return "outbox_id must be an integer"
    if body["kind"] not in KINDS or len(body["text"]) > MAX_TEXT:
        return "unknown kind or text too long"
    for key in ("agent", "ticket_no"):
        if body.get(key) is not None and not isinstance(body[key], str):
            return f"{key} must be a string"
    return body


def event_metadata(body: dict[str, Any]) -> dict[str, Any]:
    """What the ``bot`` event records about who spoke."""
    meta = {"outbox_id": body["outbox_id"], "kind": body["kind"]}
    for key in ("agent", "ticket_no"):
        if body.get(key):
            meta[key] = body[key]
    return meta


async def record(agent: Any, body: dict[str, Any]) -> tuple[bool, float]:
    """Append the message to the tracker unless it is there; (new, its timestamp)."""
    sender = body["sender_id"]
    reset_store_failure()  # Rasa's fail-safe wrapper hides store errors; ours records them
    async with agent.lock_store.lock(sender):
        tracker = await agent.processor.fetch_tracker_with_initial_session(sender)
        if store_failure() is not None:  # never save over a history that did not load
            raise store_failure()
        for event in reversed(tracker.events):
            if isinstance(event, BotUttered) and (event.metadata or {}).get(
                "outbox_id"
            ) == body["outbox_id"]:
                return False, event.timestamp
        event = BotUttered(body["text"], metadata=event_metadata(body), timestamp=time.time())
        tracker.update(event)
        await agent.tracker_store.save(tracker)
        failure = store_failure()
        if failure is not None:
            raise failure
        return True, event.timestamp


async def push(request: Request, body: dict[str, Any], timestamp: float) -> bool:
    """Emit the message to the web chat page's room; False if there is no socket.io."""
    channels = getattr(request.app.ctx, "input_channels", None) or []
    chat = next((c for c in channels if c.name() == "socketio"), None)
    if chat is None or getattr(chat, "sio", None) is None:
        return False
    payload = {"text": body["text"], "id": f"outbox-{body['outbox_id']}",
               "kind": body["kind"], "time": timestamp * 1000}
    if body.get("agent"):
        payload["agent"] = body["agent"]
    room_push = getattr(chat, "push", None)
    if room_push is not None:  # this replica's rooms and, through Redis, the others'
        return await room_push.send(body["sender_id"], payload)
    await chat.sio.emit(chat.bot_message_evt, payload, room=body["sender_id"],
                        namespace=chat.namespace)
    return True


class OutboundInput(InputChannel):
    """The outbox worker's endpoint inside Rasa (not a merchant channel)."""

    @classmethod
    def name(cls) -> str:
        return "outbound"

    def blueprint(
        self, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> Blueprint:
        bp = Blueprint("outbound_webhook", __name__)

        @bp.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @bp.route("/deliver", methods=["POST"])
        async def deliver(request: Request) -> HTTPResponse:
            if not authorised(request):
                return response.json({"error": "forbidden"}, status=403)
            try:
                body = parse(request.json)
            except Exception:  # noqa: BLE001 - Sanic raises on invalid JSON
                body = "body must be JSON"
            if isinstance(body, str):
                return response.json({"error": body}, status=400)
            try:
                new, timestamp = await record(request.app.ctx.agent, body)
            except Exception as exc:  # noqa: BLE001 - the worker retries later
                logger.error("outbox %s: could not store the message (%s)",
                             body["outbox_id"], type(exc).__name__)
                return response.json({"error": "not stored"}, status=503)
            pushed = False
            if body["channel"] == "socketio" and body.get("push", True):
                try:
                    pushed = await push(request, body, timestamp)
                except Exception as exc:  # noqa: BLE001 - stored: the page shows it on open
                    logger.warning("outbox %s: push failed (%s)", body["outbox_id"],
                                   type(exc).__name__)
            logger.info("outbox %s stored for sender %s (new=%s, pushed=%s)",
                        body["outbox_id"], body["sender_id"], new, pushed)
            return response.json({"recorded": True, "duplicate": not new, "pushed": pushed})

        return bp
