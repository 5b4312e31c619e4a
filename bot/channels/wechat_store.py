"""Small key-value stores with TTL: Redis (shared by processes) or in-process.

Dedup, access tokens and numbered-option memory all build on this interface.
"""

from __future__ import annotations

import time
from typing import Protocol

_DELETE_IF_EQUAL = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""


class KeyValueStore(Protocol):
    """Async string store with per-key expiry."""

    async def set_if_absent(self, key: str, value: str, ttl: float) -> bool:
        """Atomically set ``key`` unless it exists; True if this call set it."""

    async def set(self, key: str, value: str, ttl: float) -> None:
        """Set ``key`` with a time to live in seconds."""

    async def get(self, key: str) -> str | None:
        """The value of ``key``, or None if absent or expired."""

    async def delete(self, key: str, only_if: str | None = None) -> None:
        """Delete ``key`` (only if it still holds ``only_if``, when given)."""

    async def close(self) -> None:
        """Release connections."""


class MemoryStore:
    """In-process TTL store; atomic because it never awaits between check and set."""

    def __init__(self) -> None:
        self._data: dict[str, tuple[str, float]] = {}

    def _live(self, key: str) -> str | None:
        item = self._data.get(key)
        if item is None:
            return None
        if item[1] <= time.monotonic():
            del self._data[key]
            return None
        return item[0]

    def _purge(self) -> None:
        if len(self._data) > 10_000:
            now = time.monotonic()
            for key in [k for k, (_, exp) in self._data.items() if exp <= now]:
                del self._data[key]

    async def set_if_absent(self, key: str, value: str, ttl: float) -> bool:
        if self._live(key) is not None:
            return False
        self._purge()
        self._data[key] = (value, time.monotonic() + ttl)
        return True

    async def set(self, key: str, value: str, ttl: float) -> None:
        self._purge()
        self._data[key] = (value, time.monotonic() + ttl)

    async def get(self, key: str) -> str | None:
        return self._live(key)

    async def delete(self, key: str, only_if: str | None = None) -> None:
        if only_if is None or self._live(key) == only_if:
            self._data.pop(key, None)

    async def close(self) -> None:
        return None


class RedisStore:
    """Redis-backed store (SET NX PX), shared by every process using the same Redis."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._client = None

    def _redis(self):  # noqa: ANN202 - redis.asyncio.Redis, imported lazily
        if self._client is None:
            import redis.asyncio as aioredis

            self._client = aioredis.from_url(self._url, decode_responses=True)
        return self._client

    async def set_if_absent(self, key: str, value: str, ttl: float) -> bool:
        return bool(await self._redis().set(key, value, nx=True, px=max(1, int(ttl * 1000))))

    async def set(self, key: str, value: str, ttl: float) -> None:
        await self._redis().set(key, value, px=max(1, int(ttl * 1000)))

    async def get(self, key: str) -> str | None:
        return await self._redis().get(key)

    async def delete(self, key: str, only_if: str | None = None) -> None:
        if only_if is None:
            await self._redis().delete(key)
        else:
            await self._redis().eval(_DELETE_IF_EQUAL, 1, key, only_if)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None


def make_store(redis_url: str | None) -> KeyValueStore:
    """A Redis store when ``redis_url`` is set, an in-process store otherwise."""
    return RedisStore(redis_url) if redis_url else MemoryStore()
