"""Rasa's REST channel, made honest about failures and strict about input.

Rasa's own REST channel answers HTTP 200 with ``[]`` when processing fails, and logs
the merchant's text when it does. This one answers 500 with an apology when processing
raises or the conversation could not be stored, 503 when the bot produced no reply at
all, 200 with one ``custom`` message ``{"handoff": "with_agent", "agent": …}`` while an
agent holds the conversation (the message went to the agent), 400 for a malformed
request, 429 (with a polite reply) when the sender or the client's IP is over its rate
limit, and never logs message texts. The sender is whatever the client says, so the IP
is limited too (``RATE_LIMIT_REST_IP``, see ``bot.ratelimit``): a client rotating
senders cannot flood NLU. What the merchant typed is screened and redacted first
(``bot.channels.screening.admit``); of the metadata only the known keys are kept
(``screen_metadata``). Its name is still ``rest``: the URL stays
``/webhooks/rest/webhook``.

A client that resends a message after losing the answer gives both copies the same
``message_id`` (a string of at most 128 characters in the JSON body): the message is
processed once whichever replica gets each copy (``bot.channels.once``), and the resend
gets the first copy's answer (same status and body), or 409 with
:data:`ALREADY_RECEIVED` while the first copy is still being processed. Rasa's message
id of such a turn is derived from the pair (:func:`turn_message_id`): when an earlier
copy failed (its answer was the 500 apology, though it may have been stored before the
failure) or its replica died, the resend first looks for that id in the conversation;
if it is there, the answer is rebuilt from the stored events and nothing is processed
again (:func:`stored_answer`). If the conversation cannot be read, the resend gets the
500 apology and the next one looks again.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from rasa.core.tracker_store import TrackerStore
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.delivery import APOLOGY, handed_to_agent, process
from bot.channels.once import MAX_MESSAGE_ID_CHARS, Once, valid_message_id
from bot.channels.screening import admit, screen_metadata
from bot.ratelimit import (
    SENDER_REPLY,
    RateLimiter,
    exempt_networks,
    forwarded_ip,
    is_exempt,
    proxies_count,
    sender_limiter,
)

logger = logging.getLogger(__name__)
MAX_SENDER_CHARS = 128
RESEND_WAIT = 15.0
"""Seconds a resend waits for the first copy's answer before it is told to come back."""
ALREADY_RECEIVED = "这条消息已经收到，正在处理中，请稍后再发一次查看回复。"


def _reply(sender: str, text: str, status: int = 200) -> HTTPResponse:
    headers = {"Retry-After": "60"} if status == 429 else None
    return response.json([{"recipient_id": sender, "text": text}], status=status,
                         headers=headers)


def turn_message_id(sender: str, message_id: str) -> str:
    """Rasa's message id of the turn a client tagged ``message_id`` (same on every copy)."""
    return hashlib.sha256(f"rest\n{sender}\n{message_id}".encode()).hexdigest()[:32]


History = Callable[[Request, str], Awaitable[list[dict[str, Any]]]]
"""The stored events of a sender, as dicts; raises when they cannot be read."""


async def stored_events(request: Request, sender: str) -> list[dict[str, Any]]:
    """Every stored event of ``sender``, read past Rasa's fail-safe wrapper (which would
    answer "no conversation" when the database is down)."""
    store: TrackerStore = request.app.ctx.agent.tracker_store
    while hasattr(store, "_tracker_store"):  # FailSafeTrackerStore, AwaitableTrackerStore
        store = store._tracker_store
    tracker = await store.retrieve_full_tracker(sender)
    return [] if tracker is None else [event.as_dict() for event in tracker.events]


def _bot_message(sender: str, event: dict[str, Any]) -> dict[str, Any]:
    """A stored bot event as the REST channel sent it (``CollectingOutputChannel``)."""
    message: dict[str, Any] = {"recipient_id": sender}
    if event.get("text") is not None:
        message["text"] = event["text"]
    data = event.get("data") or {}
    for key in ("image", "buttons", "attachment", "custom"):
        if data.get(key) is not None:
            message[key] = data[key]
    return message


def stored_answer(
    events: list[dict[str, Any]], sender: str, rasa_message_id: str
) -> tuple[int, list[dict[str, Any]]] | None:
    """The status and body a stored turn was answered with; None if it is not stored."""
    start = next((i for i, e in enumerate(events) if e.get("event") == "user"
                  and e.get("message_id") == rasa_message_id), None)
    if start is None:
        return None
    handoff = (events[start].get("metadata") or {}).get("handoff")
    if isinstance(handoff, dict):
        return 200, [{"recipient_id": sender, "custom": {
            "handoff": "with_agent", "agent": handoff.get("agent")}}]
    replies = []
    for event in events[start + 1:]:
        if event.get("event") == "user" or (
                event.get("event") == "action" and event.get("name") == "action_listen"):
            break
        if event.get("event") == "bot":
            replies.append(_bot_message(sender, event))
    if not replies:
        return 503, [{"recipient_id": sender, "text": APOLOGY}]
    return 200, replies


def _json_body(request: Request) -> tuple[Any, bool]:
    """The parsed body, and whether it was JSON at all."""
    try:
        return request.json, True
    except Exception:  # Sanic raises on invalid JSON or invalid UTF-8
        return None, False


