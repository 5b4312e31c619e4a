"""Shared callback pipeline of the WeChat Official Account and WeCom channels.

A verified, decrypted callback is checked for freshness (its signed timestamp within
``TIMESTAMP_TOLERANCE`` seconds, its timestamp/nonce pair not reused for another
message) and classified (turn, fixed reply, nothing). A turn is claimed in the dedup
store (decided by the database, by Redis or an in-process cache while the database
is down; the claim may take at most ``CLAIM_TIMEOUT`` seconds, else 503) so retries
never reach Rasa twice. The ``reply_timeout`` budget (4 s by default, under WeChat's
5 s) runs from the moment the callback arrives: if the bot answers within it the
answer is a passive XML reply, otherwise the request is acknowledged at once and the
answer goes out through the platform's message API from a background task.
Every turn is rate limited per sender and what the merchant typed is screened and
redacted (``bot.channels.screening.admit``) before Rasa sees it.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.delivery import process
from bot.channels.screening import admit
from bot.channels.wechat_api import ApiDelivery
from bot.channels.wechat_dedup import ASYNC, PASSIVE, Deduplicator, Outcome, ReplayGuard
from bot.channels.wechat_inbound import (
    ERROR_REPLY,
    IGNORE,
    REPLY,
    classify,
    dedup_key,
    load_menu,
    message_metadata,
)
from bot.channels.wechat_render import ChoiceMemory, render_messages
from bot.channels.wechat_request import (
    CommonSettings,
    Envelope,
    Rejected,
    caller_ip,
)
from bot.channels.wechat_sqlstore import dedup_store
from bot.channels.wechat_store import make_store
from bot.channels.wechat_token import AccessTokenCache
from bot.ratelimit import sender_limiter

logger = logging.getLogger(__name__)

CLAIM_TIMEOUT = 1.5
"""Seconds a dedup claim may take before the callback is answered 503 (WeChat retries)."""
PUBLISH_TIMEOUT = 0.5
"""Seconds the reply waits for its outcome to be recorded; the write then continues alone."""
TIMESTAMP_TOLERANCE = 300
"""Seconds a callback's signed ``timestamp`` may differ from the server's clock."""

OnNewMessage = Callable[[UserMessage], Awaitable[Any]]


class WeChatCollector(CollectingOutputChannel):
    """Collects the bot's replies to one turn; named after the channel for response variants."""

    channel_name = "wechat"

    @classmethod
    def name(cls) -> str:
        return cls.channel_name


