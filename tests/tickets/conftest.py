"""Fixtures: every service test runs on SQLite and, with DATABASE_URL_TEST, PostgreSQL.

PostgreSQL isolation: each test session (each xdist worker) migrates its own schema with
Alembic, selected through ``search_path`` in the URL so subprocesses inherit it; tables
are truncated around every test and the schema is dropped at the end. Migration tests
get a fresh empty schema each.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from tickets_support import AUDIT_KEY, FakeClock, pg_schema

from bot.db import make_engine
from bot.tickets import TicketService
from bot.tickets.migrate import upgrade

TABLES = (
    "tickets", "ticket_steps", "ticket_events", "ticket_counters", "owner_check_failures",
    "console_audit", "wechat_callbacks", "handoffs", "outbox", "notice_preferences",
    "nlu_candidates", "answer_feedback",
)
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(scope="session", autouse=True)
def audit_key_env() -> Iterator[None]:
    """A fixed audit HMAC key (inherited by the CLI subprocesses), none made in var/."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AUDIT_HMAC_KEY", AUDIT_KEY)
        yield


@pytest.fixture(scope="session")
def pg_session_url() -> Iterator[str]:
    """A schema for this test session (per xdist worker), migrated once."""
    with pg_schema("tickets_test") as url:
        upgrade(url)
        yield url


def _truncate(url: str) -> None:
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")
    finally:
        engine.dispose()


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database: a SQLite file, or the session's PostgreSQL schema."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'tickets.db'}"
        upgrade(url)
        yield url
        return
    url = request.getfixturevalue("pg_session_url")
    _truncate(url)
    yield url
    _truncate(url)


@pytest.fixture(params=BACKENDS)
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty, unmigrated database (a fresh SQLite file or PostgreSQL schema)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'tickets.db'}"
        return
    with pg_schema("tickets_test") as url:
        yield url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def service(engine: Engine, clock: FakeClock) -> TicketService:
    return TicketService(engine, clock=clock)
