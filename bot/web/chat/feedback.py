"""👍/👎 on the bot's answers in the web chat (``POST /chat/feedback``).

The page sends its session id, the answer's text as shown and the rating. The answer is
found in the conversation's tracker (read from Rasa like the history): the newest bot
message with that text. Its timestamp identifies the turn (a second click changes the
rating), the merchant's message before it gives the topic (its intent). A 👎 also keeps
that message as a candidate training message with reason ``feedback``, through the
same path the actions use (``bot.learning.candidates.record_candidate``), redacted there.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from bot.analytics.feedback import DOWN, UP, FeedbackStore
from bot.db import make_engine
from bot.learning.candidates import CandidateStore, record_candidate

RATINGS = {"up": UP, "down": DOWN}
MAX_TEXT = 4000


@dataclass(frozen=True)
class RatedTurn:
    """The answer rated and the merchant's message it answered."""

    answer_ts: float
    question: str
    intent: str | None
    confidence: float | None
    channel: str


def find_turn(tracker: dict[str, Any], text: str) -> RatedTurn | None:
    """The newest bot answer showing ``text`` (whole, or one of its parts split at blank
    lines, as the page shows them), with the user message before it; None if not found
    or if it was an agent's or a notice's message."""
    events = tracker.get("events") or []
    wanted = text.strip()
    for index in range(len(events) - 1, -1, -1):
        event = events[index]
        if event.get("event") != "bot" or (event.get("metadata") or {}).get("kind"):
            continue
        shown = (event.get("text") or "").strip()
        if wanted != shown and wanted not in shown.split("\n\n"):
            continue
        for before in reversed(events[:index]):
            if before.get("event") == "user":
                intent = ((before.get("parse_data") or {}).get("intent") or {})
                return RatedTurn(
                    float(event.get("timestamp") or 0), str(before.get("text") or ""),
                    intent.get("name"), intent.get("confidence"),
                    str(before.get("input_channel") or "socketio"),
                )
        return RatedTurn(float(event.get("timestamp") or 0), "", None, None, "socketio")
    return None


@functools.lru_cache(maxsize=1)
def default_store() -> FeedbackStore:
    """The feedback table on ``DATABASE_URL`` (SQLite under var/ by default)."""
    return FeedbackStore(make_engine())


def keep_rating(session_id: str, turn: RatedTurn, rating: int,
                store: FeedbackStore | None = None) -> bool:
    """Store the rating; a new or changed 👎 also records the candidate (same database)."""
    store = store or default_store()
    changed = store.rate(session_id, turn.answer_ts, rating, turn.intent, turn.channel)
    if changed and rating == DOWN and turn.question:
        record_candidate(session_id, turn.question, "feedback", turn.intent,
                         turn.confidence, turn.channel, store=CandidateStore(store.engine))
    return changed
