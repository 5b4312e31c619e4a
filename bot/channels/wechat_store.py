"""Small key-value stores with TTL: Redis (shared by processes) or in-process.

Dedup, access tokens and numbered-option memory all build on this interface. The
dedup store of the channels is a :class:`TieredStore`: the fast store in front of the
durable record in the database (``bot.channels.wechat_sqlstore``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Protocol

logger = logging.getLogger(__name__)

DURABLE_CLAIM_TIMEOUT = 1.0
"""Seconds a claim waits for the database before the fast store decides it alone."""

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


class TieredStore:
    """A fast store (Redis, or in-process) in front of a durable one (the database).

    - :meth:`set_if_absent` (a retry claim) is decided by the durable store while it
      answers within ``claim_timeout`` seconds; the winner also records the claim in the
      fast store, and a key the fast store already holds (claimed there while the
      database was down) is not won again. When the durable store fails or is too slow,
      the fast store decides alone (Redis ``SET NX PX``, or the in-process cache), so a
      database outage does not stop the channels. It fails only when both fail.
    - :meth:`set` and :meth:`delete` go to both; a failing fast store is logged and
      skipped. :meth:`set` fails only when both fail, :meth:`delete` when the durable
      store fails.
    - :meth:`get` reads the fast store first, then the durable one: only the durable
      store may say a key is absent, and its failure is the caller's.

    A failing store is logged once until it works again (retries poll it).
    """

    def __init__(
        self,
        fast: KeyValueStore,
        durable: KeyValueStore,
        claim_timeout: float = DURABLE_CLAIM_TIMEOUT,
    ) -> None:
        self.fast = fast
        self.durable = durable
        self.claim_timeout = claim_timeout
        self._fast_down = False
        self._durable_down = False

    def _skip(self, operation: str, exc: BaseException) -> None:
        if not self._fast_down:
            logger.warning("fast store %s failed (%s); using the database until it is back",
                           operation, type(exc).__name__)
        self._fast_down = True

    def _fast_ok(self) -> None:
        if self._fast_down:
            logger.info("fast store is back")
        self._fast_down = False

    async def set_if_absent(self, key: str, value: str, ttl: float) -> bool:
        try:
            won = await asyncio.wait_for(
                self.durable.set_if_absent(key, value, ttl), self.claim_timeout
            )
        except Exception as exc:  # noqa: BLE001 - includes the timeout: the fast store decides
            if not self._durable_down:
                logger.warning(
                    "database claim failed (%s); claims fall back to the fast store",
                    type(exc).__name__,
                )
            self._durable_down = True
            return await self.fast.set_if_absent(key, value, ttl)
        if self._durable_down:
            logger.info("database claims are back")
        self._durable_down = False
        if not won:
            return False
        try:
            mirrored = await self.fast.set_if_absent(key, value, ttl)
        except Exception as exc:  # noqa: BLE001 - the database decided
            self._skip("set_if_absent", exc)
            return True
        self._fast_ok()
        if not mirrored:
            # Claimed in the fast store while the database was down: that claim owns it,
            # so give back the database row this call just won.
            try:
                await self.durable.delete(key, only_if=value)
            except Exception as exc:  # noqa: BLE001 - the row expires with its TTL
                logger.warning("could not release a database claim (%s)", type(exc).__name__)
        return mirrored

    async def set(self, key: str, value: str, ttl: float) -> None:
        durable, fast = await asyncio.gather(
            self.durable.set(key, value, ttl), self.fast.set(key, value, ttl),
            return_exceptions=True,
        )
        if isinstance(fast, BaseException):
            if isinstance(durable, BaseException):
                raise durable
            self._skip("set", fast)
            return
        self._fast_ok()
        if isinstance(durable, BaseException):
            logger.warning("database store set failed (%s); kept in the fast store only",
                           type(durable).__name__)

    async def get(self, key: str) -> str | None:
        try:
            value = await self.fast.get(key)
        except Exception as exc:  # noqa: BLE001 - the durable store still answers
            self._skip("get", exc)
        else:
            self._fast_ok()
            if value is not None:
                return value
        return await self.durable.get(key)

    async def delete(self, key: str, only_if: str | None = None) -> None:
        try:
            await self.fast.delete(key, only_if)
        except Exception as exc:  # noqa: BLE001 - the durable store is authoritative
            self._skip("delete", exc)
        else:
            self._fast_ok()
        await self.durable.delete(key, only_if)

    async def close(self) -> None:
        try:
            await self.fast.close()
        finally:
            await self.durable.close()


def make_store(redis_url: str | None) -> KeyValueStore:
    """A Redis store when ``redis_url`` is set, an in-process store otherwise."""
    return RedisStore(redis_url) if redis_url else MemoryStore()
