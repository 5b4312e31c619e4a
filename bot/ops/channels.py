"""Channels of the production profile: the project's channels, measured; and ``ops``.

Each wrapper is the project's own channel (same name, same URL) whose
``on_new_message`` is wrapped by :func:`observe`: the turn runs with the conversation
id in the log context, and afterwards one JSON log line (no message text) and the
metrics record channel, intent, fallback, latency and outcome. HTTP channels also
count their responses by status class, so a 5xx is visible in the metrics.

``OpsChannel`` adds ``/webhooks/ops/ready`` (database, Redis, model), ``/webhooks/ops/live``
and ``/webhooks/ops/metrics``. nginx serves them only on its internal listener.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.rest import RestInput
from bot.channels.wechat import WeChatInput
from bot.channels.wecom import WeComInput
from bot.ops import metrics, readiness
from bot.ops.logs import conversation_id
from bot.ops.stores import turn_info
from bot.stores import store_failure
from bot.web.chat.channel import SocketIOInput

logger = logging.getLogger("bot.ops.turns")
OnNewMessage = Callable[[UserMessage], Awaitable[Any]]


def observe(channel: str, on_new_message: OnNewMessage) -> OnNewMessage:
    """``on_new_message`` that measures the turn and logs it without its text."""

    async def observed(message: UserMessage) -> Any:
        cid_token = conversation_id.set(message.sender_id)
        info: dict[str, Any] = {}
        info_token = turn_info.set(info)
        started = time.perf_counter()
        outcome = "ok"
        try:
            return await on_new_message(message)
        except Exception:
            outcome = "error"
            metrics.ERRORS.labels("rasa", "processing").inc()
            raise
        finally:
            elapsed = time.perf_counter() - started
            replies = getattr(message.output_channel, "messages", None)
            if outcome == "ok" and store_failure() is not None:
                outcome = "error"
                metrics.ERRORS.labels("tracker_store", "failure").inc()
            elif outcome == "ok" and replies is not None and not replies:
                outcome = "no_reply"
                metrics.ERRORS.labels("rasa", "no_reply").inc()
            metrics.TURNS.labels(channel, "ok" if outcome == "ok" else "error").inc()
            metrics.TURN_LATENCY.labels(channel).observe(elapsed)
            if info.get("fallback"):
                metrics.FALLBACKS.labels(channel).inc()
            logger.info(
                "turn", extra={
                    "channel": channel, "intent": info.get("intent"),
                    "fallback": bool(info.get("fallback")), "outcome": outcome,
                    "latency_ms": round(elapsed * 1000, 1),
                    "replies": len(replies) if replies is not None else -1,
                },
            )
            turn_info.reset(info_token)
            conversation_id.reset(cid_token)

    return observed


def _count_responses(bp: Blueprint, channel: str) -> Blueprint:
    @bp.middleware("response")
    async def count(request: Request, resp: HTTPResponse) -> None:
        if request.method == "POST":
            metrics.HTTP_RESPONSES.labels(channel, f"{resp.status // 100}xx").inc()
            if resp.status >= 500:
                metrics.ERRORS.labels(channel, f"http_{resp.status}").inc()

    return bp


class ObservedRestInput(RestInput):
    """``bot.channels.rest.RestInput`` (500/503 instead of ``[]``), measured."""

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        return _count_responses(super().blueprint(observe("rest", on_new_message)), "rest")


class ObservedSocketIOInput(SocketIOInput):
    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        return super().blueprint(observe("socketio", on_new_message))


class ObservedWeChatInput(WeChatInput):
    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        return _count_responses(super().blueprint(observe("wechat", on_new_message)), "wechat")


class ObservedWeComInput(WeComInput):
    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        return _count_responses(super().blueprint(observe("wecom", on_new_message)), "wecom")


class OpsChannel(InputChannel):
    """Health and metrics of a Rasa replica under ``/webhooks/ops/``."""

    @classmethod
    def name(cls) -> str:
        return "ops"

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        bp = Blueprint("ops_endpoints", __name__)

        @bp.get("/live")
        async def live(request: Request) -> HTTPResponse:
            return response.json({"live": True})

        @bp.get("/ready")
        async def ready(request: Request) -> HTTPResponse:
            ok, body = await readiness.report({
                "database": readiness.check_database(
                    os.environ.get("TRACKER_STORE_URL") or os.environ.get("DATABASE_URL", "")
                ),
                "redis": readiness.check_redis(os.environ.get("REDIS_URL", "")),
                "model": readiness.check_model(request.app),
                "stores": readiness.check_stores(request.app),
            })
            return response.json(body, status=200 if ok else 503)

        @bp.get("/metrics")
        async def metrics_page(request: Request) -> HTTPResponse:
            body, content_type = metrics.render()
            return response.raw(body, content_type=content_type)

        return bp
