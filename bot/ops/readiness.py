"""Readiness: the database, Redis and (in Rasa) the model, each with a short timeout."""

from __future__ import annotations

import asyncio
import time
from functools import lru_cache
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url

CHECK_TIMEOUT = 3.0


@lru_cache(maxsize=4)
def _engine(url: str) -> Engine:
    parsed = make_url(url)
    connect_args = {"connect_timeout": 3} if parsed.get_backend_name() == "postgresql" else {}
    return create_engine(parsed, pool_pre_ping=True, pool_size=1, max_overflow=1,
                         connect_args=connect_args)


def _database_ok(url: str) -> None:
    with _engine(url).connect() as conn:
        conn.execute(text("select 1"))


async def check_database(url: str) -> tuple[bool, str]:
    loop = asyncio.get_running_loop()
    try:
        await asyncio.wait_for(loop.run_in_executor(None, _database_ok, url), CHECK_TIMEOUT)
        return True, "ok"
    except Exception as error:  # noqa: BLE001 - reported, never raised
        return False, type(error).__name__


async def check_redis(url: str) -> tuple[bool, str]:
    import redis.asyncio as aioredis

    client = aioredis.from_url(url, socket_timeout=CHECK_TIMEOUT, socket_connect_timeout=2)
    try:
        await asyncio.wait_for(client.ping(), CHECK_TIMEOUT)
        return True, "ok"
    except Exception as error:  # noqa: BLE001
        return False, type(error).__name__
    finally:
        await client.close()


def check_model(app: Any) -> tuple[bool, str]:
    agent = getattr(getattr(app, "ctx", None), "agent", None)
    if agent is None or not agent.is_ready():
        return False, "model not loaded"
    return True, str(agent.model_id or "loaded")


def check_stores(app: Any) -> tuple[bool, str]:
    """The replica really uses the shared stores.

    Rasa replaces a tracker store whose class cannot be imported (or raises an
    AttributeError while starting) by an in-memory one with only a warning; such a
    replica would answer, but keep conversations to itself.
    """
    agent = getattr(getattr(app, "ctx", None), "agent", None)
    if agent is None:
        return False, "no agent"
    store = agent.tracker_store
    while hasattr(store, "_tracker_store"):
        store = store._tracker_store
    engine = getattr(store, "engine", None)
    if engine is None or engine.dialect.name != "postgresql":
        return False, f"tracker store is {type(store).__name__}"
    lock_store = type(agent.lock_store).__name__
    if "Redis" not in lock_store:
        return False, f"lock store is {lock_store}"
    return True, f"{type(store).__name__}, {lock_store}"


async def report(checks: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
    """Run the named checks (awaitables or results) and say whether all passed."""
    started = time.perf_counter()
    results: dict[str, Any] = {}
    for name, check in checks.items():
        ok, detail = await check if asyncio.iscoroutine(check) else check
        results[name] = {"ok": ok, "detail": detail}
    ready = all(r["ok"] for r in results.values())
    return ready, {"ready": ready, "checks": results,
                   "seconds": round(time.perf_counter() - started, 3)}
