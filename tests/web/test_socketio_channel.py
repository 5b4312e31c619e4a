"""Rasa's socket.io channel as the page uses it (bot.web.chat.channel), without a browser.

A minimal socket.io client over ``websockets`` (the venv's aiohttp is too old for
python-socketio's own client), run in its own thread's event loop: Playwright's sync
API keeps a loop running in the main thread while the browser tests' fixture is alive.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
import websockets

pytestmark = pytest.mark.server


class Client:
    """socket.io (protocol 5) over a websocket: events, acks, pings."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.ids = itertools.count()
        self.replies: list[dict] = []
        self.confirmed: str | None = None

    @classmethod
    async def connect(cls, http_url: str) -> Client:
        url = http_url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
        client = cls(await websockets.connect(url))
        assert (await client.ws.recv()).startswith("0")  # engine.io open
        await client.ws.send("40")
        assert (await client.ws.recv()).startswith("40")  # socket.io connect
        return client

    async def next_packet(self) -> tuple[str, Any]:
        """The next ack ("43<id>", data) or confirm; bot messages are collected."""
        while True:
            frame = await asyncio.wait_for(self.ws.recv(), 30)
            if frame == "2":
                await self.ws.send("3")
            elif frame.startswith("42"):
                name, *args = json.loads(frame[2:])
                if name == "bot_uttered":
                    self.replies.append(args[0])
                elif name == "session_confirm":
                    return "confirm", args[0]
            elif frame.startswith("43"):
                ack_id, _, data = frame[2:].partition("[")
                return f"43{ack_id}", json.loads("[" + data)

    async def session(self, session_id: str | None) -> str:
        await self.ws.send("42" + json.dumps(["session_request", {"session_id": session_id}]))
        kind, value = await self.next_packet()
        assert kind == "confirm"
        return value

    async def call(self, event: str, data: dict) -> list:
        ack_id = next(self.ids)
        await self.ws.send(f"42{ack_id}" + json.dumps([event, data], ensure_ascii=False))
        kind, value = await self.next_packet()
        assert kind == f"43{ack_id}"
        return value


def run(coroutine: Any) -> Any:
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def user_texts(bot, session: str) -> list[str]:
    tracker = requests.get(f"{bot.rasa_url}/conversations/{session}/tracker", timeout=10).json()
    return [e["text"] for e in tracker["events"] if e["event"] == "user"]


def test_through_the_web_app_replies_reach_the_room_and_duplicates_are_not_handled(
    running_bot,
) -> None:
    async def scenario() -> str:
        client = await Client.connect(running_bot.web_url)  # via the /socket.io/ proxy
        session = await client.session(None)
        message = {"message": "谢谢", "session_id": session,
                   "metadata": {"client_id": "c0ffee01", "display": "谢谢"}}
        assert await client.call("user_uttered", message) == []
        assert any("不客气" in r.get("text", "") for r in client.replies)
        replies = len(client.replies)
        assert await client.call("user_uttered", message) == [{"duplicate": True}]
        assert len(client.replies) == replies  # not handled twice
        await client.ws.close()
        return session

    session = run(scenario())
    assert user_texts(running_bot, session) == ["谢谢"]


def test_a_session_id_rasa_did_not_hand_out_is_replaced(running_bot) -> None:
    openid = "o6_bmjrPTlm6_2sgVt7hMZOPfL2M"  # e.g. a WeChat user's conversation

    async def scenario() -> None:
        client = await Client.connect(running_bot.rasa_url)
        session = await client.session(openid)
        assert session != openid and len(session) == 32
        ignored = await client.call("user_uttered", {"message": "你好", "session_id": openid})
        assert ignored == [] and client.replies == []
        await client.ws.close()

    run(scenario())


def test_rotating_session_ids_on_one_connection_stays_rate_limited(running_bot) -> None:
    """Each frame names a new session; the connection itself is counted too."""
    from bot.ratelimit import SENDER_REPLY

    async def scenario() -> list[str]:
        client = await Client.connect(running_bot.web_url)
        for n in range(21):  # RATE_LIMIT_SENDER is 20 a minute; empty texts reach no NLU
            message = {"message": "", "session_id": f"{n:032x}",
                       "metadata": {"client_id": f"rot{n}", "extra": "x" * 10_000}}
            await client.call("user_uttered", message)
        await client.ws.close()
        return [r.get("text", "") for r in client.replies]

    replies = run(scenario())
    assert len(replies) == 21
    assert SENDER_REPLY not in replies[:20] and replies[20] == SENDER_REPLY
