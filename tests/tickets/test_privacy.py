"""Data retention and export (``python -m bot.privacy``) on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from rasa.shared.core.events import BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy import insert, select
from tickets_support import AUDIT_KEY, START, FakeClock, make_request, merchant

from bot.audit import AuditLog, ConsoleAudit, subject_hmac
from bot.db import REPO_ROOT, make_engine
from bot.privacy import purge, purge_conversations
from bot.stores import RedactingSQLTrackerStore
from bot.tickets import STEPS, TicketService
from bot.web.console.conversations import events

OLD = START - timedelta(days=200)
RECENT = START - timedelta(days=1)


@pytest.fixture
def tracker_url(db_url: str, tmp_path: Path) -> Iterator[str]:
    """A tracker store next to the ticket database (same PostgreSQL schema)."""
    if db_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'tracker.db'}"
        return
    engine = make_engine(db_url)
    events.metadata.create_all(engine)
    try:
        yield db_url
    finally:
        events.metadata.drop_all(engine)
        engine.dispose()


def add_conversation(url: str, sender: str, when: datetime, text: str = "怎么解绑") -> None:
    """Two events of ``sender`` at ``when``; through Rasa's own store on SQLite."""
    stamp = when.timestamp()
    if url.startswith("sqlite"):
        tracker = DialogueStateTracker.from_events(sender, [
            UserUttered(text, parse_data={"intent": {"name": "faq", "confidence": 1.0},
                                          "entities": [], "text": text},
                        input_channel="rest", timestamp=stamp),
            BotUttered("好的", timestamp=stamp + 1),
        ])
        asyncio.run(RedactingSQLTrackerStore(host=url).save(tracker))
        return
    engine = make_engine(url)
    with engine.begin() as conn:
        for kind, data in (("user", {"event": "user", "text": text}),
                           ("bot", {"event": "bot", "text": "好的"})):
            conn.execute(insert(events).values(
                sender_id=sender, type_name=kind, timestamp=stamp, data=json.dumps(data)))
    engine.dispose()


def senders(url: str) -> set[str]:
    engine = make_engine(url)
    with engine.connect() as conn:
        found = set(conn.execute(select(events.c.sender_id)).scalars())
    engine.dispose()
    return found


def test_purge_deletes_old_conversations_and_blanks_old_closed_tickets(
    db_url: str, tracker_url: str
) -> None:
    add_conversation(tracker_url, "old-conv", OLD)
    add_conversation(tracker_url, "recent-conv", RECENT)
    clock = FakeClock(OLD)
    service = TicketService(make_engine(db_url), clock=clock)
    old_closed = service.open_ticket(make_request(merchant(1), "old-conv")).ticket
    service.advance_step(old_closed.ticket_no, STEPS[0], "进行中", "客户电话13812345678")
    service.cancel_ticket(old_closed.ticket_no)
    old_open = service.open_ticket(make_request(merchant(2), "old-open")).ticket
    clock.now = RECENT
    recent_closed = service.open_ticket(make_request(merchant(3), "recent-conv")).ticket
    service.cancel_ticket(recent_closed.ticket_no)
    tracker = make_engine(tracker_url)

    result = purge(service, tracker, days=180, now=START)

    assert result["conversations_deleted"] == 1 and result["tickets_anonymised"] == 1
    assert senders(tracker_url) == {"recent-conv"}
    blanked = service.get_ticket(old_closed.ticket_no)
    assert blanked.merchant_id == "849581******001"
    assert (blanked.contact_phone, blanked.reason_detail, blanked.serial_number,
            blanked.sender_id) == ("", "", "", "")
    assert blanked.status == "cancelled"
    notes = [e.note for e in service.history(old_closed.ticket_no)]
    assert not any("13812345678" in n for n in notes) and "个人信息已按保留期限清除" in notes
    assert service.get_ticket(old_open.ticket_no) == old_open  # open tickets are kept
    assert service.get_ticket(recent_closed.ticket_no).contact_phone == "13812345678"
    # A second run finds nothing left to do.
    again = purge(service, tracker, days=180, now=START)
    assert again["conversations_deleted"] == again["tickets_anonymised"] == 0
    service.dispose()
    tracker.dispose()


def test_purge_without_a_tracker_table_is_harmless(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    assert purge_conversations(engine, datetime.now(timezone.utc)) == (0, 0)


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.privacy", *args], cwd=REPO_ROOT,
        env={**os.environ, "PYTHONIOENCODING": "utf-8", **env},
        capture_output=True, text=True, encoding="utf-8", timeout=120,
    )


