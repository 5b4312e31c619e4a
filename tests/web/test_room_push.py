"""Pushes to a chat page reach its room on every replica through Redis, and stay local
when Redis is down (the page then finds them in its history)."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from typing import Any

import pytest

from bot.web.chat.push import RoomPush


@dataclass
class Rooms:
    """A replica's socket.io server, as far as the push uses it: emit to a room."""

    emitted: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    async def emit(self, event: str, payload: dict[str, Any], room: str,
                   namespace: str | None = None) -> None:
        self.emitted.append((event, room, payload))


def redis_url() -> str:
    url = os.environ.get("REDIS_URL_TEST", "").strip()
    if not url:
        pytest.skip("Redis test: REDIS_URL_TEST is not set")
    return url


@pytest.mark.redis
async def test_a_push_reaches_the_room_on_both_replicas_once():
    url = redis_url()
    one, two = Rooms(), Rooms()
    first = RoomPush(one, "bot_uttered", None, url)
    second = RoomPush(two, "bot_uttered", None, url)
    first.start()
    second.start()
    try:
        await asyncio.wait_for(asyncio.gather(first.subscribed.wait(),
                                              second.subscribed.wait()), 10)
        payload = {"text": "您好，我是人工客服张三", "id": "outbox-1", "kind": "handoff"}
        assert await first.send("a" * 32, payload)
        for _ in range(100):
            if two.emitted:
                break
            await asyncio.sleep(0.05)
        assert one.emitted == [("bot_uttered", "a" * 32, payload)]
        assert two.emitted == [("bot_uttered", "a" * 32, payload)]
        await asyncio.sleep(0.2)
        assert len(one.emitted) == 1  # its own message is not emitted again
    finally:
        await first.stop()
        await second.stop()


async def test_without_redis_the_push_is_local_and_says_so():
    here = Rooms()
    unreachable = RoomPush(here, "bot_uttered", None, "redis://127.0.0.1:9/0")
    assert await unreachable.send("b" * 32, {"text": "通知"}) is False
    assert here.emitted == [("bot_uttered", "b" * 32, {"text": "通知"})]
    await unreachable.stop()
    alone = RoomPush(here, "bot_uttered", None, "")
    assert await alone.send("c" * 32, {"text": "通知"}) is True
