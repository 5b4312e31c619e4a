"""Constants and helpers shared by the console tests (imported by conftest and tests)."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass
from typing import Any

from rasa.shared.core.events import BotUttered, SessionStarted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.audit import AuditLog
from bot.stores import RedactingSQLTrackerStore
from bot.tickets import OpenRequest, TicketService, TicketView

TOKEN = "test-token-0123456789"
AGENT = "张三"
AGENT_HEADER = "%E5%BC%A0%E4%B8%89"
HEADERS = {"Authorization": f"Bearer {TOKEN}", "X-Agent": AGENT_HEADER}
PERSONAL_AGENT = "李四"
PERSONAL_TOKEN = "li-si-personal-token-0123456789"
AUDIT_KEY = "console-test-audit-key-0123456789"
WECOM_SENDER = "wecom-user-1"
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


@dataclass
class LiveServer:
    url: str
    dbs: Databases




async def get(app: Any, path: str, headers: dict[str, str] | None = None) -> Any:
    """GET ``path`` of the console app in process, as the agent of ``HEADERS`` by default."""
    _, reply = await app.asgi_client.get(path, headers=HEADERS if headers is None else headers)
    return reply


def audit_rows(dbs: Databases) -> Any:
    """The audit log's latest rows."""
    service = TicketService.from_url(dbs.tickets_url)
    try:
        return AuditLog(service.engine).recent()
    finally:
        service.dispose()
