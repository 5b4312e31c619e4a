"""Fixtures for the WeChat channel tests: a fake message API, a fake bot, and a
migrated ticket database for the durable dedup store (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from wechat_support import FakeApi, FakeBot

from bot.tickets.migrate import upgrade
from tests.tickets.tickets_support import pg_schema


@pytest.fixture
async def api() -> AsyncIterator[FakeApi]:
    """A fake WeChat/WeCom API on 127.0.0.1 (random port) that records every call."""
    async with FakeApi().running() as fake:
        yield fake


@pytest.fixture
def bot() -> FakeBot:
    """A bot that records each turn and answers through the output channel."""
    return FakeBot()


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def callbacks_db_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A database migrated to head, shared by a module's tests (keys are unique per test):
    a SQLite file, or a PostgreSQL schema of its own in DATABASE_URL_TEST."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('callbacks') / 'tickets.db'}"
        upgrade(url)
        yield url
        return
    with pg_schema("wechat_test") as url:
        upgrade(url)
        yield url


@pytest.fixture(scope="module")
def callbacks_db_url_sqlite(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite ticket database migrated to head, shared by a module's tests."""
    url = f"sqlite:///{tmp_path_factory.mktemp('callbacks') / 'tickets.db'}"
    upgrade(url)
    return url


@pytest.fixture(scope="module")
def callbacks_db_url_pg() -> Iterator[str]:
    """A PostgreSQL schema of its own in DATABASE_URL_TEST, migrated to head."""
    with pg_schema("once_test") as url:
        upgrade(url)
        yield url
