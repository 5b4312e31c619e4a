"""The outbox worker (``python -m bot.outbox``; ``make run`` starts one).

Every ``OUTBOX_POLL_SECONDS`` (0.5) it leases the due rows (see
:meth:`bot.outbox.store.OutboxStore.lease`: never a row another worker holds, never two
rows of one conversation at once) and delivers each through its channel's adapter
(:mod:`bot.outbox.adapters`). A row that could not be delivered is retried with
exponential backoff (2 s doubling up to 5 min, ``OUTBOX_MAX_ATTEMPTS`` = 10 tries) and
then ``failed``; one that may have arrived is ``uncertain`` and never resent on its own.

Every couple of seconds it also looks after what nobody else would:

- leases that ran out (a worker was killed): back to pending, or ``uncertain`` if a
  request to WeChat was out at the time;
- claimed handoffs whose merchant waited past ``HANDOFF_IDLE_SECONDS``: back to the
  queue, and the merchant is told;
- ``held`` notices (WeChat's 48-hour window was closed) of merchants who have written
  since: sent now.

Several workers may run (replicas, or a restart overlapping the old process): the
database decides who sends what. Logs name rows and conversations, never texts.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import secrets
import signal
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from bot.handoff.service import HandoffService
from bot.outbox.adapters import (
    Adapter,
    Delivery,
    Lease,
    LeaseLost,
    RasaRecorder,
    RecordOnly,
    platform_adapters,
    rasa_recorder,
    web_chat,
)
from bot.outbox.store import Backoff, OutboxRow, OutboxStore
from bot.web.console.conversations import events

log = logging.getLogger(__name__)
T = TypeVar("T")


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    return float(raw) if raw else default


@dataclass(frozen=True)
class WorkerSettings:
    """Timing of the worker (environment variables in brackets)."""

    poll: float = 0.5  # OUTBOX_POLL_SECONDS
    batch: int = 20
    lease_for: float = 120.0  # OUTBOX_LEASE_SECONDS
    send_timeout: float = 10.0  # OUTBOX_SEND_TIMEOUT
    maintenance_every: float = 2.0

    @classmethod
    def from_env(cls) -> WorkerSettings:
        return cls(
            poll=_env_float("OUTBOX_POLL_SECONDS", cls.poll),
            lease_for=_env_float("OUTBOX_LEASE_SECONDS", cls.lease_for),
            send_timeout=_env_float("OUTBOX_SEND_TIMEOUT", cls.send_timeout),
        )


def backoff_from_env() -> Backoff:
    return Backoff(max_attempts=int(_env_float("OUTBOX_MAX_ATTEMPTS", Backoff.max_attempts)))


def last_user_message(tracker_engine: Engine, sender_id: str) -> float | None:
    """When the merchant last wrote (tracker store timestamp), if ever."""
    with tracker_engine.connect() as conn:
        return conn.execute(
            select(func.max(events.c.timestamp)).where(
                events.c.sender_id == sender_id, events.c.type_name == "user")
        ).scalar_one_or_none()


@dataclass
class OutboxWorker:
    """Leases, delivers and settles outbox rows; looks after leases and claims."""

    store: OutboxStore
    handoffs: HandoffService
    adapters: Mapping[str, Adapter]
    fallback: Adapter
    tracker_engine: Engine | None = None
    settings: WorkerSettings = field(default_factory=WorkerSettings)
    owner: str = field(default_factory=lambda: (
        f"{socket.gethostname()[:20]}-{os.getpid()}-{secrets.token_hex(3)}"))
    _next_maintenance: float = 0.0

    async def _run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        call = functools.partial(fn, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(None, call)

    async def tick(self) -> int:
        """One round: maintenance when due, then every due row. Returns rows handled."""
        loop = asyncio.get_running_loop()
        if loop.time() >= self._next_maintenance:
            self._next_maintenance = loop.time() + self.settings.maintenance_every
            await self.maintenance()
        try:
            rows = await self._run(self.store.lease, self.owner, self.settings.batch,
                                   self.settings.lease_for)
        except Exception as exc:  # noqa: BLE001 - the database is down: try again later
            log.error("outbox: cannot lease rows (%s)", type(exc).__name__)
            return 0
        if rows:
            await asyncio.gather(*(self.deliver(row) for row in rows))
        return len(rows)

    async def maintenance(self) -> None:
        for name, job in (("recover", self.store.recover),
                          ("requeue", self.handoffs.requeue_lapsed),
                          ("held", self._wake_held)):
            try:
                await self._run(job)
            except Exception as exc:  # noqa: BLE001 - next round
                log.error("outbox maintenance %s failed (%s)", name, type(exc).__name__)

    def _wake_held(self) -> int:
        """Held rows whose merchant wrote after the row was held go back to pending."""
        if self.tracker_engine is None:
            return 0
        ready = []
        for row_id, _channel, sender_id, since in self.store.held():
            wrote = last_user_message(self.tracker_engine, sender_id)
            if wrote is not None and wrote > since.timestamp():
                ready.append(row_id)
        return self.store.release_held(ready)

    async def deliver(self, row: OutboxRow) -> str:
        """Deliver one leased row and settle it; its new state."""
        adapter = self.adapters.get(row.channel, self.fallback)
        lease = Lease(self.store, row, self.owner, self.settings.lease_for)
        try:
            outcome = await adapter.deliver(row, lease)
        except LeaseLost:
            return "lost"
        except Exception as exc:  # noqa: BLE001 - a bug or the database: retry later
            log.exception("outbox %s: delivery raised", row.id)
            outcome = Delivery("pending", f"内部错误（{type(exc).__name__}）")
        try:
            if outcome.state == "pending":
                state = await self._run(self.store.retry_later, row.id, self.owner,
                                        row.attempts, outcome.error)
            else:
                await self._run(self.store.settle, row.id, self.owner, outcome.state,
                                outcome.error)
                state = outcome.state
        except Exception as exc:  # noqa: BLE001 - the lease runs out and is recovered
            log.error("outbox %s: cannot record %s (%s)", row.id, outcome.state,
                      type(exc).__name__)
            return "unrecorded"
        level = logging.INFO if state == "sent" else logging.WARNING
        log.log(level, "outbox %s (%s to %s sender %s, attempt %d): %s %s", row.id, row.kind,
                row.channel, row.sender_id, row.attempts, state, outcome.error)
        return state

    async def run(self, stop: asyncio.Event) -> None:
        """Work until ``stop`` is set; the rows in hand are finished first."""
        log.info("outbox worker %s started", self.owner)
        while not stop.is_set():
            if await self.tick() == 0:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.settings.poll)
        log.info("outbox worker %s stopped", self.owner)


def build_worker(database_url: str | None = None, tracker_url: str | None = None,
                 settings: WorkerSettings | None = None,
                 recorder: RasaRecorder | None = None) -> OutboxWorker:
    """A worker on ``DATABASE_URL`` / ``TRACKER_STORE_URL`` and the channels' settings."""
    from bot.web.console.conversations import read_only_engine

    settings = settings or WorkerSettings.from_env()
    handoffs = HandoffService.from_url(database_url)
    store = OutboxStore(handoffs.engine, backoff=backoff_from_env())
    recorder = recorder or rasa_recorder()
    adapters: dict[str, Adapter] = {"socketio": web_chat(recorder)}
    adapters.update(platform_adapters(recorder, settings.send_timeout))
    return OutboxWorker(store, handoffs, adapters, RecordOnly(recorder),
                        read_only_engine(tracker_url), settings)


