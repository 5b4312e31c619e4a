"""Rasa's REST channel, made honest about failures and strict about input.

Rasa's own REST channel answers HTTP 200 with ``[]`` when processing fails, and logs
the merchant's text when it does. This one answers 500 with an apology when processing
raises or the conversation could not be stored, 503 when the bot produced no reply at
all, 400 for a malformed request, 429 (with a polite reply) when the sender is over
the rate limit, and never logs message texts. What the merchant typed is screened and
redacted first (``bot.channels.screening.admit``). Its name is still
``rest``: the URL stays ``/webhooks/rest/webhook``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.delivery import APOLOGY, process
from bot.channels.screening import admit
from bot.ratelimit import sender_limiter
from bot.stores import redact_value

logger = logging.getLogger(__name__)
MAX_SENDER_CHARS = 128


def _reply(sender: str, text: str, status: int = 200) -> HTTPResponse:
    return response.json([{"recipient_id": sender, "text": text}], status=status)


def _bad_request(reason: str) -> HTTPResponse:
    return response.json({"error": reason}, status=400)


class RestInput(InputChannel):
    """``POST /webhooks/rest/webhook`` with ``{"sender": ..., "message": ...}``."""

    def __init__(self) -> None:
        self.limiter = sender_limiter()

    @classmethod
    def name(cls) -> str:
        return "rest"

    def blueprint(
        self, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> Blueprint:
        webhook = Blueprint("honest_rest_webhook", __name__)

        @webhook.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            try:
                body = request.json
            except Exception:  # Sanic raises on invalid JSON or invalid UTF-8
                return _bad_request("请求不是有效的 JSON")
            if not isinstance(body, dict):
                return _bad_request("请求体应为 JSON 对象")
            sender = body.get("sender")
            if not isinstance(sender, str) or not 0 < len(sender) <= MAX_SENDER_CHARS:
                return _bad_request(f"sender 应为 1–{MAX_SENDER_CHARS} 个字符的字符串")
            screened = await admit(self.limiter, self.name(), sender, body.get("message"))
            if screened.reply:
                return _reply(sender, screened.reply, status=429 if screened.limited else 200)
            collector = CollectingOutputChannel()
            metadata = body.get("metadata")
            message = UserMessage(
                screened.text, collector, sender, input_channel=self.name(),
                metadata=redact_value(metadata) if isinstance(metadata, dict) else None,
            )
            if not await process(on_new_message, message):
                return _reply(sender, APOLOGY, status=500)
            if not collector.messages:
                logger.error("no reply produced for sender %s", sender)
                return _reply(sender, APOLOGY, status=503)
            return response.json(collector.messages)

        return webhook
