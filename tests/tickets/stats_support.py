"""Conversations for the statistics tests, stored through the bot's own tracker store."""

from __future__ import annotations

import asyncio
import threading
from datetime import datetime, timedelta, timezone
from typing import Any

from rasa.shared.core.events import (
    ActionExecuted,
    ActiveLoop,
    BotUttered,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker

from bot.stores import RedactingSQLTrackerStore

DAY1 = datetime(2026, 12, 1, 2, 0, tzinfo=timezone.utc)  # 10:00 in Beijing
DAY2 = DAY1 + timedelta(days=1)


def said(text: str, intent: str, channel: str, at: datetime) -> UserUttered:
    parse = {"intent": {"name": intent, "confidence": 0.9}, "entities": [], "text": text}
    return UserUttered(text, parse_data=parse, input_channel=channel, timestamp=at.timestamp())


def slot(name: str, value: Any, at: datetime) -> SlotSet:
    return SlotSet(name, value, timestamp=at.timestamp())


def store_events(url: str, sender: str, events: list) -> None:
    """Save a conversation through ``RedactingSQLTrackerStore`` (in a thread of its own)."""
    store = RedactingSQLTrackerStore(host=url)
    tracker = DialogueStateTracker.from_events(sender, events)
    worker = threading.Thread(target=asyncio.run, args=(store.save(tracker),))
    worker.start()
    worker.join()
    store.engine.dispose()


def handed_off(at: datetime, channel: str = "rest") -> list:
    """A topic question, a message not understood, then a hand-off."""
    return [
        SessionStarted(timestamp=at.timestamp()),
        said("要带什么证件", "faq_materials", channel, at),
        BotUttered("营业执照副本……", timestamp=at.timestamp() + 1),
        said("你们几点下班", "nlu_fallback", channel, at + timedelta(seconds=10)),
        ActionExecuted("action_human_handoff", timestamp=at.timestamp() + 11),
    ]


def form_with_failures(at: datetime, channel: str = "wechat") -> list:
    """Starts the form, one wrong merchant number, three wrong serials, then stops."""
    t = [at + timedelta(seconds=n) for n in range(20)]
    return [
        SessionStarted(timestamp=t[0].timestamp()),
        said("要带什么证件", "faq_materials", channel, t[0]),
        said("我要解绑", "request_unbind", channel, t[1]),
        ActiveLoop("unbind_form", timestamp=t[1].timestamp()),
        said("12345", "inform", channel, t[2]),
        slot("merchant_id", None, t[2]), slot("failed_attempts", {"merchant_id": 1}, t[2]),
        said("123456789012345", "inform", channel, t[3]),
        slot("merchant_id", "123456789012345", t[3]), slot("failed_attempts", {}, t[3]),
        slot("unbind_reason", "更换设备", t[4]),
        said("abc", "inform", channel, t[5]),
        slot("serial_number", None, t[5]), slot("failed_attempts", {"serial_number": 1}, t[5]),
        said("abd", "inform", channel, t[6]),
        slot("serial_number", None, t[6]), slot("failed_attempts", {"serial_number": 2}, t[6]),
        said("abe", "inform", channel, t[7]),
        slot("serial_number", None, t[7]), slot("failed_attempts", {"serial_number": 0}, t[7]),
        ActiveLoop(None, timestamp=t[8].timestamp()),
    ]


def completed_form(at: datetime, channel: str = "rest") -> list:
    """The page's own greeting, a topic question, then every field right the first time."""
    t = [at + timedelta(seconds=n) for n in range(10)]
    return [
        SessionStarted(timestamp=t[0].timestamp()),
        UserUttered("/greet", parse_data={"intent": {"name": "greet"}}, input_channel=channel,
                    timestamp=t[0].timestamp(), metadata={"hidden": True}),  # not counted
        said("解绑流程是什么", "faq_process", channel, t[0]),
        ActiveLoop("unbind_form", timestamp=t[1].timestamp()),
        slot("merchant_id", "123456789012346", t[2]),
        slot("unbind_reason", "店铺转让", t[3]),
        slot("serial_number", "SN00012345", t[4]),
        slot("contact_phone", "13812345678", t[5]),
        ActiveLoop(None, timestamp=t[6].timestamp()),
    ]
