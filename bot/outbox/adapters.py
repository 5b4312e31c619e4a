"""How one outbox row reaches its merchant, per channel.

Every row is first stored in the conversation (Rasa's tracker, through
``/webhooks/outbound/deliver``; see :mod:`bot.outbox.rasa_channel`), which is idempotent.
Then:

- web chat (``socketio``): the same call pushes it to the page; nothing else to do;
- WeChat Official Account (``wechat``): the customer-service message API, WeCom
  (``wecom``): the application message API, both through wechatpy's clients
  (:mod:`bot.channels.wechat_api`), in parts of at most 2048 bytes. Each part is marked
  ``in_flight`` while its request is out and counted once answered, so a retry resumes
  at the next part and a worker that dies mid-request leaves the row ``uncertain``
  instead of sending the part twice;
- anything else (``rest``, ``cmdline``): stored in the conversation only.

An adapter answers with a :class:`Delivery`: ``sent``, ``pending`` (retry later),
``failed``, ``uncertain`` or ``held`` (WeChat's 48-hour window: a notice waits for the
merchant's next message; an agent's reply fails so that the agent knows at once).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import aiohttp

from bot.channels.wechat_api import (
    TOKEN_ERRCODES,
    WECHAT_API_BASE,
    WECOM_API_BASE,
    WINDOW_ERRCODES,
    ApiDelivery,
    OfficialAccountApi,
    PlatformApi,
    Result,
    WeComApi,
    send_once,
)
from bot.channels.wechat_render import split_text
from bot.channels.wechat_request import common_settings, setting
from bot.channels.wechat_sqlstore import dedup_store
from bot.channels.wechat_store import make_store
from bot.channels.wechat_token import AccessTokenCache
from bot.outbox.store import OutboxRow, OutboxStore

log = logging.getLogger(__name__)
T = TypeVar("T")


class LeaseLost(RuntimeError):
    """Another worker took the row over (this one was too slow): stop touching it."""


@dataclass(frozen=True)
class Delivery:
    """The outcome of one delivery attempt of one row."""

    state: str
    error: str = ""


@dataclass
class Lease:
    """A leased row's progress, written as it happens (in a worker thread)."""

    store: OutboxStore
    row: OutboxRow
    owner: str
    lease_for: float = 120.0

    async def _run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        call = functools.partial(fn, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(None, call)

    async def _progress(self, **values: Any) -> None:
        if not await self._run(self.store.progress, self.row.id, self.owner, **values):
            raise LeaseLost(self.row.id)

    async def recorded(self) -> None:
        await self._progress(recorded=True)

    async def start_send(self) -> None:
        if not await self._run(self.store.start_send, self.row.id, self.owner, self.lease_for):
            raise LeaseLost(self.row.id)

    async def part_sent(self, count: int) -> None:
        await self._progress(parts_sent=count)

    async def not_sent(self) -> None:
        await self._progress()


class Adapter(Protocol):
    async def deliver(self, row: OutboxRow, lease: Lease) -> Delivery: ...


@dataclass
class RasaRecorder:
    """Stores (and for the web chat, pushes) a row through Rasa's outbound endpoint."""

    rasa_url: str
    token: str = ""
    timeout: float = 10.0
    _session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout))
        return self._session

    async def store(self, row: OutboxRow, push: bool) -> str | None:
        """None when stored, else why not (the row is retried)."""
        body = {"outbox_id": row.id, "sender_id": row.sender_id, "channel": row.channel,
                "kind": row.kind, "text": row.text, "agent": row.agent,
                "ticket_no": row.ticket_no, "push": push}
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        url = f"{self.rasa_url.rstrip('/')}/webhooks/outbound/deliver"
        try:
            async with self.session().post(url, json=body, headers=headers) as reply:
                if reply.status == 200:
                    return None
                return f"对话服务答复 HTTP {reply.status}"
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            return f"对话服务不可达（{type(exc).__name__}）"

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


@dataclass
class RecordOnly:
    """Channels the bot cannot write to on its own: the message waits in the conversation."""

    recorder: RasaRecorder
    push: bool = False

    async def deliver(self, row: OutboxRow, lease: Lease) -> Delivery:
        problem = await self.recorder.store(row, push=self.push)
        return Delivery("pending", problem) if problem else Delivery("sent")


def web_chat(recorder: RasaRecorder) -> RecordOnly:
    """The web chat: stored in the conversation and pushed to a connected page."""
    return RecordOnly(recorder, push=True)


