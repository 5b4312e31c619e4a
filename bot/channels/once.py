"""Exactly-once turns for REST and web chat, whichever replica a resend reaches.

A client that lost an answer sends the same message again with the same client
message id (REST: ``message_id``; the chat page: ``metadata.client_id``). The pair
(sender, client message id) is claimed in a store every replica shares, with the
design of the WeChat ``MsgId`` dedup (:class:`~bot.channels.wechat_dedup.Deduplicator`
on :func:`~bot.channels.wechat_sqlstore.dedup_store`): the claim is decided by the ticket
database (``wechat_callbacks``; SQLite embedded, PostgreSQL in production) and mirrored
in Redis when ``REDIS_URL`` is set (in-process otherwise), which decides alone while the
database is down.

- The first copy owns the turn. While it runs, its claim is renewed every few seconds;
  when it is done, its answer is published (kept ``ONCE_TTL_SECONDS``, default a day).
  If the turn fails, the claim is marked failed: the next resend takes it over at once,
  told that an earlier copy may have been stored (``retried``), so the channel can look
  in the conversation before processing the message again.
- A resend waits for the owner's answer (up to ``wait`` seconds) and gets it back; if
  the owner is still busy it is told so (:attr:`Handled.answer` is None).
- A claim whose owner died (not renewed for ``stale_after`` seconds, no answer) is
  taken over by a resend (also ``retried``), so the message is not lost.
- When no store answers at all (database and Redis both down), the turn is processed
  without a claim: a message is never dropped for want of its duplicate check.

Keys are a hash of the pair, so neither the sender nor the message id is stored in
them; the answer kept is what the bot replied (see docs/security.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.channels.wechat_dedup import Deduplicator, Outcome
from bot.channels.wechat_sqlstore import dedup_store
from bot.channels.wechat_store import KeyValueStore, make_store
from bot.db import database_url

logger = logging.getLogger(__name__)

MAX_MESSAGE_ID_CHARS = 128
DEFAULT_TTL = 86_400.0
DEFAULT_STALE_AFTER = 20.0
"""Seconds without renewal after which a claim is taken to be a dead replica's."""
MODE = "turn"
Turn = Callable[[bool], Awaitable["str | None"]]
"""A turn: called with ``retried``; returns the answer to keep, or None if it failed."""


@dataclass(frozen=True)
class Handled:
    """How a message was handled: by this call (``first``) or by an earlier copy.

    ``answer`` is the turn's published answer: this call's, or the earlier copy's;
    None when the earlier copy is still being processed after the wait.
    """

    first: bool
    answer: str | None


def valid_message_id(value: object) -> bool:
    """A client message id is a non-empty string of at most 128 characters."""
    return isinstance(value, str) and bool(value.strip()) and len(value) <= MAX_MESSAGE_ID_CHARS


class Once:
    """Runs each (sender, client message id) turn once across every process."""

    def __init__(
        self,
        store: KeyValueStore,
        prefix: str,
        ttl: float = DEFAULT_TTL,
        stale_after: float = DEFAULT_STALE_AFTER,
        poll: float = 0.2,
    ) -> None:
        self.store = store
        self.stale_after = stale_after
        self._poll = poll
        self._dedup = Deduplicator(store, prefix, ttl=ttl, poll_interval=poll,
                                   stale_after=stale_after)

    @classmethod
    def from_env(cls, channel: str) -> Once:
        """The store of the deployment: ``DATABASE_URL`` behind ``REDIS_URL`` (if set)."""
        redis_url = os.environ.get("REDIS_URL", "").strip() or None
        ttl = float(os.environ.get("ONCE_TTL_SECONDS", "") or DEFAULT_TTL)
        store = dedup_store(make_store(redis_url), database_url())
        return cls(store, f"once:{channel}", ttl=ttl)

    @staticmethod
    def key(sender: str, message_id: str) -> str:
        return hashlib.sha256(f"{sender}\n{message_id}".encode()).hexdigest()

    async def handle(
        self,
        sender: str,
        message_id: str,
        turn: Turn,
        wait: float,
    ) -> Handled:
        """Run ``turn`` unless a copy of this message ran (or runs) elsewhere.

        ``turn(retried)`` returns the answer to keep for resends, or None when it failed
        (the claim is then marked failed). ``retried`` is True when an earlier copy
        failed or its replica died: it may have been stored. A resend waits up to
        ``wait`` seconds for the earlier copy's answer.
        """
        key = self.key(sender, message_id)
        deadline = time.monotonic() + wait
        while True:
            try:
                won = await self._dedup.acquire(key)
                outcome = None if won else await self._dedup.outcome(key)
            except Exception as exc:  # noqa: BLE001 - no store answers: process anyway
                logger.warning("turn claim unavailable (%s); processing without it",
                               type(exc).__name__)
                return Handled(True, await turn(False))
            if won:
                return Handled(True, await self._own(key, turn, won != "new"))
            if outcome is not None:
                return Handled(False, outcome.text)
            if time.monotonic() >= deadline:
                return Handled(False, None)
            await asyncio.sleep(self._poll)

    async def _own(self, key: str, turn: Turn, retried: bool) -> str | None:
        renewing = asyncio.get_running_loop().create_task(self._renew(key))
        try:
            answer = await turn(retried)
        except BaseException:
            renewing.cancel()
            await self._quietly("give up", self._dedup.fail(key))
            raise
        renewing.cancel()
        if answer is None:
            await self._quietly("give up", self._dedup.fail(key))
        else:
            await self._quietly("publish", self._dedup.publish(key, Outcome(MODE, answer)))
        return answer

    async def _renew(self, key: str) -> None:
        """Renew the claim every third of ``stale_after`` while the turn runs."""
        interval = self.stale_after / 3
        while True:
            await asyncio.sleep(interval)
            try:
                if not await asyncio.wait_for(self._dedup.refresh(key), interval):
                    logger.warning("a turn's claim was taken over while it ran")
                    return
            except Exception as exc:  # noqa: BLE001 - includes the timeout; try again
                logger.warning("could not renew a turn's claim (%s)", type(exc).__name__)

    @staticmethod
    async def _quietly(what: str, call: Awaitable[None]) -> None:
        try:
            await call
        except Exception as exc:  # noqa: BLE001 - the claim then goes stale: taken over
            logger.warning("could not %s a turn's claim (%s)", what, type(exc).__name__)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.store.close()
