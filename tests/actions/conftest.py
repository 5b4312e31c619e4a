"""Fixtures: every action test that touches tickets runs on SQLite and, with
DATABASE_URL_TEST, on PostgreSQL (a schema of this session, emptied around each test)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import actions.unbind_form as form
import bot.learning.candidates as candidates
from bot.db import make_engine
from bot.handoff.service import HandoffService
from bot.learning.candidates import CandidateStore
from bot.tickets import TicketService
from bot.tickets.migrate import upgrade
from tests.tickets.tickets_support import pg_schema

TICKET_TABLES = ("tickets", "ticket_steps", "ticket_events", "ticket_counters",
                 "owner_check_failures", "handoffs", "outbox", "notice_preferences")
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(scope="session")
def actions_pg_url() -> Iterator[str]:
    """A PostgreSQL schema for the action tests, migrated once."""
    with pg_schema("actions_test") as url:
        upgrade(url)
        yield url


def _empty(url: str) -> None:
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(
                f"TRUNCATE {', '.join(TICKET_TABLES)} RESTART IDENTITY CASCADE"
            )
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def candidates_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('candidates') / 'tickets.db'}"
    upgrade(url)
    return url


@pytest.fixture(autouse=True)
def candidate_store(
    candidates_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[CandidateStore]:
    """Candidates the actions keep go to a database of this test session, emptied per test
    (never to var/)."""
    store = CandidateStore(make_engine(candidates_url))
    with store.engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM nlu_candidates")
    monkeypatch.setattr(candidates, "default_store", lambda: store)
    yield store
    store.engine.dispose()


def _use(service: TicketService, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(form, "ticket_service", lambda: service)
    handoffs = HandoffService(service.engine)
    monkeypatch.setattr("actions.handoff.handoff_service", lambda: handoffs)


@pytest.fixture(params=BACKENDS)
def service(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TicketService]:
    """The ticket service the actions use: a migrated SQLite file or PostgreSQL schema."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'tickets.db'}"
        upgrade(url)
    else:
        url = request.getfixturevalue("actions_pg_url")
        _empty(url)
    svc = TicketService.from_url(url)
    _use(svc, monkeypatch)
    yield svc
    svc.dispose()
    if request.param == "postgresql":
        _empty(url)


@pytest.fixture()
def dead_service(monkeypatch: pytest.MonkeyPatch) -> Iterator[TicketService]:
    """A ticket service whose database cannot be reached."""
    svc = TicketService.from_url("postgresql://nobody@127.0.0.1:9/none?connect_timeout=1")
    _use(svc, monkeypatch)
    yield svc
    svc.dispose()
