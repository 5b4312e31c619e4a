"""Shared fixtures and the rule that CI never skips a service-backed test.

With ``REQUIRE_SERVICES=1`` (set by .ci/run) a skipped test fails: tests that need
PostgreSQL, Redis or Chromium must run in CI.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.launcher import Stack, default_env, embedded_services
from bot.paths import ROOT

MODEL = ROOT / "models" / "bot.tar.gz"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get("REQUIRE_SERVICES") == "1":
        reason = report.longrepr[-1] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped, but REQUIRE_SERVICES=1 forbids skips: {reason}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class RunningBot:
    """URLs and databases of a bot started for tests."""

    rasa_url: str
    web_url: str
    tracker_db: Path
    tickets_url: str
    log_dir: Path

    @property
    def rest_url(self) -> str:
        return f"{self.rasa_url}/webhooks/rest/webhook"


@pytest.fixture(scope="session")
def running_bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningBot]:
    """The real action server, Rasa and web app on free ports, with fresh SQLite files."""
    if not MODEL.exists():
        pytest.fail(f"no trained model at {MODEL}: run `make train`")
    tmp = tmp_path_factory.mktemp("bot")
    ports = {"rasa_port": free_port(), "actions_port": free_port(), "web_port": free_port()}
    env = default_env(ports["actions_port"])
    env["TRACKER_STORE_URL"] = f"sqlite:///{tmp / 'tracker.db'}"
    env["DATABASE_URL"] = f"sqlite:///{tmp / 'tickets.db'}"
    env["RASA_URL"] = f"http://127.0.0.1:{ports['rasa_port']}"
    subprocess.run(
        [sys.executable, "-m", "bot.tickets", "migrate"], env=env, cwd=ROOT, check=True,
        capture_output=True,
    )
    stack = Stack(embedded_services(str(MODEL), **ports), env=env, log_dir=tmp / "logs")
    with stack:
        yield RunningBot(
            rasa_url=env["RASA_URL"],
            web_url=f"http://127.0.0.1:{ports['web_port']}",
            tracker_db=tmp / "tracker.db",
            tickets_url=env["DATABASE_URL"],
            log_dir=tmp / "logs",
        )
