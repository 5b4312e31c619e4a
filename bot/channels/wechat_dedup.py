"""Retry deduplication: one owner per callback, retries follow the owner's decision.

WeChat and WeCom retry a callback (up to three times) when no answer arrives in
5 s. The first request to :meth:`Deduplicator.claim` a key owns the turn; it
later :meth:`publish` es how it answered, and a retry waits for that outcome to
return the same passive reply, or ``success`` when the answer goes through the API.
A claim records when it was made: if its owner died before publishing anything,
a retry arriving ``stale_after`` seconds later takes the claim over and answers.

The channels give it a :class:`~bot.channels.wechat_store.TieredStore`
(``bot.channels.wechat_sqlstore.dedup_store``): claims are decided by the ticket
database, so a Redis restart cannot make a retry look new, and by Redis (or the
in-process cache) while the database is down; outcomes are written to Redis (or the
in-process cache) and the database, and read from Redis first.

:class:`ReplayGuard` refuses a signed ``timestamp``/``nonce`` pair that comes back
with a different message (a signed query string reused with a forged body).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from bot.channels.wechat_store import KeyValueStore, MemoryStore

logger = logging.getLogger(__name__)

PASSIVE = "passive"
ASYNC = "async"
FAILED = "failed "
"""How a claim given up with :meth:`Deduplicator.fail` starts."""
DEFAULT_STALE_AFTER = 8.0
"""Seconds after which a claim without an outcome is taken to be its dead owner's."""

Clock = Callable[[], float]


@dataclass(frozen=True)
class Outcome:
    """How the owner answered: a passive reply (``text``, maybe None) or via the API."""

    mode: str
    text: str | None = None


def _claimed_at(value: str | None) -> float | None:
    """The wall-clock time recorded in a claim value, if it has one."""
    parts = (value or "").split(" ")
    if len(parts) != 2:
        return None  # e.g. "1", a claim written before claims carried their time
    try:
        return float(parts[0])
    except ValueError:
        return None


