"""The faults of the fault runs, each undone by the code that injects it.

Redis is shared with other tests on the machine: :func:`redis_restarted` always
starts it again (in a ``finally``), with the machine's own command line.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

REDIS_START = [
    "redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "-::1", "--port", "6379",
    "--save", "", "--appendonly", "no", "--dir", "/var/lib/redis",
    "--logfile", "/var/log/redis/ci.log",
]


def redis_up(port: int = 6379) -> bool:
    result = subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True,
                            text=True, timeout=5)
    return result.stdout.strip() == "PONG"


def start_redis(timeout: float = 15.0) -> None:
    if redis_up():
        return
    subprocess.run(REDIS_START, check=True, capture_output=True, timeout=15)
    deadline = time.monotonic() + timeout
    while not redis_up():
        if time.monotonic() > deadline:
            raise RuntimeError("redis did not come back")
        time.sleep(0.2)


@contextlib.contextmanager
def redis_stopped(down_for: float = 3.0) -> Iterator[None]:
    """Shut Redis down (no save) for ``down_for`` seconds; it is always restarted."""
    try:
        subprocess.run(["redis-cli", "-p", "6379", "shutdown", "nosave"],
                       capture_output=True, timeout=10)
        time.sleep(down_for)
        yield
    finally:
        start_redis()


def restart_redis(down_for: float = 3.0) -> None:
    with redis_stopped(down_for):
        pass


def terminate_connections(url: str) -> int:
    """Cut every connection to the database of ``url`` (as a failover would)."""
    parsed = make_url(url)
    engine = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            return len(conn.execute(text(
                "select pg_terminate_backend(pid) from pg_stat_activity "
                "where datname = :db and pid <> pg_backend_pid()"), {"db": parsed.database},
            ).all())
    finally:
        engine.dispose()


def postgres_version() -> str:
    versions = sorted(p.name for p in Path("/etc/postgresql").iterdir() if p.is_dir())
    return versions[-1]


def restart_postgres() -> None:
    """Restart the local cluster (affects every database on it)."""
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", postgres_version(), "main",
                    "restart"], check=True, capture_output=True, timeout=120)


@contextlib.contextmanager
def slow_actions(faults_dir: Path, seconds: float) -> Iterator[None]:
    """Every action call waits ``seconds`` first (profile started with FAULT_INJECTION=1)."""
    faults_dir.mkdir(parents=True, exist_ok=True)
    switch = faults_dir / "slow_actions"
    switch.write_text(str(seconds))
    try:
        yield
    finally:
        switch.unlink(missing_ok=True)
