"""Sending through the platform message APIs with wechatpy's clients.

- :class:`OfficialAccountApi`: the customer-service message API (客服消息,
  ``/cgi-bin/message/custom/send``) through ``wechatpy.WeChatClient``;
- :class:`WeComApi`: the application message API (``/cgi-bin/message/send``) through
  ``wechatpy.enterprise.WeChatClient``.

Both talk to a configurable base URL (``WECHAT_API_BASE`` / ``WECOM_API_BASE``; tests
run a local fake). The access token comes from :class:`AccessTokenCache`, shared by every
process, so wechatpy never fetches one itself (its token URL is fixed to Tencent's).
:func:`send_once` makes one attempt and says what happened, in the terms a sender needs:
sent, certainly not sent (safe to retry), refused by the platform (an errcode), or
uncertain (a timeout after the request went out: it may have arrived).

:class:`ApiDelivery` is the channels' use of it for late answers (one retry, no retry
after a timeout); the outbox worker (:mod:`bot.outbox.adapters`) uses :func:`send_once`
with its own retry policy.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from dataclasses import dataclass
from typing import Any, ClassVar

import aiohttp
import requests
import urllib3.exceptions
from wechatpy import WeChatClient
from wechatpy.enterprise import WeChatClient as WeComClient
from wechatpy.exceptions import WeChatClientException

from bot.channels.wechat_token import AccessTokenCache, TokenError

logger = logging.getLogger(__name__)

TOKEN_ERRCODES = {40001, 40014, 42001}
"""The access token was refused (invalid, malformed, expired): fetch a new one."""
BUSY_ERRCODES = {-1, 45009, 45011}
"""System busy, daily quota, too frequent: not delivered, worth trying again later."""
ERRCODE_TEXT = {
    40001: "access token 无效", 40003: "用户ID无效（不是本公众号/应用的用户）",
    40014: "access token 不合法", 42001: "access token 已过期",
    40164: "调用IP不在白名单中", 45015: "超出48小时客服消息窗口（商户需先发一条消息）",
    45047: "客服消息条数超过上限（商户需先发一条消息）", 48001: "没有客服消息接口权限",
    60020: "调用IP不在企业可信IP中", 81013: "成员不存在或不在应用可见范围内",
    -1: "系统繁忙", 45009: "接口调用超过每日上限", 45011: "接口调用太频繁",
}
WINDOW_ERRCODES = {45015, 45047}
"""The merchant must write first (WeChat's 48-hour window, or the reply quota within it)."""
DEFAULT_SEND_TIMEOUT = 10.0
WECHAT_API_BASE = "https://api.weixin.qq.com"
WECOM_API_BASE = "https://qyapi.weixin.qq.com"


class Result(enum.Enum):
    SENT = "sent"
    NOT_SENT = "not_sent"
    """Certainly not delivered (refused connection, HTTP error, busy, bad token): retry."""
    REFUSED = "refused"
    """The platform answered with an errcode that a retry will not change."""
    UNCERTAIN = "uncertain"
    """The request went out and no answer came back: it may have been delivered."""


@dataclass(frozen=True)
class Attempt:
    """What one call to the message API did."""

    result: Result
    errcode: int | None = None
    detail: str = ""

    @property
    def reason(self) -> str:
        """A short Chinese explanation for agents (never a secret; no "code" before the
        number, or the log masking would take it for a verification code)."""
        if self.errcode is not None:
            text = ERRCODE_TEXT.get(self.errcode, "平台拒绝")
            return f"微信接口返回 {self.errcode}：{text}"
        return self.detail


class PlatformApi:
    """One platform's token request and text message, through wechatpy's client."""

    api_base: str
    client_class: ClassVar[type]

    def token_request(self) -> tuple[str, dict[str, str]]:
        """URL and query parameters of the access-token request."""
        raise NotImplementedError

    def credentials(self) -> tuple[str, str]:
        """What wechatpy's client is built with: (AppID or CorpID, secret)."""
        raise NotImplementedError

    def client(self, token: str, timeout: float) -> Any:
        """A wechatpy client that uses ``token`` and this API's base URL."""
        client = self.client_class(*self.credentials(), access_token=token, timeout=timeout,
                                   auto_retry=False)
        client.API_BASE_URL = f"{self.api_base}/cgi-bin/"
        return client

    def send_text(self, client: Any, to_user: str, text: str) -> dict[str, Any]:
        """Send one text (blocking); wechatpy raises on an errcode."""
        raise NotImplementedError


@dataclass(frozen=True)
class OfficialAccountApi(PlatformApi):
    """The Official Account's customer-service message API."""

    appid: str
    secret: str
    api_base: str = WECHAT_API_BASE

    def token_request(self) -> tuple[str, dict[str, str]]:
        params = {"grant_type": "client_credential", "appid": self.appid, "secret": self.secret}
        return f"{self.api_base}/cgi-bin/token", params

    client_class: ClassVar[type] = WeChatClient

    def credentials(self) -> tuple[str, str]:
        return self.appid, self.secret

    def send_text(self, client: WeChatClient, to_user: str, text: str) -> dict[str, Any]:
        return client.message.send_text(to_user, text)


@dataclass(frozen=True)
class WeComApi(PlatformApi):
    """The WeCom self-built app's application message API."""

    corp_id: str
    secret: str
    agent_id: str
    api_base: str = WECOM_API_BASE

    def token_request(self) -> tuple[str, dict[str, str]]:
        params = {"corpid": self.corp_id, "corpsecret": self.secret}
        return f"{self.api_base}/cgi-bin/gettoken", params

    client_class: ClassVar[type] = WeComClient

    def credentials(self) -> tuple[str, str]:
        return self.corp_id, self.secret

    def send_text(self, client: WeComClient, to_user: str, text: str) -> dict[str, Any]:
        return client.message.send_text(int(self.agent_id or 0), to_user, text)


def _connection_refused(exc: requests.ConnectionError) -> bool:
    """True when the request never left (no connection could be made)."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, (urllib3.exceptions.NewConnectionError, ConnectionRefusedError)):
            return True
        cause = cause.__cause__ or cause.__context__ or (
            cause.args[0] if cause.args and isinstance(cause.args[0], BaseException) else None
        )
    return False


def _call(api: PlatformApi, token: str, to_user: str, text: str, timeout: float) -> Attempt:
    """One blocking call, classified."""
    try:
        api.send_text(api.client(token, timeout), to_user, text)
    except WeChatClientException as exc:
        if exc.errcode is None:  # an HTTP error status: the platform did not take it
            status = getattr(getattr(exc, "response", None), "status_code", "?")
            return Attempt(Result.NOT_SENT, detail=f"HTTP {status}")
        errcode = int(exc.errcode)
        if errcode in TOKEN_ERRCODES or errcode in BUSY_ERRCODES:
            return Attempt(Result.NOT_SENT, errcode)
        return Attempt(Result.REFUSED, errcode)
    except requests.ConnectTimeout:
        return Attempt(Result.NOT_SENT, detail="连接超时")
    except requests.Timeout:
        return Attempt(Result.UNCERTAIN, detail="平台接口超时未应答，可能已送达")
    except requests.ConnectionError as exc:
        if _connection_refused(exc):
            return Attempt(Result.NOT_SENT, detail="无法连接平台接口")
        return Attempt(Result.UNCERTAIN, detail="连接中断，可能已送达")
    except (requests.RequestException, ValueError) as exc:
        return Attempt(Result.NOT_SENT, detail=type(exc).__name__)
    return Attempt(Result.SENT, 0)


async def send_once(
    api: PlatformApi, tokens: AccessTokenCache, to_user: str, text: str,
    timeout: float = DEFAULT_SEND_TIMEOUT,
) -> Attempt:
    """One attempt to send ``text``; a refused token is invalidated for the next attempt."""
    try:
        token = await tokens.get()
    except TokenError as exc:
        return Attempt(Result.NOT_SENT, detail=f"取不到 access token（{exc}）")
    loop = asyncio.get_running_loop()
    attempt = await loop.run_in_executor(None, _call, api, token, to_user, text, timeout)
    if attempt.errcode in TOKEN_ERRCODES:
        await tokens.invalidate(token)
    return attempt


class ApiDelivery:
    """Late answers through the platform API, mixed into the channels.

    They provide ``name()``, ``api`` (a :class:`PlatformApi`) and ``tokens``.
    """

    api: PlatformApi
    tokens: AccessTokenCache
    send_timeout: float = DEFAULT_SEND_TIMEOUT
    _session: aiohttp.ClientSession | None = None

    @classmethod
    def name(cls) -> str:
        raise NotImplementedError

    async def deliver(self, to_user: str, chunks: list[str], msg_id: str) -> bool:
        """Send chunks in order through the message API; stop at the first that fails twice."""
        for index, chunk in enumerate(chunks):
            if not await self._send_with_retry(to_user, chunk):
                logger.error(
                    "%s gave up delivering msg_id=%s part %d/%d",
                    self.name(),
                    msg_id,
                    index + 1,
                    len(chunks),
                )
                return False
        logger.info(
            "%s delivered msg_id=%s to sender=%s in %d part(s)",
            self.name(),
            msg_id,
            to_user,
            len(chunks),
        )
        return True

    async def _send_with_retry(self, to_user: str, text: str) -> bool:
        """One attempt plus one retry; a timed-out request is not retried (it may have arrived)."""
        for attempt in (1, 2):
            outcome = await send_once(self.api, self.tokens, to_user, text, self.send_timeout)
            if outcome.result is Result.SENT:
                return True
            if outcome.result is Result.UNCERTAIN:
                logger.error(
                    "%s message API timed out for sender=%s; not retried", self.name(), to_user
                )
                return False
            logger.warning(
                "%s message API errcode=%s (attempt %d) sender=%s: %s",
                self.name(),
                outcome.errcode,
                attempt,
                to_user,
                outcome.detail,
            )
        return False

    async def fetch_token(self) -> tuple[str, int]:
        """A new access token from the platform (the token cache calls this)."""
        url, params = self.api.token_request()
        return self.token_from(await self.get_json(url, params))

    def session(self) -> aiohttp.ClientSession:
        """The HTTP session for token requests (created in the running loop)."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        return self._session

    async def get_json(self, url: str, params: dict[str, str]) -> dict[str, Any]:
        """GET returning JSON; errors name only the exception type (the URL holds secrets)."""
        try:
            async with self.session().get(url, params=params) as resp:
                if resp.status >= 400:
                    raise TokenError(f"HTTP {resp.status}")
                return await resp.json(content_type=None)
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
            raise TokenError(type(exc).__name__) from None

    @staticmethod
    def token_from(data: dict[str, Any]) -> tuple[str, int]:
        """(token, expires_in) from a token response, else :class:`TokenError` with the errcode."""
        token = data.get("access_token")
        if not token or data.get("errcode", 0) != 0:
            raise TokenError(f"token endpoint errcode={data.get('errcode')}")
        return str(token), int(data.get("expires_in") or 7200)

    async def close_session(self) -> None:
        """Close the HTTP session, if one was opened."""
        if self._session is not None:
            await self._session.close()
            self._session = None
