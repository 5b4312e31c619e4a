"""Rasa tracker store that never persists a secret.

Every event is passed through ``bot.redaction`` before it is written, whatever channel
it came from: user texts, parse data, slot values and bot messages alike.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import Event
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy.engine import make_url

from bot.redaction import redact_text

DEFAULT_URL = "sqlite:///var/tracker.db"


def redact_value(value: Any) -> Any:
    """Redact every string inside a JSON-like value."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {key: redact_value(item) for key, item in value.items()}
    if isinstance(value, list):
        return [redact_value(item) for item in value]
    return value


def redact_event(event: Event) -> Event:
    """A copy of ``event`` with every secret hidden."""
    return Event.from_parameters(redact_value(event.as_dict()))


class RedactingSQLTrackerStore(SQLTrackerStore):
    """SQL tracker store configured by one URL, writing only redacted events.

    The endpoint's ``url`` (which Rasa passes as ``host``) is any SQLAlchemy URL, e.g.
    ``sqlite:///var/tracker.db`` or ``postgresql://user@host:5432/db``.
    """

    def __init__(self, domain: Any = None, host: str | None = None, **kwargs: Any) -> None:
        parsed = make_url(host or DEFAULT_URL)
        super().__init__(
            domain=domain,
            dialect=parsed.drivername,
            host=parsed.host,
            port=parsed.port,
            db=parsed.database or "rasa.db",
            username=parsed.username,
            password=parsed.password,
            login_db=kwargs.pop("login_db", None),
            query=dict(parsed.query),
            **kwargs,
        )

    def _additional_events(self, session: Any, tracker: DialogueStateTracker) -> Iterator:
        stored = self._event_query(
            session, tracker.sender_id, fetch_events_from_all_sessions=False
        ).count()
        new_events = itertools.islice(tracker.events, stored, len(tracker.events))
        return (redact_event(event) for event in new_events)
