"""The SQL tracker store writes exactly what Rasa's own store writes, minus the secrets."""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
from pathlib import Path

import pytest
from rasa.core.brokers.broker import EventBroker
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
    """As Rasa logs it: the action's event, stamped after the ``SessionStarted`` it returned."""
    started = SessionStarted(timestamp=next(clock))
    tracker.update(ActionExecuted("action_session_start", timestamp=next(clock)))
    tracker.update(started)
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


def _dicts(tracker: DialogueStateTracker | None) -> list[dict]:
    return [event.as_dict() for event in tracker.events] if tracker else []


def _fresh_view(db: Path, domain: Domain) -> DialogueStateTracker | None:
    """The tracker as a new process would load it (no cache)."""
    store = RedactingSQLTrackerStore(domain, host=f"sqlite:///{db}", cache_size=0)
    return asyncio.run(store.retrieve("m1"))


def test_a_kept_tracker_is_exactly_what_the_database_would_load(
    tmp_path: Path, domain: Domain
) -> None:
    db = tmp_path / "t.db"
    store = RedactingSQLTrackerStore(domain, host=f"sqlite:///{db}")
    clock = itertools.count(1_800_000_000)
    reused = 0
    for n, text in enumerate(("你好", "SN12345678", "我的密码是 Zx998877", "13812345678", "好的")):
        saved_before = store.cache.take("m1", _newest_id(db))
        tracker = asyncio.run(store.retrieve("m1")) or DialogueStateTracker("m1", domain.slots)
        reused += tracker is saved_before is not None
        assert _dicts(tracker) == _dicts(_fresh_view(db, domain)) or n == 0
        if n in (0, 3):
            _session_start(tracker, clock)
        _turn(tracker, text, clock)
        asyncio.run(store.save(tracker))
    assert reused == 2  # plain turns reuse the tracker...
    final = asyncio.run(store.retrieve("m1"))
    assert _dicts(final) == _dicts(_fresh_view(db, domain))
    assert "Zx998877" not in str(_dicts(final))  # ...a redacted turn is reloaded


def _newest_id(db: Path) -> int | None:
    if not db.exists():
        return None
    with sqlite3.connect(db) as conn:
        return conn.execute("select max(id) from events where sender_id = 'm1'").fetchone()[0]


def test_another_process_writing_or_a_failed_turn_makes_the_store_reload(
    tmp_path: Path, domain: Domain
) -> None:
    db = tmp_path / "t.db"
    url = f"sqlite:///{db}"
    ours, other = RedactingSQLTrackerStore(domain, host=url), RedactingSQLTrackerStore(
        domain, host=url
    )
    clock = itertools.count(1_800_000_000)
    tracker = DialogueStateTracker("m1", domain.slots)
    _session_start(tracker, clock)
    _turn(tracker, "你好", clock)
    asyncio.run(ours.save(tracker))

    theirs = asyncio.run(other.retrieve("m1"))  # e.g. a second Sanic worker
    _turn(theirs, "SN12345678", clock)
    asyncio.run(other.save(theirs))
    mine = asyncio.run(ours.retrieve("m1"))
    assert mine is not tracker
    assert _dicts(mine) == _dicts(_fresh_view(db, domain))
    assert mine.latest_message.text == "SN12345678"

    _turn(mine, "这一轮没有保存", clock)  # the turn fails before its save
    again = asyncio.run(ours.retrieve("m1"))
    assert again.latest_message.text == "SN12345678"
    assert _dicts(again) == _dicts(_fresh_view(db, domain))


def test_trackers_it_did_not_hand_out_store_only_their_new_events(
    tmp_path: Path, domain: Domain
) -> None:
    """A new sender's tracker stores every event; another process's tracker of a known
    sender only those after the stored ones, as Rasa's count decides."""
    ours_db, rasa_db = tmp_path / "ours.db", tmp_path / "rasa.db"
    for store_of, db in ((lambda url: RedactingSQLTrackerStore(domain, host=url), ours_db),
                         (lambda url: SQLTrackerStore(domain, dialect="sqlite", db=url), rasa_db)):
        url = f"sqlite:///{db}" if db == ours_db else str(db)
        first, second = store_of(url), store_of(url)
        clock = itertools.count(1_800_000_000)
        for sender in ("m1", "m2"):
            tracker = asyncio.run(first.get_or_create_tracker(sender))  # saved as it is
            _session_start(tracker, clock)
            _turn(tracker, "你好", clock)
            asyncio.run(first.save(tracker))
        theirs = asyncio.run(second.retrieve("m1"))
        _turn(theirs, "SN12345678", clock)
        asyncio.run(first.save(theirs))  # not handed out by ``first``
    ours_rows, rasa_rows = _rows(ours_db), _rows(rasa_db)
    assert len(ours_rows) == 2 * (1 + 3 + 5) + 5
    assert [r[:2] + r[3:5] for r in ours_rows] == [r[:2] + r[3:5] for r in rasa_rows]
    stamped = [[r[2] for r in rows if r[2] >= 1_800_000_000] for rows in (ours_rows, rasa_rows)]
    assert stamped[0] == stamped[1]  # (the listen a new tracker starts with has the time)


