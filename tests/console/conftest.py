"""Fixtures: a migrated ticket database, a tracker store written by the bot's own
RedactingSQLTrackerStore, an in-process app (sanic-testing ASGI client) and, for the
browser and Schemathesis tests, a real ``python -m bot.web`` server on a free port."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from console_support import (
    AUDIT_KEY,
    PERSONAL_AGENT,
    PERSONAL_TOKEN,
    SENDER,
    TOKEN,
    WECOM_SENDER,
    Databases,
    LiveServer,
    open_ticket,
    write_conversation,
)
from sanic import Sanic

from bot.launcher import free_port
from bot.paths import ROOT
from bot.tickets import TicketService
from bot.tickets.migrate import upgrade
from bot.web.console.auth import Credentials, parse_agent_tokens
from bot.web.console.routes import build_context, console_blueprint


@pytest.fixture(scope="session", autouse=True)
def audit_key_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A fixed audit HMAC key; nothing configured from the repository's var/."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AUDIT_HMAC_KEY", AUDIT_KEY)
        patch.delenv("CONSOLE_AGENTS", raising=False)
        patch.setenv("CONSOLE_AGENTS_FILE", str(tmp_path_factory.mktemp("agents") / "none"))
        yield


@pytest.fixture
def dbs(tmp_path: Path) -> Iterator[Databases]:
    tickets_url = f"sqlite:///{tmp_path / 'tickets.db'}"
    tracker_url = f"sqlite:///{tmp_path / 'tracker.db'}"
    upgrade(tickets_url)
    service = TicketService.from_url(tickets_url)
    ticket = open_ticket(service)
    service.dispose()
    write_conversation(tracker_url, SENDER, "rest")
    write_conversation(tracker_url, "wx:account:openid-1", "wechat")
    write_conversation(tracker_url, WECOM_SENDER, "wecom")
    yield Databases(tickets_url, tracker_url, ticket)


@pytest.fixture
async def app(dbs: Databases) -> AsyncIterator[Sanic]:
    """The console alone, in process: the shared token, and 李四's personal token."""
    credentials = Credentials(TOKEN, parse_agent_tokens(f"{PERSONAL_AGENT}:{PERSONAL_TOKEN}"))
    ctx = build_context(database_url=dbs.tickets_url, tracker_store_url=dbs.tracker_url,
                        credentials=credentials)
    sanic_app = Sanic(f"console_test_{os.urandom(4).hex()}")
    sanic_app.config.RASA_URL = "http://127.0.0.1:9"  # nothing listens: BM25 only
    sanic_app.blueprint(console_blueprint(ctx))
    sanic_app.ctx.console = ctx
    yield sanic_app
    await ctx.close()
    ctx.tickets.dispose()


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """``python -m bot.web`` on a free port, Rasa unreachable (search degrades to BM25)."""
    tmp = tmp_path_factory.mktemp("live")
    tickets_url = f"sqlite:///{tmp / 'tickets.db'}"
    tracker_url = f"sqlite:///{tmp / 'tracker.db'}"
    upgrade(tickets_url)
    service = TicketService.from_url(tickets_url)
    ticket = open_ticket(service)
    service.dispose()
    write_conversation(tracker_url, SENDER, "rest")
    port = free_port()
    env = dict(os.environ, CONSOLE_TOKEN=TOKEN, DATABASE_URL=tickets_url,
               CONSOLE_AGENTS=f"{PERSONAL_AGENT}:{PERSONAL_TOKEN}",
               TRACKER_STORE_URL=tracker_url, RASA_URL="http://127.0.0.1:9",
               PYTHONPATH=str(ROOT),
               # Schemathesis sends wrong tokens on purpose (its ignored_auth check), many
               # more than an agent would: the per-IP lockout is tested in process.
               RATE_LIMIT_CONSOLE_AUTH="100000")
    log = open(tmp / "web.log", "wb")  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.web", "--port", str(port)], cwd=ROOT, env=env,
        stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/healthz", timeout=1):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((tmp / "web.log").read_text()[-2000:]) from None
                time.sleep(0.3)
        yield LiveServer(url, Databases(tickets_url, tracker_url, ticket))
    finally:
        process.terminate()
        process.wait(10)
        log.close()
