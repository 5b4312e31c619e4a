"""bot.db: the default URL and per-backend connection settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from bot.db import REPO_ROOT, database_url, make_engine, writer


def test_database_url_defaults_to_embedded_sqlite(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert database_url() == f"sqlite:///{REPO_ROOT / 'var' / 'tickets.db'}"
    assert (REPO_ROOT / "var").is_dir()
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@h/db")
    assert database_url() == "postgresql://u@h/db"


def test_sqlite_connections_use_wal_busy_timeout_and_foreign_keys(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        with engine.connect() as conn:
            pragmas = {
                name: conn.execute(text(f"PRAGMA {name}")).scalar()
                for name in ("journal_mode", "busy_timeout", "foreign_keys")
            }
        assert pragmas == {"journal_mode": "wal", "busy_timeout": 30000, "foreign_keys": 1}
        with writer(engine).begin() as conn:  # BEGIN IMMEDIATE takes the write lock
            conn.execute(text("CREATE TABLE t (x INTEGER)"))
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 0
    finally:
        engine.dispose()


def test_postgresql_engine_pings_before_use() -> None:
    engine = make_engine("postgresql://postgres@127.0.0.1:1/test")
    assert engine.pool._pre_ping  # type: ignore[attr-defined]
    engine.dispose()
