"""Test doubles for the WeChat channels: the platform that signs and encrypts
callbacks (with wechatpy's own crypto), a fake message API server, a fake bot,
and a real Sanic server running a channel blueprint on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import socket
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from defusedxml.ElementTree import fromstring
from rasa.core.channels.channel import UserMessage
from sanic import Sanic
from wechatpy.crypto import WeChatCrypto
from wechatpy.enterprise.crypto import WeChatCrypto as WeComCrypto
from yarl import URL

from bot.channels.wechat import WeChatInput
from bot.channels.wechat_request import CommonSettings
from bot.channels.wecom import WeComInput
from tests.fakes.wechat_api import FakeWeChatApi

TOKEN = "jiebangTestToken2025"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # 43 characters, as in the console
APPID = "wx1234567890abcdef"
APPSECRET = "app-secret-never-logged-0123456789"
ACCOUNT = "gh_0123456789ab"
OPENID = "oUNBIND_merchant_openid_001"

CORP_ID = "ww0123456789abcdef"
CORP_SECRET = "corp-secret-never-logged-987654321"
AGENT_ID = "1000002"
WECOM_USER = "ZhangSan"

REDIS_URL_TEST = os.environ.get("REDIS_URL_TEST", "").strip()


def require_redis() -> str:
    """REDIS_URL_TEST, or skip (fail under REQUIRE_SERVICES=1, as CI sets)."""
    if REDIS_URL_TEST:
        return REDIS_URL_TEST
    reason = "Redis-backed test: REDIS_URL_TEST is not set (e.g. redis://127.0.0.1:6379/15)"
    if os.environ.get("REQUIRE_SERVICES"):
        pytest.fail(reason + " but REQUIRE_SERVICES is set")
    pytest.skip(reason)


def sign(*parts: str) -> str:
    """WeChat's signature: SHA1 of the sorted parts."""
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8")).hexdigest()


def xml_fields(body: bytes | str) -> dict[str, str]:
    root = fromstring(body)
    return {child.tag: child.text or "" for child in root}


# -- callbacks as the platforms build them -------------------------------------


@dataclass
class Callback:
    """A POST the platform would send: query parameters and body."""

    params: dict[str, str]
    body: bytes


def text_xml(content: str, msg_id: int, sender: str = OPENID, to: str = ACCOUNT) -> str:
    return (
        f"<xml><ToUserName><![CDATA[{to}]]></ToUserName>"
        f"<FromUserName><![CDATA[{sender}]]></FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>"
    )


def message_xml(msg_type: str, fields: dict[str, str], msg_id: int | None = None, **kw: str) -> str:
    sender, to = kw.get("sender", OPENID), kw.get("to", ACCOUNT)
    create_time = kw.get("create_time", str(int(time.time())))
    extra = "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in fields.items())
    msg = f"<MsgId>{msg_id}</MsgId>" if msg_id is not None else ""
    return (
        f"<xml><ToUserName><![CDATA[{to}]]></ToUserName>"
        f"<FromUserName><![CDATA[{sender}]]></FromUserName>"
        f"<CreateTime>{create_time}</CreateTime><MsgType><![CDATA[{msg_type}]]></MsgType>"
        f"{extra}{msg}</xml>"
    )


def event_xml(event: str, key: str | None = None, create_time: str | None = None) -> str:
    fields = {"Event": event}
    if key is not None:
        fields["EventKey"] = key
    return message_xml("event", fields, create_time=create_time or str(int(time.time())))


