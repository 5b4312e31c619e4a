"""Send each message of a set to a running bot and read back what it answered.

Each message opens a conversation of its own (a new sender id) through the REST webhook,
so it goes through the bot's real channel, NLU, rules and actions; what the bot answered
is then read from the tracker (Rasa's HTTP API), not from the reply's wording. The time
of each turn is the webhook call alone.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import requests

from bot.evaluation.answered import turn_answers
from bot.evaluation.message_set import Case
from bot.evaluation.scoring import Outcome, judge


@dataclass(frozen=True)
class Parsed:
    """What the NLU made of a message (from the tracker's user event)."""

    intent: str
    ranking: tuple[dict[str, Any], ...]
    entities: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    parsed: Parsed


class BotUnavailable(RuntimeError):
    """The bot did not answer a message (a failed turn makes the figures meaningless)."""


def ask(
    session: requests.Session, rasa_url: str, case: Case, prefix: str,
    allowed_facts: Iterable[str] = (),
) -> Result:
    """One case through the REST webhook; its outcome and the parse behind it."""
    sender = f"{prefix}-{uuid.uuid4().hex[:12]}"
    started = time.perf_counter()
    reply = session.post(f"{rasa_url}/webhooks/rest/webhook",
                         json={"sender": sender, "message": case.text}, timeout=60)
    seconds = time.perf_counter() - started
    if reply.status_code != 200 or not reply.json():
        raise BotUnavailable(f"{reply.status_code} for a message of {prefix}")
    tracker = session.get(f"{rasa_url}/conversations/{sender}/tracker", timeout=60)
    tracker.raise_for_status()
    events = tracker.json().get("events") or []
    user = next((e for e in reversed(events) if e.get("event") == "user"), {})
    data = user.get("parse_data") or {}
    parsed = Parsed(
        intent=str((data.get("intent") or {}).get("name") or ""),
        ranking=tuple(data.get("intent_ranking") or ()),
        entities=tuple(data.get("entities") or ()),
    )
    return Result(judge(case, turn_answers(events), seconds, allowed_facts), parsed)


def run_cases(
    rasa_url: str, cases: Sequence[Case], prefix: str,
    allowed_facts: Iterable[str] = (), progress: Callable[[int], None] | None = None,
) -> list[Result]:
    """Every case, one after another, over one kept-alive connection."""
    allowed = tuple(allowed_facts)
    results = []
    with requests.Session() as session:
        for number, case in enumerate(cases, start=1):
            results.append(ask(session, rasa_url.rstrip("/"), case, prefix, allowed))
            if progress:
                progress(number)
    return results
