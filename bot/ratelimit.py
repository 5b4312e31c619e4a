"""Rate limits: per sender on every channel, per IP on the web app and the console.

Fixed one-minute windows counted in process, or in Redis when ``REDIS_URL`` is set, so
that every replica of Rasa or of the web app shares one count. If Redis cannot be
reached the request is let through (and logged): a rate limit must never take the bot
down with it.

Limits (per minute, from the environment):

- ``RATE_LIMIT_SENDER`` (20): messages of one sender on one channel;
- ``RATE_LIMIT_WEB_IP`` (120): chat connections and history reloads from one IP;
- ``RATE_LIMIT_CONSOLE_AUTH`` (10): console calls with a wrong token from one IP; over
  it, the IP gets 429 even with the right token until the minute is over.
"""

from __future__ import annotations

import logging
import os
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)

WINDOW_SECONDS = 60
SENDER_REPLY = "您发消息太快了，请稍等一分钟再发，我会继续为您服务。"
TOO_MANY = "请求太频繁，请稍后再试"
_MAX_KEYS = 50_000


def limit_from_env(name: str, default: int) -> int:
    """A positive per-minute limit from ``name`` (0 or less disables it)."""
    raw = os.environ.get(name, "").strip()
    try:
        return int(raw) if raw else default
    except ValueError:
        logger.warning("%s=%r is not a number; using %d", name, raw, default)
        return default


@dataclass
class RateLimiter:
    """``limit`` hits per key per ``window`` seconds; ``limit <= 0`` means unlimited."""

    name: str
    limit: int
    window: int = WINDOW_SECONDS
    redis_url: str | None = None
    _counts: OrderedDict[str, tuple[int, int]] = field(default_factory=OrderedDict)
    _redis: Any = None

    @classmethod
    def from_env(cls, name: str, env: str, default: int) -> RateLimiter:
        redis_url = os.environ.get("REDIS_URL", "").strip() or None
        return cls(name, limit_from_env(env, default), redis_url=redis_url)

    async def hit(self, key: str) -> bool:
        """Count one request for ``key``; True while it is within the limit."""
        return await self.count(key) <= self.limit if self.limit > 0 else True

    async def over(self, key: str) -> bool:
        """True when ``key`` already used up its requests (nothing is counted)."""
        if self.limit <= 0:
            return False
        return await self.count(key, add=0) >= self.limit

    async def count(self, key: str, add: int = 1) -> int:
        """Requests of ``key`` in the current window after adding ``add``."""
        bucket = int(time.time()) // self.window
        if self.redis_url:
            try:
                return await self._count_redis(f"{key}:{bucket}", add)
            except Exception as exc:  # noqa: BLE001 - fail open, visibly
                logger.warning("rate limit %s: Redis unavailable (%s)", self.name,
                               type(exc).__name__)
                return 0
        seen_bucket, seen = self._counts.pop(key, (bucket, 0))
        total = (seen if seen_bucket == bucket else 0) + add
        self._counts[key] = (bucket, total)
        while len(self._counts) > _MAX_KEYS:
            self._counts.popitem(last=False)
        return total

    async def _count_redis(self, key: str, add: int) -> int:
        if self._redis is None:
            import redis.asyncio as aioredis

            self._redis = aioredis.from_url(
                self.redis_url, socket_timeout=1, socket_connect_timeout=1
            )
        full = f"jiebang:ratelimit:{self.name}:{key}"
        if not add:
            return int(await self._redis.get(full) or 0)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incrby(full, add)
            pipe.expire(full, self.window * 2)
            total, _ = await pipe.execute()
        return int(total)

    async def aclose(self) -> None:
        if self._redis is not None:
            await self._redis.close()
            self._redis = None


def sender_limiter() -> RateLimiter:
    """A per-sender limiter for one input channel (``RATE_LIMIT_SENDER`` a minute)."""
    return RateLimiter.from_env("sender", "RATE_LIMIT_SENDER", 20)


async def sender_allowed(limiter: RateLimiter, channel: str, sender: str) -> bool:
    """Count one message of ``sender`` on ``channel``; False once over the limit."""
    allowed = await limiter.hit(f"{channel}:{sender}")
    if not allowed:
        logger.warning("rate limit: %s sender %s is sending too fast", channel, sender)
    return allowed


def client_ip(request: Any) -> str:
    """The caller's address: the proxy-reported one when Sanic is told to trust proxies
    (``PROXIES_COUNT``, see ``bot.web.app``), else the socket peer."""
    return request.remote_addr or request.ip or "unknown"
