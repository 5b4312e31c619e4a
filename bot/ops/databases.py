"""Make sure the configured PostgreSQL database exists, and fail loudly when it does not.

Rasa's ``SQLTrackerStore`` has two quiet ways of ending up somewhere else:

- with ``login_db`` it connects to that database and *creates* the configured one;
- a URL without a database name becomes the database ``rasa.db`` (PostgreSQL) or a file
  ``rasa.db`` in the working directory (SQLite);
- a database that does not exist is retried every 5 s forever, so a replica with a
  typo in its URL never starts and never says why in a way a supervisor notices.

The profile creates its database once, explicitly, before anything starts
(``ensure_database``); the tracker store (``bot.ops.stores``) then refuses all three.
"""

from __future__ import annotations

import time

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from bot.ops.settings import database_name


class DatabaseMisconfigured(RuntimeError):
    """The URL names no database, a missing database, or the wrong server."""


def ensure_database(url: str, maintenance_db: str = "postgres") -> bool:
    """Create the PostgreSQL database named in ``url`` if it is missing; True if created."""
    parsed = make_url(url)
    name = database_name(url)
    if parsed.get_backend_name() != "postgresql":
        return False
    engine = create_engine(parsed.set(database=maintenance_db), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            exists = conn.execute(
                text("select 1 from pg_database where datname = :name"), {"name": name}
            ).first()
            if exists:
                return False
            quoted = conn.dialect.identifier_preparer.quote(name)
            conn.execute(text(f"create database {quoted}"))
            return True
    finally:
        engine.dispose()


def check_database(url: str, wait: float = 30.0) -> None:
    """Connect to exactly the database in ``url`` or raise :class:`DatabaseMisconfigured`.

    Waits up to ``wait`` seconds for the server to come up, but a database that does
    not exist (or a role that cannot log in) is reported at once.
    """
    parsed = make_url(url)
    name = database_name(url)
    shown = parsed.render_as_string(hide_password=True)
    engine = create_engine(parsed, connect_args=_connect_args(parsed))
    deadline = time.monotonic() + wait
    try:
        while True:
            try:
                with engine.connect() as conn:
                    if parsed.get_backend_name() == "postgresql":
                        actual = conn.execute(text("select current_database()")).scalar()
                        if actual != name:
                            raise DatabaseMisconfigured(f"{shown} connected to {actual!r}")
                    else:
                        conn.execute(text("select 1"))
                return
            except OperationalError as error:
                message = str(error.orig)
                permanent = "does not exist" in message or "authentication failed" in message
                if permanent or time.monotonic() > deadline:
                    raise DatabaseMisconfigured(
                        f"cannot use {shown}: {message.strip().splitlines()[0]}"
                    ) from None
                time.sleep(1)
    finally:
        engine.dispose()


def _connect_args(parsed: object) -> dict[str, object]:
    backend = parsed.get_backend_name()  # type: ignore[attr-defined]
    return {"connect_timeout": 5} if backend == "postgresql" else {}
