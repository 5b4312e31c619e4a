"""Access-token cache: fetched once, shared by concurrent callers and processes.

WeChat limits how often a token may be fetched and a new token retires the old
one, so every process must share a single token. The token lives in the store
(Redis when configured) until shortly before it expires; a store lock makes sure
only one process fetches, and an asyncio lock makes concurrent callers in one
process share that fetch.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable

from bot.channels.wechat_store import KeyValueStore

logger = logging.getLogger(__name__)

TokenFetcher = Callable[[], Awaitable[tuple[str, int]]]


class TokenError(RuntimeError):
    """No access token could be obtained (the reason never contains secrets)."""


class AccessTokenCache:
    """Caches one access token under ``key``, refreshed ``margin`` seconds before expiry."""

    def __init__(
        self,
        store: KeyValueStore,
        key: str,
        fetch: TokenFetcher,
        margin: float = 300.0,
        lock_ttl: float = 15.0,
        poll_interval: float = 0.05,
    ) -> None:
        self._store = store
        self._key = key
        self._fetch = fetch
        self._margin = margin
        self._lock_ttl = lock_ttl
        self._poll = poll_interval
        self._lock = asyncio.Lock()

    async def get(self) -> str:
        """A valid token, fetching it at most once across callers sharing the store.

        The store is read on every call (one Redis GET), so a token refreshed by
        another process is picked up at once.
        """
        async with self._lock:
            return await self._load_or_fetch()

    async def _load_or_fetch(self) -> str:
        deadline = time.monotonic() + 2 * self._lock_ttl
        lock_key = f"{self._key}:lock"
        while time.monotonic() < deadline:
            token = await self._cached()
            if token:
                return token
            holder = secrets.token_hex(8)
            if await self._store.set_if_absent(lock_key, holder, self._lock_ttl):
                try:
                    # another process may have stored a token between our read and the lock
                    return await self._cached() or await self._fetch_and_store()
                finally:
                    await self._store.delete(lock_key, only_if=holder)
            await asyncio.sleep(self._poll)
        raise TokenError("timed out waiting for another process to fetch the access token")

    async def _cached(self) -> str | None:
        cached = await self._store.get(self._key)
        if cached:
            data = json.loads(cached)
            if data["expires_at"] > time.time():
                return str(data["token"])
        return None

    async def _fetch_and_store(self) -> str:
        token, expires_in = await self._fetch()
        lifetime = float(expires_in)
        lifetime = lifetime - self._margin if lifetime > 2 * self._margin else lifetime / 2
        expires_at = time.time() + lifetime
        value = json.dumps({"token": token, "expires_at": expires_at})
        await self._store.set(self._key, value, lifetime)
        logger.info("access token refreshed key=%s expires_in=%s", self._key, expires_in)
        return token

    async def invalidate(self, token: str) -> None:
        """Forget ``token`` after the API rejected it (unless already replaced)."""
        cached = await self._store.get(self._key)
        if cached and json.loads(cached).get("token") == token:
            await self._store.delete(self._key, only_if=cached)
