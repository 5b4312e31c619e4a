"""Retry deduplication: one owner per callback, retries follow the owner's decision.

WeChat and WeCom retry a callback (up to three times) when no answer arrives in
5 s. The first request to :meth:`Deduplicator.claim` a key owns the turn; it
later :meth:`publish` es how it answered, and a retry waits for that outcome to
return the same passive reply, or ``success`` when the answer goes through the API.

The channels give it a :class:`~bot.channels.wechat_store.TieredStore`
(``bot.channels.wechat_sqlstore.dedup_store``): claims are decided by the ticket
database, so a Redis restart cannot make a retry look new; outcomes are written to
Redis (or the in-process cache) and the database, and read from Redis first.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass

from bot.channels.wechat_store import KeyValueStore

PASSIVE = "passive"
ASYNC = "async"


@dataclass(frozen=True)
class Outcome:
    """How the owner answered: a passive reply (``text``, maybe None) or via the API."""

    mode: str
    text: str | None = None


class Deduplicator:
    """Claims callbacks atomically (SETNX + TTL) and shares the owner's outcome."""

    def __init__(
        self, store: KeyValueStore, prefix: str, ttl: float = 600.0, poll_interval: float = 0.05
    ) -> None:
        self._store = store
        self._prefix = prefix
        self._ttl = ttl
        self._poll = poll_interval

    async def claim(self, key: str) -> bool:
        """True for the first caller with ``key`` within the TTL, False for retries."""
        return await self._store.set_if_absent(f"{self._prefix}:claim:{key}", "1", self._ttl)

    async def publish(self, key: str, outcome: Outcome) -> None:
        """Record the owner's outcome for retries."""
        value = json.dumps({"mode": outcome.mode, "text": outcome.text}, ensure_ascii=False)
        await self._store.set(f"{self._prefix}:outcome:{key}", value, self._ttl)

    async def outcome(self, key: str) -> Outcome | None:
        """The published outcome, if any."""
        raw = await self._store.get(f"{self._prefix}:outcome:{key}")
        if raw is None:
            return None
        data = json.loads(raw)
        return Outcome(mode=data["mode"], text=data.get("text"))

    async def wait_outcome(self, key: str, timeout: float) -> Outcome | None:
        """Poll for the owner's outcome for up to ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            found = await self.outcome(key)
            if found is not None or time.monotonic() >= deadline:
                return found
            await asyncio.sleep(self._poll)