class PlatformSender(ApiDelivery):
    """A platform API with its shared access-token cache (as the channels have)."""

    def __init__(self, name: str, api: PlatformApi, key_prefix: str, redis_url: str | None,
                 database_url: str | None) -> None:
        self._name = name
        self.api = api
        self.store = dedup_store(make_store(redis_url), database_url)
        self.tokens = AccessTokenCache(self.store, f"{key_prefix}:access_token",
                                       self.fetch_token)

    def name(self) -> str:  # type: ignore[override]
        return self._name

    async def aclose(self) -> None:
        await self.close_session()
        await self.store.close()


@dataclass
class PlatformAdapter:
    """WeChat / WeCom: stored in the conversation, then sent part by part."""

    recorder: RasaRecorder
    sender: PlatformSender
    timeout: float = 10.0

    async def deliver(self, row: OutboxRow, lease: Lease) -> Delivery:
        if not row.recorded:
            problem = await self.recorder.store(row, push=False)
            if problem:
                return Delivery("pending", problem)
            await lease.recorded()
        parts = split_text(row.text)
        for index in range(row.parts_sent, len(parts)):
            outcome = await self._send_part(row, parts[index], lease)
            if outcome is not None:
                return outcome
            await lease.part_sent(index + 1)
        return Delivery("sent")

    async def _send_part(self, row: OutboxRow, text: str, lease: Lease) -> Delivery | None:
        """None once the part is delivered, else the row's outcome."""
        for attempt in (1, 2):  # the second only after the token was refused
            await lease.start_send()
            sent = await send_once(self.sender.api, self.sender.tokens, row.sender_id, text,
                                   self.timeout)
            if sent.result is Result.SENT:
                return None
            if sent.result is Result.UNCERTAIN:
                return Delivery("uncertain", sent.reason)
            await lease.not_sent()
            if sent.errcode in TOKEN_ERRCODES and attempt == 1:
                continue
            if sent.result is Result.NOT_SENT:
                return Delivery("pending", sent.reason)
            if sent.errcode in WINDOW_ERRCODES and row.kind == "notice":
                return Delivery("held", sent.reason)
            return Delivery("failed", sent.reason)
        return Delivery("pending", "access token 被拒绝")


@dataclass
class Unconfigured:
    """A platform channel whose credentials are not set: rows fail and say which."""

    missing: str

    async def deliver(self, row: OutboxRow, lease: Lease) -> Delivery:
        return Delivery("failed", f"渠道未配置：请设置 {self.missing}")


def platform_adapters(recorder: RasaRecorder, timeout: float) -> dict[str, Adapter]:
    """The WeChat and WeCom adapters from the same settings the channels read."""
    adapters: dict[str, Adapter] = {}
    wechat = common_settings(None, "WECHAT", WECHAT_API_BASE)
    appid, secret = setting(None, "appid", "WECHAT_APPID"), setting(None, "secret",
                                                                    "WECHAT_APPSECRET")
    if appid and secret:
        api = OfficialAccountApi(appid, secret, wechat.api_base)
        sender = PlatformSender("wechat", api, wechat.key_prefix, wechat.redis_url,
                                wechat.database_url)
        adapters["wechat"] = PlatformAdapter(recorder, sender, timeout)
    else:
        adapters["wechat"] = Unconfigured("WECHAT_APPID, WECHAT_APPSECRET")
    wecom = common_settings(None, "WECOM", WECOM_API_BASE)
    corp = setting(None, "corp_id", "WECOM_CORP_ID")
    corp_secret = setting(None, "secret", "WECOM_SECRET")
    agent_id = setting(None, "agent_id", "WECOM_AGENT_ID")
    if corp and corp_secret and agent_id:
        api = WeComApi(corp, corp_secret, agent_id, wecom.api_base)
        sender = PlatformSender("wecom", api, wecom.key_prefix, wecom.redis_url,
                                wecom.database_url)
        adapters["wecom"] = PlatformAdapter(recorder, sender, timeout)
    else:
        adapters["wecom"] = Unconfigured("WECOM_CORP_ID, WECOM_SECRET, WECOM_AGENT_ID")
    return adapters


def rasa_recorder(url: str | None = None) -> RasaRecorder:
    """The recorder for ``url`` or ``RASA_URL`` (with ``RASA_AUTH_TOKEN`` when set)."""
    return RasaRecorder(url or os.environ.get("RASA_URL", "http://127.0.0.1:5005"),
                        os.environ.get("RASA_AUTH_TOKEN", "").strip())
