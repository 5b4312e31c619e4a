"""Talking to the running bot as a merchant (REST, WeChat, WeCom callbacks) and as an
agent (the console API), and waiting for what the outbox worker delivers."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote

import requests

from tests.channels.wechat_support import (
    AGENT_ID,
    CORP_ID,
    OfficialAccount,
    WeComServer,
    message_xml,
    text_xml,
)

T = TypeVar("T")


def wait_for(probe: Callable[[], T], what: str, timeout: float = 90.0) -> T:
    """Poll ``probe`` until it returns something truthy (the bot works at its own pace)."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def unique_merchant() -> str:
    return "8495810" + f"{uuid.uuid4().int % 10**8:08d}"


@dataclass
class Console:
    """The agent console's API, as an agent named ``agent`` with the shared token."""

    web_url: str
    token: str
    agent: str = "张三"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "X-Agent": quote(self.agent)}

    def get(self, path: str) -> requests.Response:
        return requests.get(f"{self.web_url}{path}", headers=self.headers, timeout=30)

    def post(self, path: str, body: dict[str, Any] | None = None) -> requests.Response:
        return requests.post(f"{self.web_url}{path}", json=body or {}, headers=self.headers,
                             timeout=30)

    def handoff_of(self, sender: str) -> dict[str, Any]:
        def find() -> dict[str, Any] | None:
            items = self.get("/api/handoffs?poll=1").json()["handoffs"]
            return next((h for h in items if h["sender_id"] == sender
                         and h["state"] in ("queued", "claimed")), None)
        return wait_for(find, f"{sender} in the handoff queue")

    def detail(self, handoff_id: int) -> dict[str, Any]:
        return self.get(f"/api/handoffs/{handoff_id}?after=0").json()

    def reply_state(self, handoff_id: int, outbox_id: int) -> str | None:
        rows = self.detail(handoff_id)["outbox"]
        return next((r["state"] for r in rows if r["id"] == outbox_id), None)

    def delivered(self, handoff_id: int, outbox_id: int) -> bool:
        return self.reply_state(handoff_id, outbox_id) == "sent"


def rest(rasa_url: str, sender: str, text: str) -> list[dict[str, Any]]:
    reply = requests.post(f"{rasa_url}/webhooks/rest/webhook",
                          json={"sender": sender, "message": text}, timeout=60)
    assert reply.status_code == 200, reply.text
    return reply.json()


def tracker_events(rasa_url: str, sender: str) -> list[dict[str, Any]]:
    reply = requests.get(f"{rasa_url}/conversations/{quote(sender)}/tracker", timeout=30)
    assert reply.status_code == 200
    return reply.json()["events"]


def bot_events(rasa_url: str, sender: str, kind: str | None = None) -> list[dict[str, Any]]:
    return [e for e in tracker_events(rasa_url, sender) if e["event"] == "bot"
            and (kind is None or (e.get("metadata") or {}).get("kind") == kind)]


@dataclass
class WeChatMerchant:
    """A WeChat user writing to the Official Account (or the WeCom app) of the running bot.

    Every message also opens the 48-hour window on the fake platform, as WeChat would.
    """

    rasa_url: str
    api: Any
    openid: str = field(default_factory=lambda: f"oUNBIND_{uuid.uuid4().hex[:20]}")
    wecom: bool = False
    msg_id: int = field(default_factory=lambda: uuid.uuid4().int % 10**15)

    def send(self, text: str) -> tuple[int, dict[str, str] | None]:
        """(status, the passive reply's fields, None for ``success`` / an empty body)."""
        self.msg_id += 1
        self.api.user_wrote(self.openid)
        if self.wecom:
            server = WeComServer()
            xml = message_xml("text", {"Content": text}, self.msg_id, sender=self.openid,
                              to=CORP_ID)
            xml = xml.replace("</xml>", f"<AgentID>{AGENT_ID}</AgentID></xml>")
            callback = server.encrypted(xml)
            path = "wecom"
        else:
            server = OfficialAccount()
            callback = server.encrypted(text_xml(text, self.msg_id, sender=self.openid))
            path = "wechat"
        reply = requests.post(f"{self.rasa_url}/webhooks/{path}/webhook",
                              params=callback.params, data=callback.body, timeout=30)
        if reply.status_code != 200 or reply.content in (b"success", b""):
            return reply.status_code, None
        return reply.status_code, server.open_reply(reply.content)

    def received(self) -> list[str]:
        """What the platform API delivered to this user, in order."""
        return self.api.contents(self.openid)