async def close(worker: OutboxWorker) -> None:
    """Close HTTP sessions and stores the adapters opened."""
    closers = {id(a): a for a in (worker.fallback, *worker.adapters.values())}
    seen = set()
    for adapter in closers.values():
        for part in (getattr(adapter, "recorder", None), getattr(adapter, "sender", None)):
            if part is not None and id(part) not in seen:
                seen.add(id(part))
                closer = getattr(part, "aclose", None) or getattr(part, "close", None)
                await closer()
    worker.handoffs.engine.dispose()


async def health_server(worker: OutboxWorker, port: int, host: str = "127.0.0.1"
                        ) -> web.AppRunner:
    """``GET /health`` on ``host``:``port``: the worker runs and reaches its database."""

    async def health(request: web.Request) -> web.Response:
        try:
            await worker._run(worker.store.recent, 1)
        except Exception as exc:  # noqa: BLE001 - say what is wrong
            return web.json_response({"status": "database unavailable",
                                      "error": type(exc).__name__}, status=503)
        return web.json_response({"status": "ok", "worker": worker.owner})

    app = web.Application()
    app.router.add_get("/health", health)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner


async def serve(worker: OutboxWorker, port: int | None = None, host: str = "127.0.0.1") -> None:
    """Run until SIGTERM/SIGINT (with the health endpoint when ``port`` is given)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    runner = await health_server(worker, port, host) if port else None
    try:
        await worker.run(stop)
    finally:
        if runner is not None:
            await runner.cleanup()
        await close(worker)
