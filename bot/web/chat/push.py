"""Push a message to a chat page's socket.io room on whichever Rasa replica holds it.

A page's websocket stays on the replica it was opened on, but the outbox worker's
delivery (``/webhooks/outbound/deliver``) may reach any replica. :class:`RoomPush`
emits to the room locally and, when ``REDIS_URL`` is set, publishes it on a Redis
channel that every replica listens to and re-emits locally (skipping its own messages).
Only these pushes go through Redis: the bot's own replies stay on the replica that
handled the message, so a Redis outage never holds them up. While Redis is down a
push reaches the pages of the replica that received it; the others show it from the
conversation's history when they reconnect or reload.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import uuid
from typing import Any

logger = logging.getLogger(__name__)
CHANNEL = "jiebang:chat:push"
RETRY_AFTER = 2.0


class RoomPush:
    """Local emit plus the Redis fan-out to the other replicas."""

    def __init__(self, sio: Any, event: str, namespace: str | None,
                 redis_url: str | None = None) -> None:
        self.sio = sio
        self.event = event
        self.namespace = namespace
        self.redis_url = redis_url if redis_url is not None else os.environ.get("REDIS_URL")
        self.origin = uuid.uuid4().hex
        self._redis: Any = None
        self._listener: asyncio.Task | None = None
        self.subscribed = asyncio.Event()

    def _client(self) -> Any:
        if self._redis is None:
            import redis.asyncio as aioredis

            self._redis = aioredis.from_url(self.redis_url, socket_connect_timeout=1,
                                            socket_timeout=None)
        return self._redis

    async def _emit(self, room: str, payload: dict[str, Any]) -> None:
        await self.sio.emit(self.event, payload, room=room, namespace=self.namespace)

    async def send(self, room: str, payload: dict[str, Any]) -> bool:
        """Emit here, and to the other replicas; False if they could not be reached."""
        await self._emit(room, payload)
        if not self.redis_url:
            return True
        message = json.dumps({"origin": self.origin, "room": room, "payload": payload},
                             ensure_ascii=False)
        try:
            await asyncio.wait_for(self._client().publish(CHANNEL, message), 2)
        except Exception as exc:  # noqa: BLE001 - the history still has it
            logger.warning("chat push not shared with other replicas (%s)", type(exc).__name__)
            return False
        return True

    async def _listen_once(self) -> None:
        pubsub = self._client().pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(CHANNEL)
            self.subscribed.set()
            async for message in pubsub.listen():
                if message.get("type") != "message":
                    continue
                try:
                    data = json.loads(message["data"])
                except (TypeError, ValueError):
                    continue
                if data.get("origin") != self.origin and isinstance(data.get("room"), str):
                    await self._emit(data["room"], data.get("payload") or {})
        finally:
            self.subscribed.clear()
            await pubsub.close()

    async def listen(self) -> None:
        """Re-emit the other replicas' pushes here; reconnect after a Redis failure."""
        while True:
            try:
                await self._listen_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - Redis went away: try again
                logger.warning("chat push listener lost Redis (%s); retrying",
                               type(exc).__name__)
            await asyncio.sleep(RETRY_AFTER)

    def start(self) -> None:
        if self.redis_url and self._listener is None:
            self._listener = asyncio.get_running_loop().create_task(self.listen())

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            await asyncio.gather(self._listener, return_exceptions=True)
            self._listener = None
        if self._redis is not None:
            await self._redis.close()
            self._redis = None