def _bad_request(reason: str) -> HTTPResponse:
    return response.json({"error": reason}, status=400)


class RestInput(InputChannel):
    """``POST /webhooks/rest/webhook`` with ``{"sender": ..., "message": ...}``."""

    def __init__(self, once: Once | None = None, history: History = stored_events) -> None:
        self._once = once
        self.history = history
        self.limiter = sender_limiter()
        self.ip_limiter = RateLimiter.from_env("rest_ip", "RATE_LIMIT_REST_IP", 300)
        self.proxies = proxies_count()
        self.exempt = exempt_networks()

    async def ip_allowed(self, request: Request) -> bool:
        """Count one request of the client's IP; False once it is over the limit."""
        ip = forwarded_ip(request, self.proxies)
        if is_exempt(ip, self.exempt) or await self.ip_limiter.hit(ip):
            return True
        logger.warning("rate limit: REST requests from %s are too many", ip)
        return False

    @property
    def once(self) -> Once:
        """The shared claims of (sender, message_id); made on first use."""
        if self._once is None:
            self._once = Once.from_env(self.name())
        return self._once

    @classmethod
    def name(cls) -> str:
        return "rest"

    async def answer(
        self, on_new_message: Callable[[UserMessage], Awaitable[Any]], message: UserMessage
    ) -> HTTPResponse:
        """Process one turn; the response the merchant gets."""
        collector = message.output_channel
        assert isinstance(collector, CollectingOutputChannel)
        sender = message.sender_id
        if not await process(on_new_message, message):
            return _reply(sender, APOLOGY, status=500)
        claim = handed_to_agent()
        if claim is not None:  # stored for the agent; the bot says nothing
            return response.json([{"recipient_id": sender, "custom": {
                "handoff": "with_agent", "agent": claim.agent}}])
        if not collector.messages:
            logger.error("no reply produced for sender %s", sender)
            return _reply(sender, APOLOGY, status=503)
        return response.json(collector.messages)

    async def answer_once(
        self,
        request: Request,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
        message: UserMessage,
        message_id: str,
    ) -> HTTPResponse:
        """:meth:`answer`, or for a resend the first copy's answer."""
        answered: list[HTTPResponse] = []

        async def turn(retried: bool) -> str | None:
            if retried:  # an earlier copy failed or died: was it stored after all?
                try:
                    events = await self.history(request, message.sender_id)
                except Exception as exc:  # noqa: BLE001 - cannot tell: the next resend looks
                    logger.error("cannot read the conversation of sender %s (%s)",
                                 message.sender_id, type(exc).__name__)
                    answered.append(_reply(message.sender_id, APOLOGY, status=500))
                    return None
                found = stored_answer(events, message.sender_id, message.message_id)
                if found is not None:
                    logger.warning("a resent turn of sender %s was already stored",
                                   message.sender_id)
                    answered.append(response.json(found[1], status=found[0]))
            if not answered:
                answered.append(await self.answer(on_new_message, message))
            if answered[0].status == 500:  # a resend looks in the conversation first
                return None
            return json.dumps({"status": answered[0].status,
                               "body": json.loads(answered[0].body)}, ensure_ascii=False)

        handled = await self.once.handle(message.sender_id, message_id, turn, RESEND_WAIT)
        if answered:
            return answered[0]
        if handled.answer is None:
            return _reply(message.sender_id, ALREADY_RECEIVED, status=409)
        kept = json.loads(handled.answer)
        return response.json(kept["body"], status=kept["status"])

    def blueprint(
        self, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> Blueprint:
        webhook = Blueprint("honest_rest_webhook", __name__)

        @webhook.listener("before_server_stop")
        async def close_claims(*_: Any) -> None:
            if self._once is not None:
                await self._once.close()

        @webhook.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            ip_allowed = await self.ip_allowed(request)  # malformed requests count too
            body, valid = _json_body(request)
            if not ip_allowed:
                sender = body.get("sender") if isinstance(body, dict) else None
                return _reply(sender if isinstance(sender, str) else "", SENDER_REPLY, 429)
            if not valid:
                return _bad_request("请求不是有效的 JSON")
            if not isinstance(body, dict):
                return _bad_request("请求体应为 JSON 对象")
            sender = body.get("sender")
            if not isinstance(sender, str) or not 0 < len(sender) <= MAX_SENDER_CHARS:
                return _bad_request(f"sender 应为 1–{MAX_SENDER_CHARS} 个字符的字符串")
            message_id = body.get("message_id")
            if message_id is not None and not valid_message_id(message_id):
                return _bad_request(
                    f"message_id 应为 1–{MAX_MESSAGE_ID_CHARS} 个字符的字符串")
            screened = await admit(self.limiter, self.name(), sender, body.get("message"))
            if screened.reply:
                return _reply(sender, screened.reply, status=429 if screened.limited else 200)
            message = UserMessage(
                screened.text, CollectingOutputChannel(), sender, input_channel=self.name(),
                metadata=screen_metadata(body.get("metadata")) or None,
                message_id=turn_message_id(sender, message_id) if message_id else None,
            )
            if message_id is None:
                return await self.answer(on_new_message, message)
            return await self.answer_once(request, on_new_message, message, message_id)

        return webhook
