"""Shared fixtures and the rule that CI never skips a service-backed test.

With ``REQUIRE_SERVICES=1`` (set by .ci/run) a skipped test fails: tests that need
PostgreSQL, Redis or Chromium must run in CI.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.launcher import Stack, default_env, embedded_services, free_port
from bot.paths import ROOT

MODEL = ROOT / "models" / "bot.tar.gz"
# Test credentials for the WeChat channels of the running bot (tests/channels sign with
# the same values). Their message API points at a closed port: replies go passively.
WECHAT_TEST_ENV = {
    "WECHAT_TOKEN": "jiebangTestToken2025",
    "WECHAT_ENCODING_AES_KEY": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
    "WECHAT_APPID": "wx1234567890abcdef",
    "WECHAT_APPSECRET": "app-secret-never-logged-0123456789",
    "WECHAT_API_BASE": "http://127.0.0.1:9",
    "WECOM_TOKEN": "jiebangTestToken2025",
    "WECOM_ENCODING_AES_KEY": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
    "WECOM_CORP_ID": "ww0123456789abcdef",
    "WECOM_SECRET": "corp-secret-never-logged-987654321",
    "WECOM_AGENT_ID": "1000002",
    "WECOM_API_BASE": "http://127.0.0.1:9",
    # The AES key is set, so plaintext callbacks are refused unless allowed; the
    # security tests post both kinds.
    "WECHAT_ALLOW_PLAINTEXT": "1",
}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get("REQUIRE_SERVICES") == "1":
        reason = report.longrepr[-1] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped, but REQUIRE_SERVICES=1 forbids skips: {reason}"


@dataclass(frozen=True)
class RunningBot:
    """URLs and databases of a bot started for tests."""

    rasa_url: str
    web_url: str
    tracker_db: Path
    tickets_url: str
    log_dir: Path
    console_token: str = ""
    admin_token: str = ""
    """A personal console token of an admin agent (统计管理员), for the 统计 page."""
    help_centre_url: str = ""
    platform_api: Any = None
    """The fake WeChat/WeCom message API its channels and outbox worker call."""
    rasa_pid: int = 0
    """The Rasa server's process id (0 if not known)."""

    @property
    def rest_url(self) -> str:
        return f"{self.rasa_url}/webhooks/rest/webhook"


@pytest.fixture(scope="session")
def platform_api() -> Iterator[Any]:
    """The fake WeChat/WeCom message API (tests/fakes/wechat_api.py), in a thread."""
    from tests.fakes.wechat_api import FakeWeChatApi

    with FakeWeChatApi().in_thread() as api:
        yield api


@pytest.fixture(scope="session")
def running_bot(
    tmp_path_factory: pytest.TempPathFactory, platform_api: Any
) -> Iterator[RunningBot]:
    """The real action server, Rasa, web app and outbox worker on free ports, with fresh
    SQLite files; WeChat and WeCom messages go to the fake platform API."""
    if not MODEL.exists():
        pytest.fail(f"no trained model at {MODEL}: run `make train`")
    tmp = tmp_path_factory.mktemp("bot")
    ports = {"rasa_port": free_port(), "actions_port": free_port(), "web_port": free_port()}
    env = default_env(ports["actions_port"])
    env["TRACKER_STORE_URL"] = f"sqlite:///{tmp / 'tracker.db'}"
    env["DATABASE_URL"] = f"sqlite:///{tmp / 'tickets.db'}"
    env["RASA_URL"] = f"http://127.0.0.1:{ports['rasa_port']}"
    env.update(WECHAT_TEST_ENV)
    env["WECHAT_API_BASE"] = env["WECOM_API_BASE"] = platform_api.base_url
    env["OUTBOX_POLL_SECONDS"] = "0.2"
    env["HANDOFF_HOURS"] = "always"
    # Every log line, Rasa's debug output included, is read back by tests/security.
    env["LOG_LEVEL"] = "DEBUG"
    env["CONSOLE_TOKEN"] = "running-bot-console-token-0123"
    env["CONSOLE_AGENTS"] = "统计管理员:running-bot-admin-token-0123456789:admin"
    env["AUDIT_HMAC_KEY"] = "running-bot-audit-key-0123456789"
    # The console waits 80 ms for Rasa's ranking; on a busy CI machine the tests wait
    # longer so that they check the fused ranking, not the BM25 fallback.
    env["CONSOLE_NLU_TIMEOUT"] = "5"
    # Answers that name the help centre then carry a link (the chat page must show it).
    env["SUPPORT_HELP_CENTRE_URL"] = "https://help.example.com/unbind?from=bot"
    subprocess.run(
        [sys.executable, "-m", "bot.tickets", "migrate"], env=env, cwd=ROOT, check=True,
        capture_output=True,
    )
    stack = Stack(embedded_services(str(MODEL), **ports), env=env, log_dir=tmp / "logs")
    with stack:
        yield RunningBot(
            rasa_pid=stack.processes["rasa"].pid, rasa_url=env["RASA_URL"],
            web_url=f"http://127.0.0.1:{ports['web_port']}",
            tracker_db=tmp / "tracker.db",
            tickets_url=env["DATABASE_URL"],
            log_dir=tmp / "logs",
            console_token=env["CONSOLE_TOKEN"],
            admin_token="running-bot-admin-token-0123456789",
            help_centre_url=env["SUPPORT_HELP_CENTRE_URL"],
            platform_api=platform_api,
        )
