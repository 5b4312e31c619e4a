"""Rasa's socket.io channel as the page uses it (bot.web.chat.channel), without a browser."""

from __future__ import annotations

import asyncio

import pytest
import requests
import socketio

pytestmark = pytest.mark.server


async def connect(url: str, session_id: str | None = None) -> tuple[socketio.AsyncClient, str]:
    """A client in the room of ``session_id`` (or of a new session); returns its id."""
    client = socketio.AsyncClient(reconnection=False)
    confirmed: asyncio.Future = asyncio.get_running_loop().create_future()
    client.on("session_confirm", lambda sid: confirmed.set_result(sid))
    client.replies = []
    client.on("bot_uttered", client.replies.append)
    await client.connect(url, transports=["websocket"], socketio_path="/socket.io")
    await client.emit("session_request", {"session_id": session_id})
    return client, await asyncio.wait_for(confirmed, 10)


async def test_through_the_web_app_replies_reach_the_room_and_duplicates_are_not_handled(
    running_bot,
) -> None:
    client, session = await connect(running_bot.web_url)  # via the /socket.io/ proxy
    try:
        message = {"message": "谢谢", "session_id": session,
                   "metadata": {"client_id": "c0ffee01", "display": "谢谢"}}
        first = await client.call("user_uttered", message, timeout=30)
        assert first is None
        assert any("不客气" in r.get("text", "") for r in client.replies)
        replies = len(client.replies)
        again = await client.call("user_uttered", message, timeout=30)
        assert again == {"duplicate": True}
        assert len(client.replies) == replies  # not handled twice
    finally:
        await client.disconnect()
    tracker = requests.get(
        f"{running_bot.rasa_url}/conversations/{session}/tracker", timeout=10
    ).json()
    assert [e["text"] for e in tracker["events"] if e["event"] == "user"] == ["谢谢"]


async def test_a_session_id_rasa_did_not_hand_out_is_replaced(running_bot) -> None:
    client, session = await connect(running_bot.rasa_url, "o6_bmjrPTlm6_2sgVt7hMZOPfL2M")
    try:
        assert session != "o6_bmjrPTlm6_2sgVt7hMZOPfL2M" and len(session) == 32
        ignored = await client.call(
            "user_uttered", {"message": "你好", "session_id": "o6_bmjrPTlm6_2sgVt7hMZOPfL2M"},
            timeout=30,
        )
        assert ignored is None and client.replies == []
    finally:
        await client.disconnect()
