"""The candidates the actions keep.

A turn the bot was unsure of, a hand-off and a "没用" are kept as candidate training
messages (``bot.learning.candidates``); the merchant's text is redacted there.
"""

from __future__ import annotations

from rasa_sdk import Tracker

from bot.learning.candidates import record_candidate as store_candidate


def user_texts(tracker: Tracker) -> list[dict]:
    """The merchant's messages (user events), oldest first."""
    return [e for e in tracker.events if e.get("event") == "user"]


def record_candidate(tracker: Tracker, reason: str, previous: bool = False) -> None:
    """Keep the latest message (``previous``: the one before it, which the bot answered
    before the merchant asked for a person or said "没用") as a candidate."""
    users = user_texts(tracker)
    if previous and len(users) >= 2:
        event = users[-2]
    elif previous or not users:
        return
    else:
        event = users[-1]
    parsed = event.get("parse_data") or {}
    intent = parsed.get("intent") or {}
    store_candidate(
        tracker.sender_id, event.get("text") or "", reason, intent.get("name"),
        intent.get("confidence"), event.get("input_channel") or "unknown",
    )