class WeChatChannelBase(ApiDelivery, InputChannel):
    """Callback pipeline shared by :class:`WeChatInput` and :class:`WeComInput`."""

    collector_class = WeChatCollector

    def __init__(self, settings: CommonSettings) -> None:
        self.settings = settings
        self.reply_timeout = settings.reply_timeout
        self.menu = load_menu(settings.menu_file)
        self._store = make_store(settings.redis_url)
        self._dedup_store = dedup_store(self._store, settings.database_url)
        self._dedup = Deduplicator(
            self._dedup_store, settings.key_prefix, stale_after=2 * settings.reply_timeout
        )
        self._replays = ReplayGuard(self._store, settings.key_prefix, TIMESTAMP_TOLERANCE)
        self.claim_timeout = CLAIM_TIMEOUT
        self.monotonic: Callable[[], float] = time.monotonic
        """Clock of the reply budget (replaceable in tests)."""
        self.wall_clock: Callable[[], float] = time.time
        """Clock that signed timestamps are compared with (replaceable in tests)."""
        self._choices = ChoiceMemory(self._store, settings.key_prefix)
        # Shared with the outbox worker through the database (and Redis when set).
        self.tokens = AccessTokenCache(
            self._dedup_store, f"{settings.key_prefix}:access_token", self.fetch_token
        )
        self._tasks: set[asyncio.Task] = set()
        self._session: aiohttp.ClientSession | None = None
        self.limiter = sender_limiter()

    # -- hooks implemented by each platform ---------------------------------

    def missing_settings(self) -> list[str]:
        """Names of required environment variables that are not set."""
        raise NotImplementedError

    async def verify_url(self, request: Request) -> str:
        """Check a GET verification request and return the plaintext echo."""
        raise NotImplementedError

    async def open_envelope(self, request: Request) -> Envelope:
        """Verify, decrypt and parse a POST callback."""
        raise NotImplementedError

    def render_reply(self, envelope: Envelope, text: str) -> str:
        """The passive text reply as the platform expects it (encrypted if needed)."""
        raise NotImplementedError

    def no_reply(self) -> HTTPResponse:
        """The acknowledgement that means "no passive reply"."""
        raise NotImplementedError

    # -- Sanic ----------------------------------------------------------------

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        module = inspect.getmodule(self)
        bp = Blueprint(f"{self.name()}_webhook", module.__name__ if module else None)

        @bp.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json(
                {"status": "ok" if not self.missing_settings() else "not configured"}
            )

        @bp.route("/webhook", methods=["GET"])
        async def verify(request: Request) -> HTTPResponse:
            unavailable = self._unconfigured_response()
            if unavailable:
                return unavailable
            try:
                echo = await self.verify_url(request)
            except Rejected as exc:
                return self._rejected(request, exc, "verification")
            logger.info("%s URL verification succeeded", self.name())
            return response.text(echo, content_type="text/plain; charset=utf-8")

        @bp.route("/webhook", methods=["POST"], stream=True)
        async def receive(request: Request) -> HTTPResponse:
            return await self.handle_callback(request, on_new_message)

        @bp.listener("before_server_stop")
        async def drain(*_: Any) -> None:
            await self.aclose()

        return bp

    def _unconfigured_response(self) -> HTTPResponse | None:
        missing = self.missing_settings()
        if not missing:
            return None
        logger.error(
            "%s channel called but not configured; missing %s", self.name(), ", ".join(missing)
        )
        return response.text(
            f"{self.name()} channel is not configured: set {', '.join(missing)}", status=503
        )

    def _rejected(self, request: Request, exc: Rejected, stage: str) -> HTTPResponse:
        logger.warning(
            "%s %s rejected (%s): %s from %s",
            self.name(),
            stage,
            exc.status,
            exc.reason,
            caller_ip(request, self.settings.proxies_count),
        )
        return response.text(exc.reason, status=exc.status)

    def check_timestamp(self, timestamp: str) -> None:
        """Refuse a signed ``timestamp`` more than ``TIMESTAMP_TOLERANCE`` s from now."""
        value = timestamp.strip()
        if not value.isdigit() or len(value) > 12:
            raise Rejected(400, "invalid timestamp")
        if abs(self.wall_clock() - int(value)) > TIMESTAMP_TOLERANCE:
            raise Rejected(403, "timestamp too far from the server's clock")

    def passive(self, envelope: Envelope, text: str | None) -> HTTPResponse:
        if not text:
            return self.no_reply()
        return response.text(
            self.render_reply(envelope, text), content_type="application/xml; charset=utf-8"
        )

    async def handle_callback(self, request: Request, on_new_message: OnNewMessage) -> HTTPResponse:
        """Answer one POST callback (passively, by acknowledging, or with an error status).

        The reply budget starts here, so reading, decrypting, the dedup claim, the rate
        limit and the choice lookup all count against ``reply_timeout``.
        """
        deadline = self.monotonic() + self.reply_timeout
        unavailable = self._unconfigured_response()
        if unavailable:
            return unavailable
        try:
            envelope = await self.open_envelope(request)
            for field in ("ToUserName", "FromUserName", "MsgType"):
                if not envelope.message.get(field, "").strip():
                    raise Rejected(400, f"missing field: {field}")
            msg_id = dedup_key(envelope.message)
            if not await self._replays.admit(
                int(envelope.timestamp), envelope.nonce, msg_id, self.wall_clock()
            ):
                raise Rejected(403, "timestamp and nonce already used for another message")
        except Rejected as exc:
            return self._rejected(request, exc, "callback")
        message = envelope.message
        sender = message["FromUserName"]
        logger.info(
            "%s callback sender=%s msg_id=%s type=%s",
            self.name(),
            sender,
            msg_id,
            message["MsgType"],
        )

        inbound = classify(message, self.menu)
        if inbound.kind == IGNORE:
            return self.no_reply()
        if inbound.kind == REPLY:
            return self.passive(envelope, inbound.text)
        owner = await self._claim(msg_id)
        if owner is None:
            return response.text("temporarily unavailable", status=503)
        if not owner:
            outcome = await self._dedup.wait_outcome(msg_id, self._remaining(deadline))
            logger.info(
                "%s retry sender=%s msg_id=%s owner_outcome=%s",
                self.name(),
                sender,
                msg_id,
                outcome.mode if outcome else "pending",
            )
            if outcome is not None and outcome.mode == PASSIVE:
                return self.passive(envelope, outcome.text)
            return self.no_reply()
        try:
            screened = await admit(
                self.limiter, self.name(), sender, inbound.text or "", typed=inbound.typed
            )
            if screened.reply:
                await self._publish(msg_id, Outcome(PASSIVE, screened.reply))
                return self.passive(envelope, screened.reply)
            text = screened.text
            if inbound.typed:
                text = await self._choices.resolve(sender, text) or text
        except Exception:
            self._spawn(self._release(msg_id))  # let a retry answer instead
            raise
        user_message = UserMessage(
            text,
            self.collector_class(),
            sender,
            input_channel=self.name(),
            message_id=f"{self.name()}-{msg_id}",
            metadata=message_metadata(message),
        )
        decision = self._spawn(self._own_turn(on_new_message, user_message, msg_id, deadline))
        reply = await asyncio.shield(decision)
        return self.passive(envelope, reply)

    def _remaining(self, deadline: float) -> float:
        """Seconds left of the reply budget (never negative)."""
        return max(0.0, deadline - self.monotonic())

    async def _claim(self, msg_id: str) -> bool | None:
        """Whether this request owns the turn; None if the claim failed or took too long.

        A claim still running when the time is up keeps running; if it wins after all,
        it is released so that WeChat's retry can take the turn.
        """
        claim = self._spawn(self._dedup.claim(msg_id))
        try:
            return await asyncio.wait_for(asyncio.shield(claim), self.claim_timeout)
        except asyncio.TimeoutError:
            reason = f"no answer within {self.claim_timeout:.1f}s"
            claim.add_done_callback(lambda done: self._release_late_claim(done, msg_id))
        except Exception as exc:  # noqa: BLE001 - every store is down: refuse, don't duplicate
            reason = type(exc).__name__
        logger.error(
            "%s dedup store unavailable (%s); msg_id=%s answered 503", self.name(), reason, msg_id
        )
        return None

    def _release_late_claim(self, claim: asyncio.Future, msg_id: str) -> None:
        if not claim.cancelled() and claim.exception() is None and claim.result():
            self._spawn(self._release(msg_id))

    async def _release(self, msg_id: str) -> None:
        try:
            await self._dedup.release(msg_id)
        except Exception as exc:  # noqa: BLE001 - the claim then goes stale and is taken over
            logger.warning(
                "%s could not release claim msg_id=%s (%s)", self.name(), msg_id, type(exc).__name__
            )

    async def _publish(self, msg_id: str, outcome: Outcome) -> None:
        """Record the outcome for retries, waiting at most ``PUBLISH_TIMEOUT`` seconds."""
        write = self._spawn(self._dedup.publish(msg_id, outcome))
        try:
            await asyncio.wait_for(asyncio.shield(write), PUBLISH_TIMEOUT)
        except asyncio.TimeoutError:
            write.add_done_callback(lambda done: self._log_publish(done, msg_id))
        except Exception as exc:  # noqa: BLE001 - the answer still goes out
            logger.error(
                "%s could not record the outcome of msg_id=%s (%s)",
                self.name(),
                msg_id,
                type(exc).__name__,
            )

    def _log_publish(self, write: asyncio.Future, msg_id: str) -> None:
        if not write.cancelled() and write.exception() is not None:
            logger.error(
                "%s could not record the outcome of msg_id=%s (%s)",
                self.name(),
                msg_id,
                type(write.exception()).__name__,
            )

    async def _own_turn(
        self,
        on_new_message: OnNewMessage,
        user_message: UserMessage,
        msg_id: str,
        deadline: float,
    ) -> str | None:
        """Run the turn; return the passive reply, or None after handing it to the API."""
        turn = self._spawn(self._run_turn(on_new_message, user_message))
        remaining = self._remaining(deadline)
        if remaining > 0:  # else the budget is spent: straight to the API
            await asyncio.wait({turn}, timeout=remaining)
        if turn.done():
            chunks = turn.result()
            first, rest = (chunks[0], chunks[1:]) if chunks else (None, [])
            await self._publish(msg_id, Outcome(PASSIVE, first))
            if rest:
                self._spawn(self.deliver(user_message.sender_id, rest, msg_id))
            return first
        await self._publish(msg_id, Outcome(ASYNC))
        logger.info(
            "%s answer for msg_id=%s not ready within the %.1fs budget; sending via API",
            self.name(),
            msg_id,
            self.reply_timeout,
        )
        self._spawn(self._deliver_when_ready(turn, user_message.sender_id, msg_id))
        return None

    async def _run_turn(self, on_new_message: OnNewMessage, user_message: UserMessage) -> list[str]:
        collector = user_message.output_channel
        if not await process(on_new_message, user_message):
            # Failed, or not stored behind Rasa's fail-safe store: say so instead.
            collector.messages[:] = [{"text": ERROR_REPLY}]
        rendered = render_messages(collector.messages)
        try:
            await self._choices.remember(user_message.sender_id, rendered.options)
        except Exception as exc:  # noqa: BLE001 - numbered options are a convenience
            logger.warning("%s could not store options (%s)", self.name(), type(exc).__name__)
        return rendered.chunks

    async def _deliver_when_ready(
        self, turn: asyncio.Task[list[str]], to_user: str, msg_id: str
    ) -> None:
        await self.deliver(to_user, await turn, msg_id)

    def _spawn(self, coro: Awaitable[Any]) -> asyncio.Task:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def wait_idle(self, timeout: float = 30.0) -> None:
        """Wait (at most ``timeout`` s) for background turns and deliveries to finish."""
        deadline = asyncio.get_running_loop().time() + timeout
        while self._tasks:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return
            await asyncio.wait(set(self._tasks), timeout=remaining)

    async def aclose(self, timeout: float = 10.0) -> None:
        """Finish pending deliveries, then close the HTTP session and the stores."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)
        await self.close_session()
        await self._dedup_store.close()
        await self._store.close()  # already closed if it is the dedup store's fast tier