class OfficialAccount:
    """The WeChat server side of an Official Account: signs (and encrypts) callbacks."""

    def __init__(self, token: str = TOKEN, aes_key: str = AES_KEY, appid: str = APPID) -> None:
        self.token = token
        self.crypto = WeChatCrypto(token, aes_key, appid)

    def plaintext(
        self,
        xml: str,
        token: str | None = None,
        timestamp: str | None = None,
        nonce: str | None = None,
    ) -> Callback:
        """Plaintext mode: ``signature`` covers token, timestamp and nonce only."""
        timestamp = timestamp or str(int(time.time()))
        nonce = nonce or secrets.token_hex(5)
        params = {
            "signature": sign(token or self.token, timestamp, nonce),
            "timestamp": timestamp,
            "nonce": nonce,
            "openid": OPENID,
        }
        return Callback(params, xml.encode("utf-8"))

    def encrypted(
        self, xml: str, timestamp: str | None = None, nonce: str | None = None
    ) -> Callback:
        """Safe mode: body ``<ToUserName/><Encrypt/>``, ``msg_signature`` in the query."""
        timestamp = timestamp or str(int(time.time()))
        nonce = nonce or secrets.token_hex(5)
        envelope = xml_fields(self.crypto.encrypt_message(xml, nonce, timestamp))
        encrypt = envelope["Encrypt"]
        body = (
            f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
            f"<Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
        )
        params = {
            "signature": sign(self.token, timestamp, nonce),
            "timestamp": timestamp,
            "nonce": nonce,
            "openid": OPENID,
            "encrypt_type": "aes",
            "msg_signature": envelope["MsgSignature"],
        }
        assert params["msg_signature"] == sign(self.token, timestamp, nonce, encrypt)
        return Callback(params, body.encode("utf-8"))

    def open_reply(self, body: bytes) -> dict[str, str]:
        """Check the reply's MsgSignature and decrypt it, as WeChat would."""
        envelope = xml_fields(body)
        expected = sign(self.token, envelope["TimeStamp"], envelope["Nonce"], envelope["Encrypt"])
        assert envelope["MsgSignature"] == expected
        inner = self.crypto.decrypt_message(
            body.decode("utf-8"), envelope["MsgSignature"], envelope["TimeStamp"], envelope["Nonce"]
        )
        return xml_fields(inner)


class WeComServer:
    """The WeCom server side of a self-built app: every callback encrypted."""

    def __init__(self, token: str = TOKEN, aes_key: str = AES_KEY, corp_id: str = CORP_ID):
        self.token = token
        self.crypto = WeComCrypto(token, aes_key, corp_id)

    def verification(self, echo: str) -> dict[str, str]:
        timestamp, nonce = str(int(time.time())), secrets.token_hex(5)
        envelope = xml_fields(self.crypto.encrypt_message(echo, nonce, timestamp))
        return {
            "msg_signature": envelope["MsgSignature"],
            "timestamp": timestamp,
            "nonce": nonce,
            "echostr": envelope["Encrypt"],
        }

    def encrypted(
        self,
        xml: str,
        agent_id: str = AGENT_ID,
        timestamp: str | None = None,
        nonce: str | None = None,
    ) -> Callback:
        timestamp = timestamp or str(int(time.time()))
        nonce = nonce or secrets.token_hex(5)
        envelope = xml_fields(self.crypto.encrypt_message(xml, nonce, timestamp))
        body = (
            f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName>"
            f"<AgentID><![CDATA[{agent_id}]]></AgentID>"
            f"<Encrypt><![CDATA[{envelope['Encrypt']}]]></Encrypt></xml>"
        )
        params = {"msg_signature": envelope["MsgSignature"], "timestamp": timestamp, "nonce": nonce}
        return Callback(params, body.encode("utf-8"))

    def open_reply(self, body: bytes) -> dict[str, str]:
        envelope = xml_fields(body)
        expected = sign(self.token, envelope["TimeStamp"], envelope["Nonce"], envelope["Encrypt"])
        assert envelope["MsgSignature"] == expected
        inner = self.crypto.decrypt_message(
            body.decode("utf-8"), envelope["MsgSignature"], envelope["TimeStamp"], envelope["Nonce"]
        )
        return xml_fields(inner)


def wecom_xml(msg_type: str, fields: dict[str, str], msg_id: int | None = None, **kw: str) -> str:
    """A decrypted WeCom callback (ToUserName is the CorpID, plus AgentID)."""
    xml = message_xml(msg_type, fields, msg_id, sender=WECOM_USER, to=CORP_ID, **kw)
    return xml.replace("</xml>", f"<AgentID>{kw.get('agent_id', AGENT_ID)}</AgentID></xml>")


# -- the fake message API ----------------------------------------------------------


@dataclass
class FakeApi(FakeWeChatApi):
    """The fake platform API (``tests/fakes/wechat_api.py``) without the 48-hour window:
    these tests talk to the channel alone, so the platform never saw the user write."""

    window: bool = False


# -- the fake bot ----------------------------------------------------------------------

REASON_BUTTONS = [
    {"title": "更换设备", "payload": '/inform{"unbind_reason":"更换设备"}'},
    {"title": "业务调整", "payload": '/inform{"unbind_reason":"业务调整"}'},
    {"title": "设备故障", "payload": '/inform{"unbind_reason":"设备故障"}'},
]


