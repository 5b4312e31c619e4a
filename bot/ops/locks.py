"""Rasa's Redis lock store with atomic updates.

Rasa's ``RedisLockStore`` keeps each conversation's ticket lock as one JSON value and
changes it by read-modify-write (``GET`` … ``SET``). Two replicas issuing a ticket for
the same conversation at the same moment can both read the old value, both write
"ticket N+1" and then process the conversation at the same time; and a waiter that
removes expired tickets can overwrite a ticket issued in between. Both break the
one-writer-per-conversation guarantee the lock store exists for, and concurrent
writers drop events in the SQL tracker store.

``AtomicRedisLockStore`` runs every read-modify-write of one conversation's lock under
a short Redis mutex (``SET NX PX``, released by token with a Lua check), so the ticket
protocol itself is unchanged. It is configured from ``REDIS_URL``.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rasa.core.lock import TicketLock
from rasa.core.lock_store import LOCK_LIFETIME, LockError, RedisLockStore
from rasa.utils.endpoints import EndpointConfig

logger = logging.getLogger(__name__)
MUTEX_TIMEOUT = 5.0
MUTEX_WAIT = 10.0


class AtomicRedisLockStore(RedisLockStore):
    """Redis lock store whose ticket updates cannot interleave between replicas."""

    def __init__(
        self, endpoint_config: EndpointConfig | None = None, url: str | None = None,
        **kwargs: Any,
    ) -> None:
        from redis.connection import parse_url

        options = dict(endpoint_config.kwargs) if endpoint_config else {}
        options.update(kwargs)
        redis_url = url or (endpoint_config.url if endpoint_config else None)
        redis_url = redis_url or os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
        parts = parse_url(redis_url)
        super().__init__(
            host=parts.get("host", "127.0.0.1"),
            port=int(parts.get("port", 6379)),
            db=int(parts.get("db", 0)),
            username=parts.get("username"),
            password=parts.get("password"),
            key_prefix=str(options.get("key_prefix") or "jiebang"),
            socket_timeout=float(options.get("socket_timeout", 5)),
        )

    @contextmanager
    def _mutex(self, conversation_id: str) -> Iterator[None]:
        lock = self.red.lock(
            f"{self.key_prefix}{conversation_id}:mutex",
            timeout=MUTEX_TIMEOUT,
            blocking_timeout=MUTEX_WAIT,
        )
        if not lock.acquire():
            raise LockError(f"could not update the lock of conversation '{conversation_id}'")
        try:
            yield
        finally:
            with contextlib.suppress(Exception):  # expired: the next holder owns it now
                lock.release()

    def issue_ticket(self, conversation_id: str, lock_lifetime: float = LOCK_LIFETIME) -> int:
        try:
            with self._mutex(conversation_id):
                lock = self.get_or_create_lock(conversation_id)
                ticket = lock.issue_ticket(lock_lifetime)
                self.save_lock(lock)
                return ticket
        except LockError:
            raise
        except Exception as error:
            raise LockError(f"Error while acquiring lock. Error:\n{error}") from error

    def update_lock(self, conversation_id: str) -> None:
        with self._mutex(conversation_id):
            super().update_lock(conversation_id)

    def cleanup(self, conversation_id: str, ticket_number: int) -> None:
        """Release the ticket after the turn; a failure here is logged, not raised.

        Cleanup runs after the turn was processed and stored. Raising (Rasa's
        behaviour) turns a stored turn into a 500, the client retries it and the bot
        processes it twice. An unreleased ticket expires after its lifetime.
        """
        try:
            self._cleanup(conversation_id, ticket_number)
        except Exception as error:  # noqa: BLE001 - e.g. Redis restarting
            from bot.ops import metrics

            metrics.ERRORS.labels("lock_store", "cleanup").inc()
            logger.warning("lock cleanup failed (%s); ticket %s expires on its own",
                           type(error).__name__, ticket_number)

    def _cleanup(self, conversation_id: str, ticket_number: int) -> None:
        with self._mutex(conversation_id):
            lock: TicketLock | None = self.get_lock(conversation_id)
            if lock is None:
                return
            lock.remove_ticket_for(ticket_number)
            if lock.is_someone_waiting():
                self.save_lock(lock)
            else:
                self.delete_lock(conversation_id)
