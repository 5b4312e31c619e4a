"""Rate limits: per sender on every channel, per IP on the web app and the console.

Fixed one-minute windows counted in process, or in Redis when ``REDIS_URL`` is set, so
that every replica of Rasa or of the web app shares one count. If Redis cannot be
reached the request is let through (and logged): a rate limit must never take the bot
down with it.

Limits (per minute, from the environment):

- ``RATE_LIMIT_SENDER`` (20): messages of one sender on one channel;
- ``RATE_LIMIT_REST_IP`` (300): REST webhook requests from one IP, whatever senders
  they name (a client rotating ``sender`` is still one IP);
- ``RATE_LIMIT_WEB_IP`` (120): chat connections and history reloads from one IP;
- ``RATE_LIMIT_CONSOLE_AUTH`` (10): console calls with a wrong token from one IP; over
  it, the IP gets 429 even with the right token until the minute is over.

Per-IP limits count the client's address, not a proxy's: behind ``PROXIES_COUNT``
trusted proxies it is read from ``X-Forwarded-For`` (see :func:`forwarded_ip`).
Addresses in ``RATE_LIMIT_IP_EXEMPT`` (default: loopback, i.e. this host's own tools,
load tests and proxies calling directly) are never limited per IP; per-sender limits
still apply to them.
"""

from __future__ import annotations

import ipaddress
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


IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def exempt_networks(env: str = "RATE_LIMIT_IP_EXEMPT") -> tuple[IpNetwork, ...]:
    """Networks never limited per IP: ``env`` (comma-separated CIDRs), else loopback."""
    raw = os.environ.get(env)
    networks = []
    for part in (raw if raw is not None else "127.0.0.0/8,::1/128").split(","):
        try:
            if part.strip():
                networks.append(ipaddress.ip_network(part.strip(), strict=False))
        except ValueError:
            logger.warning("%s: %r is not a network; ignored", env, part.strip())
    return tuple(networks)


def proxies_count() -> int:
    """How many trusted proxies stand in front of this process (``PROXIES_COUNT``)."""
    return max(limit_from_env("PROXIES_COUNT", 0), 0)


def forwarded_ip(request: Any, proxies: int) -> str:
    """The client's address seen through ``proxies`` trusted proxies.

    Each proxy appends the address it received the request from to ``X-Forwarded-For``,
    so the client is the ``proxies``-th entry from the right; entries further left are
    whatever the client sent and are never trusted. Without proxies, or without the
    header (a direct local call), it is the socket peer.
    """
    if proxies > 0:
        header = ",".join(request.headers.getall("x-forwarded-for", []))
        hops = [hop.strip() for hop in header.split(",") if hop.strip()]
        if len(hops) >= proxies:
            return hops[-proxies]
    return request.ip or "unknown"


def is_exempt(ip: str, networks: tuple[IpNetwork, ...]) -> bool:
    """True when ``ip`` is in one of ``networks`` (an unparsable address never is)."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped  # "::ffff:127.0.0.1" from a dual-stack socket
    return any(address in network for network in networks)
