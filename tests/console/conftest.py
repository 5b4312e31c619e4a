"""Fixtures: a migrated ticket database, a tracker store written by the bot's own
RedactingSQLTrackerStore, an in-process app (sanic-testing ASGI client) and, for the
browser and Schemathesis tests, a real ``python -m bot.web`` server on a free port."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from rasa.shared.core.events import BotUttered, SessionStarted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from sanic import Sanic

from bot.paths import ROOT
from bot.stores import RedactingSQLTrackerStore
from bot.tickets import OpenRequest, TicketService, TicketView
from bot.tickets.migrate import upgrade
from bot.web.console.routes import build_context, console_blueprint

TOKEN = "test-token-0123456789"
AGENT = "张三"
AGENT_HEADER = "%E5%BC%A0%E4%B8%89"
HEADERS = {"Authorization": f"Bearer {TOKEN}", "X-Agent": AGENT_HEADER}
MERCHANT = "849581058120003"
PHONE = "13812345678"
SENDER = "web-conv-1"
SECRET_TEXT = "我的密码是123456"


def open_ticket(service: TicketService, merchant: str = MERCHANT, sender: str = SENDER,
                phone: str = PHONE) -> TicketView:
    request = OpenRequest(
        merchant_id=merchant, reason_category="更换设备", reason_detail="旧机器屏幕坏了",
        serial_number="SN00012345", contact_phone=phone, channel="rest", sender_id=sender,
    )
    return service.open_ticket(request).ticket


def write_conversation(url: str, sender: str, channel: str) -> None:
    """Store a short conversation through the bot's tracker store (which redacts)."""
    now = time.time()
    events = [
        SessionStarted(timestamp=now - 60),
        UserUttered(
            "要带什么证件", parse_data={"intent": {"name": "faq_materials", "confidence": 0.93},
                                  "entities": [], "text": "要带什么证件"},
            input_channel=channel, timestamp=now - 50,
        ),
        BotUttered("按海科融通的要求，可能需要提供以下资料：营业执照副本……",
                   data={"buttons": [{"title": "解绑的八个步骤", "payload": "/faq_process"}]},
                   timestamp=now - 49),
        UserUttered(
            SECRET_TEXT, parse_data={"intent": {"name": "share_secret", "confidence": 0.99},
                                 "entities": [], "text": SECRET_TEXT},
            input_channel=channel, timestamp=now - 40,
        ),
        BotUttered("密码只在POS机上输入，请不要发给任何人。", timestamp=now - 39),
    ]
    store = RedactingSQLTrackerStore(host=url)
    tracker = DialogueStateTracker.from_events(sender, events)
    # A thread of its own: Playwright's sync API may already run a loop in this one.
    worker = threading.Thread(target=asyncio.run, args=(store.save(tracker),))
    worker.start()
    worker.join()
    store.engine.dispose()


@dataclass
class Databases:
    tickets_url: str
    tracker_url: str
    ticket: TicketView


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
    yield Databases(tickets_url, tracker_url, ticket)


@pytest.fixture
def app(dbs: Databases) -> Iterator[Sanic]:
    ctx = build_context(TOKEN, dbs.tickets_url, dbs.tracker_url)
    sanic_app = Sanic(f"console_test_{os.urandom(4).hex()}")
    sanic_app.config.RASA_URL = "http://127.0.0.1:9"  # nothing listens: BM25 only
    sanic_app.blueprint(console_blueprint(ctx))
    yield sanic_app
    ctx.tickets.dispose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LiveServer:
    url: str
    dbs: Databases


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
               TRACKER_STORE_URL=tracker_url, RASA_URL="http://127.0.0.1:9",
               PYTHONPATH=str(ROOT))
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
