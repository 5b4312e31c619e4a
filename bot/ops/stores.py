"""The production tracker store: PostgreSQL only, exactly the configured database.

``ProdTrackerStore`` is ``bot.stores.RedactingSQLTrackerStore`` (secrets redacted,
failures visible to the channels) plus:

- a URL that names no database, a database that does not exist, ``login_db`` or a
  non-PostgreSQL URL stop the replica at start with a clear error instead of Rasa's
  endless 5 s retry loop or a silent ``rasa.db`` (see ``bot.ops.databases``);
- ``pool_pre_ping``, so connections cut by a PostgreSQL restart are replaced before
  use instead of failing the next turn;
- a save after a failed retrieve in the same turn is refused: Rasa's fail-safe wrapper
  would otherwise hand the channel a fresh tracker and this save would write it on
  top of the stored history;
- what the turn ended in (intent, fallback) for the per-turn metrics and log line
  written by ``bot.ops.channels``.
"""

from __future__ import annotations

import logging
import os
from contextvars import ContextVar
from typing import Any

import sqlalchemy as sa
from rasa.core.tracker_store import create_engine_kwargs
from rasa.shared.core.events import ActionExecuted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy.engine import make_url

from bot.ops.databases import DatabaseMisconfigured, check_database
from bot.ops.settings import database_name
from bot.stores import RedactingSQLTrackerStore, store_failure

logger = logging.getLogger(__name__)
FALLBACK_ACTIONS = {"action_default_fallback", "utter_default", "action_two_stage_fallback"}
FALLBACK_INTENTS = {"nlu_fallback"}

turn_info: ContextVar[dict[str, Any] | None] = ContextVar("turn_info", default=None)


class ProdTrackerStore(RedactingSQLTrackerStore):
    """Redacting SQL tracker store for replicas sharing one PostgreSQL database."""

    def __init__(self, domain: Any = None, host: str | None = None, **kwargs: Any) -> None:
        if kwargs.get("login_db"):
            raise DatabaseMisconfigured(
                "login_db is not allowed: it makes Rasa create and use another database"
            )
        url = (host or os.environ.get("TRACKER_STORE_URL") or "").strip()
        if not url:
            raise DatabaseMisconfigured("TRACKER_STORE_URL (or DATABASE_URL) is not set")
        parsed = make_url(url)
        if parsed.get_backend_name() != "postgresql" and os.environ.get(
            "PROD_ALLOW_SQLITE"
        ) != "1":
            raise DatabaseMisconfigured(
                f"the production tracker store must be PostgreSQL, not {parsed.drivername}"
            )
        database_name(url)
        check_database(url, wait=float(os.environ.get("DATABASE_WAIT_SECONDS", "30")))
        super().__init__(domain=domain, host=url, **kwargs)
        engine_url = self.engine.url
        self.engine.dispose()
        engine_kwargs = create_engine_kwargs(engine_url)
        if parsed.get_backend_name() == "postgresql":
            engine_kwargs.setdefault("connect_args", {})["connect_timeout"] = 5
        self.engine = sa.create_engine(engine_url, pool_pre_ping=True, **engine_kwargs)
        self.sessionmaker = sa.orm.session.sessionmaker(bind=self.engine)
        logger.info("tracker store on database %s", parsed.database)

    async def save(self, tracker: DialogueStateTracker) -> None:
        if store_failure() is not None:
            raise RuntimeError("retrieve failed in this turn; refusing to overwrite history")
        info = turn_info.get()
        if info is not None:
            info.update(summarise_turn(tracker))
        await super().save(tracker)


def summarise_turn(tracker: DialogueStateTracker) -> dict[str, Any]:
    """Intent of the latest user message and whether the turn fell back."""
    intent = (tracker.latest_message.intent or {}).get("name") if tracker.latest_message else None
    fallback = intent in FALLBACK_INTENTS
    for event in reversed(tracker.events):
        if isinstance(event, UserUttered):
            break
        if isinstance(event, ActionExecuted) and event.action_name in FALLBACK_ACTIONS:
            fallback = True
    return {"intent": intent, "fallback": fallback}
