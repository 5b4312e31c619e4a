"""rasa-sdk trackers and helpers shared by the action tests."""

from __future__ import annotations

from typing import Any

import yaml
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.paths import ROOT
from bot.tickets import OpenRequest

DOMAIN: dict[str, Any] = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
FILLED: dict[str, Any] = {
    "merchant_id": "849581058120003", "unbind_reason": "更换设备", "reason_detail": None,
    "serial_number": "SN8A2B3C4D5", "contact_phone": "13812345678",
}


def tracker(
    text: str,
    intent: str = "inform",
    slots: dict[str, Any] | None = None,
    entities: list[dict[str, Any]] | None = None,
    sender: str = "s1",
    active_loop: str | None = "unbind_form",
) -> Tracker:
    """A tracker whose latest event is the merchant's message ``text``."""
    latest = {
        "text": text,
        "intent": {"name": intent, "confidence": 0.9},
        "intent_ranking": [{"name": intent, "confidence": 0.9}],
        "entities": entities or [],
    }
    events = [{"event": "user", "text": text, "parse_data": latest}]
    return Tracker(
        sender, slots or {}, latest, events, False, None,
        {"name": active_loop} if active_loop else {}, "action_listen",
    )


def texts(dispatcher: CollectingDispatcher) -> str:
    """Every text the action sent, one per line."""
    return "\n".join(m.get("text") or "" for m in dispatcher.messages)


def buttons(dispatcher: CollectingDispatcher) -> list[tuple[str, str]]:
    """(title, payload) of every button the action sent."""
    return [(b["title"], b["payload"]) for m in dispatcher.messages for b in m["buttons"]]


def slot_events(events: list[dict[str, Any]]) -> dict[str, Any]:
    """The slots an action sets, by name."""
    return {e["name"]: e["value"] for e in events if e["event"] == "slot"}


def request(
    merchant: str = "849581058120003", sender: str = "s1", phone: str = "13812345678"
) -> OpenRequest:
    """A confirmed request as the bot would submit it."""
    return OpenRequest(merchant, "更换设备", "SN8A2B3C4D5", phone, "rest", sender)