def test_export_prints_the_merchants_data_and_is_audited(db_url: str, tracker_url: str) -> None:
    service = TicketService(make_engine(db_url))
    mine = service.open_ticket(make_request(merchant(7), "conv-7")).ticket
    service.open_ticket(make_request(merchant(8), "conv-8"))
    service.dispose()
    add_conversation(tracker_url, "conv-7", datetime.now(timezone.utc), "我要解绑")
    add_conversation(tracker_url, "conv-8", datetime.now(timezone.utc), "别人的对话")
    # Documented scope: only conversations a ticket was opened from, not every one that
    # happens to mention the number.
    add_conversation(tracker_url, "conv-9", datetime.now(timezone.utc), f"商户号{merchant(7)}")
    env = {"DATABASE_URL": db_url, "TRACKER_STORE_URL": tracker_url}

    done = cli(env, "export", f"８４９ ５８１ ０５８ １{merchant(7)[-5:]}".replace(" ", ""),
               "--actor", "privacy-officer")

    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["merchant_id"] == merchant(7)
    (ticket,) = data["tickets"]
    assert ticket["ticket_no"] == mine.ticket_no and ticket["contact_phone"] == "13812345678"
    assert len(ticket["steps"]) == len(STEPS) and ticket["history"]
    assert list(data["conversations"]) == ["conv-7"]
    assert [t["text"] for t in data["conversations"]["conv-7"]] == ["我要解绑", "好的"]
    engine = make_engine(db_url)
    rows = [r for r in AuditLog(engine).recent() if r.action == "privacy.export"]
    engine.dispose()
    assert len(rows) == 1
    assert rows[0].agent == "cli:privacy-officer"
    assert rows[0].params == {"merchant": "849581******007"} and rows[0].result_count == 1
    assert rows[0].subject_hmac == subject_hmac(AUDIT_KEY.encode(), "merchant", merchant(7))


def test_export_refuses_a_malformed_merchant_number(db_url: str, tracker_url: str) -> None:
    done = cli({"DATABASE_URL": db_url, "TRACKER_STORE_URL": tracker_url},
               "export", "12345' OR '1'='1")
    assert done.returncode == 2 and "商户号" in done.stderr
    engine = make_engine(db_url)
    with engine.connect() as conn:
        assert conn.execute(select(ConsoleAudit)).first() is None
    engine.dispose()


def test_purge_cli_takes_retention_days_from_the_environment(
    db_url: str, tracker_url: str
) -> None:
    add_conversation(tracker_url, "two-days-old", datetime.now(timezone.utc) - timedelta(days=2))
    env = {"DATABASE_URL": db_url, "TRACKER_STORE_URL": tracker_url, "RETENTION_DAYS": "30"}
    kept = cli(env, "purge")
    assert kept.returncode == 0, kept.stderr
    assert json.loads(kept.stdout)["retention_days"] == 30
    assert senders(tracker_url) == {"two-days-old"}
    purged = cli(env, "purge", "--days", "1")
    assert json.loads(purged.stdout)["conversations_deleted"] == 1
    assert senders(tracker_url) == set()
    assert cli({**env, "RETENTION_DAYS": "-5"}, "purge").returncode == 2


def test_the_purge_runs_daily_in_kubernetes(monkeypatch: pytest.MonkeyPatch) -> None:
    """deploy/k8s schedules ``python -m bot.privacy purge`` with the app's settings."""
    from bot.ops import k8s
    from bot.privacy import retention_days

    docs = [doc for _, doc in k8s.documents()]
    (job,) = [d for d in docs if d["kind"] == "CronJob"
              and d["metadata"]["name"] == "jiebang-privacy-purge"]
    assert k8s.validate(job) == []
    minute, hour, *every = job["spec"]["schedule"].split()
    assert minute.isdigit() and hour.isdigit() and every == ["*", "*", "*"]  # once a day
    assert job["spec"]["concurrencyPolicy"] == "Forbid"  # never two purges at once
    pod = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["command"] == ["python", "-m", "bot.privacy", "purge"]
    assert pod["restartPolicy"] == "OnFailure"  # exit 3 (database down) is retried
    images = {c["image"] for d in docs if d["kind"] == "Deployment"
              for c in d["spec"]["template"]["spec"]["containers"]}
    assert images == {container["image"]}
    sources = {next(iter(ref.values()))["name"] for ref in container["envFrom"]}
    assert sources == {"jiebang-config", "jiebang-secrets"}
    (config,) = [d for d in docs if d["kind"] == "ConfigMap"]
    (secret,) = [d for d in docs if d["kind"] == "Secret"]
    assert {"DATABASE_URL", "TRACKER_STORE_URL"} <= set(secret["stringData"])
    monkeypatch.setenv("RETENTION_DAYS", config["data"]["RETENTION_DAYS"])
    assert retention_days() == 180
