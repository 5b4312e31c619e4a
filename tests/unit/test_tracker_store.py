"""The SQL tracker store writes exactly what Rasa's own store writes, minus the secrets."""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
from pathlib import Path

import pytest
from rasa.core.tracker_store import SQLTrackerStore, TrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    BotUttered,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker

from bot.paths import ROOT
from bot.stores import RedactingSQLTrackerStore

TEXTS = ("SN12345678", "我的密码是 Zx998877", "13812345678", "你好")


@pytest.fixture(scope="module")
def domain() -> Domain:
    return Domain.load(str(ROOT / "domain.yml"))


def _turn(tracker: DialogueStateTracker, text: str, clock: itertools.count) -> None:
    parse = {"text": text, "intent": {"name": "inform", "confidence": 0.9}, "entities": []}
    tracker.update(UserUttered(text, parse["intent"], [], parse_data=parse,
                               timestamp=next(clock)))
    tracker.update(ActionExecuted("unbind_form", timestamp=next(clock)))
    tracker.update(SlotSet("serial_number", "SN12345678", timestamp=next(clock)))
    tracker.update(BotUttered(f"收到：{text}", timestamp=next(clock)))
    tracker.update(ActionExecuted("action_listen", timestamp=next(clock)))


def _session_start(tracker: DialogueStateTracker, clock: itertools.count) -> None:
    tracker.update(ActionExecuted("action_session_start", timestamp=next(clock)))
    tracker.update(SessionStarted(timestamp=next(clock)))
    tracker.update(ActionExecuted("action_listen", timestamp=next(clock)))


async def _conversation(store: TrackerStore, domain: Domain) -> DialogueStateTracker:
    """Four turns, one retrieve and one save each, a new session before the last."""
    clock = itertools.count(1_800_000_000)
    for n, text in enumerate(TEXTS):
        tracker = await store.retrieve("m1") or DialogueStateTracker("m1", domain.slots)
        if n in (0, len(TEXTS) - 1):
            _session_start(tracker, clock)
        _turn(tracker, text, clock)
        await store.save(tracker)
    return await store.retrieve("m1")


def _rows(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "select sender_id, type_name, timestamp, intent_name, action_name, data "
            "from events order by id"
        ).fetchall()


def test_rows_match_rasas_store_except_for_the_secret(tmp_path: Path, domain: Domain) -> None:
    ours_db, rasa_db = tmp_path / "ours.db", tmp_path / "rasa.db"
    ours = RedactingSQLTrackerStore(domain, host=f"sqlite:///{ours_db}")
    rasa = SQLTrackerStore(domain, dialect="sqlite", db=str(rasa_db))
    ours_view = asyncio.run(_conversation(ours, domain))
    rasa_view = asyncio.run(_conversation(rasa, domain))

    ours_rows, rasa_rows = _rows(ours_db), _rows(rasa_db)
    assert len(ours_rows) == 3 + 5 * 4 + 3
    assert [r[:5] for r in ours_rows] == [r[:5] for r in rasa_rows]
    differing = [(a[5], b[5]) for a, b in zip(ours_rows, rasa_rows, strict=True) if a != b]
    assert differing and all("Zx998877" in b and "Zx998877" not in a for a, b in differing)
    assert "13812345678" in "".join(r[5] for r in ours_rows)
    assert [e.type_name for e in ours_view.events] == [e.type_name for e in rasa_view.events]
    assert ours_view.latest_message.text == "你好"
    with sqlite3.connect(ours_db) as conn:
        assert conn.execute("pragma journal_mode").fetchone()[0] == "wal"
