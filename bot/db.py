"""Database URL and engine construction shared by the bot, the CLI and tests."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.pool import QueuePool

REPO_ROOT = Path(__file__).resolve().parent.parent
SQLITE_BUSY_TIMEOUT_MS = 30_000
WRITE_OPTION = "ticket_write"
"""Execution option marking a write transaction (``BEGIN IMMEDIATE`` on SQLite)."""


def database_url() -> str:
    """Return ``DATABASE_URL`` or the embedded SQLite default ``var/tickets.db``."""
    url = os.environ.get("DATABASE_URL", "").strip()
    if url:
        return url
    var = REPO_ROOT / "var"
    var.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{var / 'tickets.db'}"


def make_engine(url: str | URL | None = None, **kwargs: Any) -> Engine:
    """Create a 2.0-style engine with per-backend settings.

    SQLite: WAL, ``busy_timeout`` and foreign keys on every connection; transactions
    are begun explicitly so that writers can ask for ``BEGIN IMMEDIATE`` through the
    ``ticket_write`` execution option (see :func:`writer`).
    PostgreSQL: ``pool_pre_ping`` and a connect timeout.
    """
    url = make_url(url or database_url())
    backend = url.get_backend_name()
    if backend == "sqlite":
        connect_args = kwargs.setdefault("connect_args", {})
        connect_args.setdefault("timeout", SQLITE_BUSY_TIMEOUT_MS / 1000)
        if url.database not in (None, "", ":memory:"):
            # Keep connections open: SQLAlchemy 1.4 closes a file database's connection
            # after each use, and closing the last one checkpoints the WAL every time.
            connect_args.setdefault("check_same_thread", False)
            kwargs.setdefault("poolclass", QueuePool)
        engine = create_engine(url, future=True, **kwargs)
        _configure_sqlite(engine)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    if backend == "postgresql" and "connect_timeout" not in url.query:
        kwargs.setdefault("connect_args", {}).setdefault("connect_timeout", 10)
    return create_engine(url, future=True, **kwargs)


def writer(engine: Engine) -> Engine:
    """Return a view of ``engine`` whose transactions take the write lock up front."""
    return engine.execution_options(**{WRITE_OPTION: True})


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (see _on_begin)
        cur = dbapi_conn.cursor()
        try:
            cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            cur.execute("PRAGMA foreign_keys = ON")
            if engine.url.database not in (None, "", ":memory:"):
                cur.execute("PRAGMA journal_mode = WAL")
        finally:
            cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