class _Broker(EventBroker):
    """Collects what the store publishes (a stand-in for Kafka or RabbitMQ)."""

    def __init__(self) -> None:
        self.published: list[dict] = []

    def publish(self, event: dict) -> None:
        self.published.append(event)


def test_an_event_broker_is_only_given_redacted_events(tmp_path: Path, domain: Domain) -> None:
    broker = _Broker()
    store = RedactingSQLTrackerStore(domain, host=f"sqlite:///{tmp_path / 't.db'}")
    store.event_broker = broker
    clock = itertools.count(1_800_000_000)
    tracker = DialogueStateTracker("m1", domain.slots)
    _session_start(tracker, clock)
    _turn(tracker, "我的密码是 Zx998877", clock)
    asyncio.run(store.save(tracker))
    assert len(broker.published) == len(tracker.events)
    assert "密码" in str(broker.published) and "Zx998877" not in str(broker.published)


def test_nothing_is_read_after_the_commit(tmp_path: Path, domain: Domain, monkeypatch) -> None:
    """A connection lost right after the commit must not report a stored turn as failed."""
    store = RedactingSQLTrackerStore(domain, host=f"sqlite:///{tmp_path / 't.db'}")
    committed: list[bool] = []
    real_newest = store._newest_event_id

    def newest(session, sender_id):  # type: ignore[no-untyped-def]
        # (a new sender's save also reads it first, to know that nothing is stored yet)
        assert not committed, "read after the commit"
        return real_newest(session, sender_id)

    real_scope = store.session_scope

    def scope():  # type: ignore[no-untyped-def]
        manager = real_scope()
        session = manager.__enter__()
        real_commit = session.commit

        def commit() -> None:
            real_commit()
            committed.append(True)

        monkeypatch.setattr(session, "commit", commit)

        class Scope:
            def __enter__(self):  # type: ignore[no-untyped-def]
                return session

            def __exit__(self, *exc):  # type: ignore[no-untyped-def]
                return manager.__exit__(*exc)

        return Scope()

    monkeypatch.setattr(store, "_newest_event_id", newest)
    monkeypatch.setattr(store, "session_scope", scope)
    tracker = DialogueStateTracker("m1", domain.slots)
    _turn(tracker, "你好", itertools.count(1_800_000_000))
    asyncio.run(store.save(tracker))
    assert committed == [True]


def test_a_sender_with_no_stored_event_is_none_without_rasas_query(
    tmp_path: Path, domain: Domain, monkeypatch: pytest.MonkeyPatch,
) -> None:
    db = tmp_path / "t.db"
    ours = RedactingSQLTrackerStore(domain, host=f"sqlite:///{db}")
    rasa = SQLTrackerStore(domain, dialect="sqlite", db=str(db))
    asyncio.run(_conversation(ours, domain))  # "m1" has events, "new" has none
    queries: list[str] = []
    real = SQLTrackerStore._retrieve

    async def counted(self, sender_id, fetch_events_from_all_sessions):  # type: ignore[no-untyped-def]
        queries.append(sender_id)
        return await real(self, sender_id, fetch_events_from_all_sessions)

    monkeypatch.setattr(SQLTrackerStore, "_retrieve", counted)
    assert asyncio.run(rasa.retrieve("new")) is None
    assert asyncio.run(ours.retrieve("new")) is None
    assert queries == ["new"]  # Rasa's own store only
    ours.cache.check_out("m1", None)  # not kept: ours must load it as Rasa does
    assert _dicts(asyncio.run(ours.retrieve("m1"))) == _dicts(asyncio.run(rasa.retrieve("m1")))
    assert queries == ["new", "m1", "m1"]