@dataclass
class FakeBot:
    """Stands in for ``agent.handle_message``: records each turn and answers like the bot.

    It sends through ``output_channel.send_response`` exactly as Rasa does.
    """

    delay: float = 0.0
    turns: list[UserMessage] = field(default_factory=list)
    replies: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        defaults = {
            "/greet": [{"text": "您好，我是解绑助手，可以帮您解绑POS终端、查询解绑进度。"}],
            "我要解绑": [{"text": "请问解绑的原因是什么？", "buttons": REASON_BUTTONS}],
            "/faq_terminal_steps": [{"text": "在终端上按 **F1+F4** 进入菜单，选择 系统设置。"}],
        }
        self.replies = {**defaults, **self.replies}

    @property
    def texts(self) -> list[str]:
        return [m.text or "" for m in self.turns]

    async def __call__(self, message: UserMessage) -> None:
        self.turns.append(message)
        await asyncio.sleep(self.delay)
        answer = self.replies.get(
            message.text or "", [{"text": f"已收到您的消息（第{len(self.turns)}条）。"}]
        )
        for reply in answer:
            await message.output_channel.send_response(message.sender_id, dict(reply))


# -- the channel behind a real Sanic server ------------------------------------------


def settings(api: FakeApi, **overrides: Any) -> CommonSettings:
    values: dict[str, Any] = {
        "api_base": api.base_url,
        "redis_url": None,
        "key_prefix": f"test:wechat:{uuid.uuid4().hex}",
        "reply_timeout": 1.0,
    }
    values.update(overrides)
    return CommonSettings(**values)


def official_account(
    api: FakeApi, aes: bool = True, allow_plaintext: bool = True, **overrides: Any
) -> WeChatInput:
    """An Official Account channel; by default it also takes plaintext callbacks, as
    ``WECHAT_ALLOW_PLAINTEXT=1`` allows, so tests can post both kinds to one channel."""
    return WeChatInput(
        token=TOKEN,
        encoding_aes_key=AES_KEY if aes else None,
        appid=APPID,
        secret=APPSECRET,
        settings=settings(api, **overrides),
        allow_plaintext=allow_plaintext,
    )


def wecom_app(api: FakeApi, **overrides: Any) -> WeComInput:
    return WeComInput(
        token=TOKEN,
        encoding_aes_key=AES_KEY,
        corp_id=CORP_ID,
        secret=CORP_SECRET,
        agent_id=AGENT_ID,
        settings=settings(api, **overrides),
    )


@dataclass
class Served:
    """A running channel: its webhook URL and an HTTP client."""

    url: str
    http: aiohttp.ClientSession

    async def get(self, params: dict[str, str] | URL) -> tuple[int, bytes]:
        """GET the webhook with ``params``, or GET a full URL built by the test."""
        if isinstance(params, URL):
            request = self.http.get(params)
        else:
            request = self.http.get(self.url, params=params)
        async with request as resp:
            return resp.status, await resp.read()

    async def post(self, callback: Callback) -> tuple[int, bytes]:
        async with self.http.post(self.url, params=callback.params, data=callback.body) as resp:
            return resp.status, await resp.read()

    async def post_raw(
        self, params: dict[str, str], body: Any, headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        """POST ``body`` (bytes, or an async iterator of bytes: sent chunked)."""
        async with self.http.post(self.url, params=params, data=body, headers=headers) as resp:
            return resp.status, await resp.read()


@asynccontextmanager
async def serve(channel: Any, bot: Any) -> AsyncIterator[Served]:
    """Mount ``channel`` on a fresh Sanic app served on a random local port."""
    app = Sanic(f"wechat_test_{uuid.uuid4().hex}", configure_logging=False)
    app.blueprint(channel.blueprint(bot), url_prefix=f"/webhooks/{channel.name()}")
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = await app.create_server(sock=sock, return_asyncio_server=True, access_log=False)
    assert server is not None
    await server.startup()  # create_server already listens; these run the listeners
    await server.before_start()
    await server.after_start()
    http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15))
    try:
        yield Served(f"http://127.0.0.1:{port}/webhooks/{channel.name()}/webhook", http)
    finally:
        await http.close()
        await server.before_stop()
        closing = server.close()
        if closing is not None:
            await closing
        await server.after_stop()
        sock.close()
