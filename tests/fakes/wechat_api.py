"""A local fake of api.weixin.qq.com and qyapi.weixin.qq.com: an aiohttp server.

It behaves like the real APIs where the bot depends on them:

- access tokens: ``/cgi-bin/token`` (Official Account) and ``/cgi-bin/gettoken`` (WeCom)
  check the AppID/secret or CorpID/secret; every send checks its ``access_token``:
  an unknown one gets **40001**, one expired with :meth:`expire_tokens` **42001**;
- the JSON body: ``touser``, ``msgtype`` ``text``, non-empty ``text.content`` of at most
  2048 bytes, and for WeCom the app's ``agentid``; a wrong body gets WeChat's errcode
  (40003 invalid openid, 40008 invalid message type, 44004 empty content, 45002 too long,
  40056 invalid agentid, 81013 unknown WeCom member);
- the 48-hour customer-service window: a user who has not written (:meth:`user_wrote`) in
  the last 48 hours gets **45015**, and more than 20 messages since their last one
  **45047**.

Faults for failure tests: ``send_errcodes`` (answered in turn; 0 lets that message
through), ``http_statuses`` (an
HTTP error instead), ``hang`` (requests wait until it is cleared), ``token_delay``.

Use it in a test's event loop (``async with FakeWeChatApi().running()``) or, for a bot
running in other processes, in a thread of its own (``with fake.in_thread()``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.threaded import ServedInThread

APPID = "wx1234567890abcdef"
APPSECRET = "app-secret-never-logged-0123456789"
CORP_ID = "ww0123456789abcdef"
CORP_SECRET = "corp-secret-never-logged-987654321"
AGENT_ID = 1000002
WINDOW = 48 * 3600
REPLIES_PER_MESSAGE = 20
MAX_CONTENT_BYTES = 2048


def _error(errcode: int, errmsg: str) -> web.Response:
    return web.json_response({"errcode": errcode, "errmsg": errmsg})


@dataclass
class FakeWeChatApi(ServedInThread):
    """Fake WeChat / WeCom message APIs recording what they receive."""

    appid: str = APPID
    secret: str = APPSECRET
    corp_id: str = CORP_ID
    corp_secret: str = CORP_SECRET
    agent_id: int = AGENT_ID
    expires_in: int = 7200
    token_delay: float = 0.0
    window: bool = True
    """Enforce the 48-hour window (45015) and the reply quota (45047) for Official Accounts."""
    wecom_members: set[str] | None = None
    """WeCom user ids that exist (None: every user id does)."""
    clock: Callable[[], float] = time.time
    token_fetches: list[dict[str, str]] = field(default_factory=list)
    attempts: list[dict[str, Any]] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    send_errcodes: list[int] = field(default_factory=list)
    http_statuses: list[int] = field(default_factory=list)
    hang: bool = False
    valid_tokens: set[str] = field(default_factory=set)
    expired_tokens: set[str] = field(default_factory=set)
    last_wrote: dict[str, float] = field(default_factory=dict)
    replies_since: dict[str, int] = field(default_factory=dict)
    base_url: str = ""
    _issued: int = 0

    # -- the platform's view of users ------------------------------------------------

    def user_wrote(self, openid: str, at: float | None = None) -> None:
        """The user sent the account a message (opens the 48-hour window)."""
        self.last_wrote[openid] = self.clock() if at is None else at
        self.replies_since[openid] = 0

    def expire_tokens(self) -> None:
        """Every token issued so far expires (sends with it get 42001)."""
        self.expired_tokens |= self.valid_tokens
        self.valid_tokens.clear()

    def contents(self, to_user: str | None = None) -> list[str]:
        return [m["body"]["text"]["content"] for m in self.messages
                if to_user is None or m["body"].get("touser") == to_user]

    async def wait_messages(self, count: int, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            await asyncio.sleep(0.02)

    # -- handlers --------------------------------------------------------------------

    async def _token(self, request: web.Request) -> web.Response:
        query = dict(request.query)
        self.token_fetches.append(query)
        await asyncio.sleep(self.token_delay)
        if request.path.endswith("/gettoken"):
            if query.get("corpid") != self.corp_id:
                return _error(40013, "invalid corpid")
            if query.get("corpsecret") != self.corp_secret:
                return _error(40001, "invalid credential")
        elif query.get("grant_type") != "client_credential" or query.get("appid") != self.appid:
            return _error(40013, "invalid appid")
        elif query.get("secret") != self.secret:
            return _error(40125, "invalid appsecret")
        self._issued += 1
        token = f"ACCESS_TOKEN_{self._issued}"
        self.valid_tokens.add(token)
        return web.json_response(
            {"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": self.expires_in}
        )

    async def _send(self, request: web.Request) -> web.Response:
        token = request.query.get("access_token")
        try:
            body = await request.json()
        except ValueError:
            body = None
        record = {"path": request.path, "token": token, "body": body, "at": self.clock()}
        self.attempts.append(record)
        while self.hang:
            await asyncio.sleep(0.02)
        if self.http_statuses:
            return web.Response(status=self.http_statuses.pop(0), text="upstream error")
        if token in self.expired_tokens:
            return _error(42001, "access_token expired")
        if token not in self.valid_tokens:
            return _error(40001, "invalid credential, access_token is invalid or not latest")
        problem = self._check_body(request.path, body)
        if problem is not None:
            return _error(*problem)
        errcode = self.send_errcodes.pop(0) if self.send_errcodes else 0
        if errcode:
            return _error(errcode, "injected")
        self.messages.append(record)
        return _error(0, "ok")

    def _check_body(self, path: str, body: Any) -> tuple[int, str] | None:
        """WeChat's errcode for a malformed body or a closed window, else None."""
        if not isinstance(body, dict) or not isinstance(body.get("touser"), str):
            return 40003, "invalid openid"
        if body.get("msgtype") != "text":
            return 40008, "invalid message type"
        content = (body.get("text") or {}).get("content")
        if not isinstance(content, str) or not content.strip():
            return 44004, "empty content"
        if len(content.encode("utf-8")) > MAX_CONTENT_BYTES:
            return 45002, "content size out of limit"
        user = body["touser"]
        if path.endswith("/message/send"):  # WeCom
            if body.get("agentid") != self.agent_id:
                return 40056, "invalid agentid"
            if self.wecom_members is not None and user not in self.wecom_members:
                return 81013, "user & party & tag all invalid"
            return None
        if self.window:
            wrote = self.last_wrote.get(user)
            if wrote is None or self.clock() - wrote > WINDOW:
                return 45015, "response out of time limit or subscription is canceled"
            if self.replies_since.get(user, 0) >= REPLIES_PER_MESSAGE:
                return 45047, "out of response count limit"
            self.replies_since[user] = self.replies_since.get(user, 0) + 1
        return None

    # -- serving ---------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/cgi-bin/token", self._token)
        app.router.add_get("/cgi-bin/gettoken", self._token)
        app.router.add_post("/cgi-bin/message/custom/send", self._send)
        app.router.add_post("/cgi-bin/message/send", self._send)
        return app

    @asynccontextmanager
    async def running(self, port: int = 0) -> AsyncIterator[FakeWeChatApi]:
        """Serve on 127.0.0.1 in the running event loop."""
        runner = web.AppRunner(self.app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", port)
        await site.start()
        bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{bound}"
        try:
            yield self
        finally:
            self.hang = False
            await runner.cleanup()

    def wait_until(self, predicate: Callable[[], bool], timeout: float = 30.0) -> bool:
        """Poll ``predicate`` (from another thread) until true or ``timeout`` s passed."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.05)
        return predicate()