class Deduplicator:
    """Claims callbacks atomically (SETNX + TTL) and shares the owner's outcome."""

    def __init__(
        self,
        store: KeyValueStore,
        prefix: str,
        ttl: float = 600.0,
        poll_interval: float = 0.05,
        stale_after: float = DEFAULT_STALE_AFTER,
        clock: Clock = time.time,
    ) -> None:
        self._store = store
        self._prefix = prefix
        self._ttl = ttl
        self._poll = poll_interval
        self.stale_after = stale_after
        self.clock = clock
        self._mine: dict[str, str] = {}

    def _claim_key(self, key: str) -> str:
        return f"{self._prefix}:claim:{key}"

    async def claim(self, key: str) -> bool:
        """True for the first caller with ``key`` within the TTL, False for retries.

        A retry also gets True when it takes over a claim older than ``stale_after``
        seconds for which no outcome was ever published, or one its owner gave up
        with :meth:`fail`.
        """
        return await self.acquire(key) is not None

    async def acquire(self, key: str) -> str | None:
        """:meth:`claim`, saying how: ``"new"``, ``"stale"`` or ``"failed"`` (taken over
        from a dead owner or one that failed), or None when another caller holds it."""
        claim_key = self._claim_key(key)
        value = f"{self.clock():.3f} {uuid.uuid4().hex}"
        if await self._store.set_if_absent(claim_key, value, self._ttl):
            self._remember(key, value)
            return "new"
        try:
            return await self._take_over(key, claim_key, value)
        except Exception as exc:  # noqa: BLE001 - cannot tell: leave it to the owner
            logger.warning("could not check a claim for staleness (%s)", type(exc).__name__)
            return None

    async def _take_over(self, key: str, claim_key: str, value: str) -> str | None:
        held = await self._store.get(claim_key)
        if held is None:
            return None
        if held.startswith(FAILED):
            how = "failed"
        else:
            claimed_at = _claimed_at(held)
            if claimed_at is None or self.clock() - claimed_at < self.stale_after:
                return None
            if await self.outcome(key) is not None:
                return None
            how = "stale"
        # Whoever deletes the held value first and then sets a new one wins; the
        # delete only removes that exact value, so two retries cannot both win.
        await self._store.delete(claim_key, only_if=held)
        if how == "failed":  # the database may still hold the value before it failed
            await self._store.delete(claim_key, only_if=held[len(FAILED):])
        if not await self._store.set_if_absent(claim_key, value, self._ttl):
            return None
        if how == "stale":
            logger.warning("took over a claim %.0f s old without an outcome (its owner died?)",
                           self.clock() - (_claimed_at(held) or 0.0))
        self._remember(key, value)
        return how

    async def fail(self, key: str) -> None:
        """Give up a claim this instance won and may have half handled: the next caller
        takes it over at once (:meth:`acquire` says ``"failed"``)."""
        value = self._mine.pop(key, None)
        claim_key = self._claim_key(key)
        if value is not None and await self._store.get(claim_key) == value:
            await self._store.set(claim_key, f"{FAILED}{value}", self._ttl)

    def _remember(self, key: str, value: str) -> None:
        if len(self._mine) >= 10_000:  # owners that failed before publishing
            self._mine.clear()
        self._mine[key] = value

    async def refresh(self, key: str) -> bool:
        """Renew the time of a claim this instance holds, so a long turn never looks stale.

        False when the claim is no longer this instance's (taken over, or released).
        """
        held = self._mine.get(key)
        claim_key = self._claim_key(key)
        if held is None or await self._store.get(claim_key) != held:
            return False
        value = f"{self.clock():.3f} {uuid.uuid4().hex}"
        await self._store.set(claim_key, value, self._ttl)
        self._mine[key] = value
        return True

    async def release(self, key: str) -> None:
        """Give up a claim this instance won but will not answer (its caller gave up)."""
        value = self._mine.pop(key, None)
        if value is not None:
            await self._store.delete(self._claim_key(key), only_if=value)

    async def publish(self, key: str, outcome: Outcome) -> None:
        """Record the owner's outcome for retries."""
        self._mine.pop(key, None)
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
        """Poll for the owner's outcome for up to ``timeout`` seconds.

        A store that fails or hangs on one poll counts as "not yet" (the outcome may
        still reach the fast store); no poll outlives the timeout.
        """
        deadline = time.monotonic() + timeout
        failed = False
        while True:
            remaining = deadline - time.monotonic()
            found = None
            if remaining > 0:
                try:
                    found = await asyncio.wait_for(self.outcome(key), remaining)
                except Exception as exc:  # noqa: BLE001 - includes the timeout
                    if not failed:
                        logger.warning("reading an outcome failed (%s)", type(exc).__name__)
                    failed = True
            if found is not None or time.monotonic() >= deadline:
                return found
            await asyncio.sleep(min(self._poll, max(0.0, deadline - time.monotonic())))


class ReplayGuard:
    """Remembers each signed ``timestamp``/``nonce`` pair with the message it carried.

    The same pair with the same message is a platform retry (deduplicated later); with
    another message it is a replayed signature and refused. Pairs are kept (SET NX
    with a TTL, in Redis when configured) until their timestamp leaves the accepted
    window; if that store fails, an in-process cache takes over.
    """

    def __init__(
        self, store: KeyValueStore, prefix: str, window: float = 300.0, timeout: float = 0.5
    ) -> None:
        self._store = store
        self._local = MemoryStore()
        self._prefix = prefix
        self.window = window
        self._timeout = timeout
        self._failed = False

    async def admit(self, timestamp: int, nonce: str, message_key: str, now: float) -> bool:
        """False when this pair was already seen with another message."""
        pair = hashlib.sha256(f"{timestamp}:{nonce}".encode()).hexdigest()[:32]
        key = f"{self._prefix}:nonce:{pair}"
        fingerprint = hashlib.sha256(message_key.encode()).hexdigest()[:32]
        ttl = max(1.0, timestamp + self.window - now)
        try:
            seen = await asyncio.wait_for(
                self._seen(self._store, key, fingerprint, ttl), self._timeout
            )
            self._failed = False
        except Exception as exc:  # noqa: BLE001 - includes the timeout
            if not self._failed:
                logger.warning(
                    "replay cache unavailable (%s); using the in-process one", type(exc).__name__
                )
            self._failed = True
            seen = await self._seen(self._local, key, fingerprint, ttl)
        return seen is None or seen == fingerprint

    @staticmethod
    async def _seen(store: KeyValueStore, key: str, fingerprint: str, ttl: float) -> str | None:
        """None if the pair is new (now recorded), else the fingerprint it came with."""
        if await store.set_if_absent(key, fingerprint, ttl):
            return None
        return await store.get(key)
