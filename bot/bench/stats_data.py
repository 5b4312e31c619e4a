"""Generated traffic for the 统计 page bench: ``n`` conversations over ``days`` days.

Rows are written as Rasa's SQL tracker store writes them (``events``: the event's JSON in
``data``, its slot or action name in ``action_name``, its intent in ``intent_name``) and
into the migrated ticket database (tickets with their step history, fallback candidates,
answer ratings). The mix is fixed by a seed: about 2.5 messages per conversation, 12% of
them not understood, a quarter of the conversations start the unbind form (some give up
or mistype a field), 8% ask for a person, 10% end in a ticket at some step.
"""

from __future__ import annotations

import io
import json
import random
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import insert
from sqlalchemy.engine import Engine

from bot.analytics import summary
from bot.analytics.feedback import AnswerFeedback
from bot.analytics.summary import FIELDS
from bot.learning.candidates import Candidate
from bot.tickets.models import STEPS, Ticket, TicketEvent, TicketStep
from bot.web.console.conversations import events

CHANNELS = ("rest",) * 6 + ("socketio", "wechat", "wechat", "wecom")
TOPICS = ("faq_materials", "faq_process", "faq_audit", "faq_funds", "faq_rebind",
          "faq_step_review", "faq_contact_support", "faq_preparation")
UNANSWERED = ("你们几点下班", "发票怎么开", "押金什么时候退", "能不能上门办理", "费率是多少",
              "流量卡怎么停", "扫码枪也要解绑吗", "换了手机号怎么办", "营业执照过期了",
              "可以代办吗", "法人不在本地", "机器丢了怎么办")
COLUMNS = ("sender_id", "type_name", "timestamp", "intent_name", "action_name", "data")
CHUNK = 20_000


def _event(sender: str, kind: str, ts: float, intent: str | None = None,
           action: str | None = None, **data: Any) -> tuple:
    body = {"event": kind, "timestamp": ts, **data}
    return (sender, kind, ts, intent, action, json.dumps(body, ensure_ascii=False))


def conversation(rng: random.Random, i: int, start: float) -> Iterator[tuple]:
    """The tracker rows of conversation ``i`` starting at ``start`` (Unix time)."""
    sender, channel, ts = f"bench-{i:07d}", rng.choice(CHANNELS), start
    yield _event(sender, "session_started", ts)
    yield _event(sender, "action", ts, action="action_listen", name="action_listen")
    for _ in range(rng.choice((1, 2, 2, 3, 3, 4))):
        ts += rng.uniform(5, 60)
        roll = rng.random()
        intent = ("nlu_fallback" if roll < 0.12 else rng.choice(TOPICS) if roll < 0.8
                  else rng.choice(("greet", "thank", "check_status")))
        text = rng.choice(UNANSWERED) if intent == "nlu_fallback" else "要带什么证件"
        yield _event(sender, "user", ts, intent=intent, text=text, input_channel=channel,
                     parse_data={"intent": {"name": intent, "confidence": 0.9}})
        yield _event(sender, "action", ts + 0.1, action="action_answer_topic",
                     name="action_answer_topic")
        yield _event(sender, "bot", ts + 0.2, text="……", data={})
    if rng.random() < 0.25:
        yield from _form(rng, sender, ts + 1)
    if rng.random() < 0.08:
        yield _event(sender, "action", ts + 2, action="action_human_handoff",
                     name="action_human_handoff")


def _form(rng: random.Random, sender: str, ts: float) -> Iterator[tuple]:
    yield _event(sender, "active_loop", ts, action="unbind_form", name="unbind_form")
    attempts: dict[str, int] = {}
    for field_name in FIELDS:
        ts += rng.uniform(5, 40)
        while rng.random() < 0.15 and attempts.get(field_name, 0) < 2:
            attempts[field_name] = attempts.get(field_name, 0) + 1
            yield _event(sender, "slot", ts, action=field_name, name=field_name, value=None)
            yield _event(sender, "slot", ts, action="failed_attempts", name="failed_attempts",
                         value=dict(attempts))
            ts += 10
        if rng.random() < 0.1:
            return  # gave up
        yield _event(sender, "slot", ts, action=field_name, name=field_name, value="x")
        if attempts.pop(field_name, 0):
            yield _event(sender, "slot", ts, action="failed_attempts", name="failed_attempts",
                         value=dict(attempts))
    yield _event(sender, "active_loop", ts + 1, action=None, name=None)


def _copy(engine: Engine, rows: list[tuple]) -> None:
    """PostgreSQL's COPY: a million rows in seconds, not minutes."""
    buffer = io.StringIO()
    for row in rows:
        buffer.write("\t".join(r"\N" if v is None else str(v).replace("\\", "\\\\")
                               .replace("\t", " ").replace("\n", " ") for v in row) + "\n")
    buffer.seek(0)
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cursor:
            cursor.copy_expert(f"COPY events ({', '.join(COLUMNS)}) FROM STDIN", buffer)
        raw.commit()
    finally:
        raw.close()


def write_events(engine: Engine, n: int, days: int, now: float, seed: int = 15) -> int:
    """``n`` conversations in the last ``days`` days into ``events``, and their counters
    as the tracker store keeps them (``bot.analytics.summary``); returns the event rows."""
    rng = random.Random(seed)
    events.metadata.create_all(engine)
    summary.create(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE INDEX IF NOT EXISTS ix_events_sender_id ON events (sender_id)")
    total, batch, changes = 0, [], []
    for i in range(n):
        rows = list(conversation(rng, i, now - rng.uniform(600, days * 86400)))
        batch.extend(rows)
        changes.append((rows[0][0], summary.summarise(
            dict(zip(COLUMNS, r, strict=True)) for r in rows)[0]))
        if len(batch) >= CHUNK or i == n - 1:
            if engine.dialect.name == "postgresql":
                _copy(engine, batch)
            else:
                with engine.begin() as conn:
                    conn.execute(insert(events), [dict(zip(COLUMNS, r, strict=True))
                                                  for r in batch])
            with engine.begin() as conn:
                summary.apply(conn, changes)
            total += len(batch)
            batch, changes = [], []
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    return total


def write_tickets(engine: Engine, n: int, days: int, now: datetime, seed: int = 15) -> dict:
    """Tickets (10% of ``n``) with their steps and history, fallback candidates and
    ratings into a migrated ticket database; returns row counts per table."""
    rng = random.Random(seed)
    tickets, steps, history, candidates, ratings = [], [], [], [], []
    for i in range(n // 10):
        created = now - timedelta(seconds=rng.uniform(3600, days * 86400))
        done = rng.randint(0, len(STEPS))
        tickets.append({
            "id": i + 1, "ticket_no": f"UB-{created:%Y%m%d}-{i:06d}",
            "merchant_id": str(849000000000000 + i), "reason_category": "更换设备",
            "reason_detail": "", "serial_number": "SN00012345", "contact_phone": "13812345678",
            "channel": rng.choice(CHANNELS), "sender_id": f"bench-{i:07d}",
            "status": "completed" if done == len(STEPS) else "open",
            "created_at": created, "updated_at": created,
        })
        at = created
        for position, name in enumerate(STEPS, 1):
            finished = position <= done and (at + timedelta(hours=48)) < now
            if finished:
                at += timedelta(hours=rng.uniform(0.2, 48))
                history.append({"ticket_id": i + 1, "step": name, "old_status": "待处理",
                                "new_status": "已完成", "note": "", "actor": "bench",
                                "created_at": at})
            steps.append({"ticket_id": i + 1, "position": position, "name": name,
                          "status": "已完成" if finished else "待处理", "note": "",
                          "updated_at": at})
    for i in range(n * 3 // 10):
        candidates.append({
            "created_at": now - timedelta(seconds=rng.uniform(600, days * 86400)),
            "sender_id": f"bench-{i:07d}", "channel": rng.choice(CHANNELS),
            "text": rng.choice(UNANSWERED) + rng.choice(("", "？", "呢", "啊")),
            "reason": "fallback", "intent": "nlu_fallback", "confidence": 0.2, "status": "open",
        })
    for i in range(n // 5):
        ratings.append({
            "created_at": now - timedelta(seconds=rng.uniform(600, days * 86400)),
            "sender_id": f"bench-{i:07d}", "message_ts": float(i), "channel": rng.choice(CHANNELS),
            "topic": rng.choice(TOPICS), "rating": 1 if rng.random() < 0.8 else -1,
        })
    written = {}
    for model, rows in ((Ticket, tickets), (TicketStep, steps), (TicketEvent, history),
                        (Candidate, candidates), (AnswerFeedback, ratings)):
        for start in range(0, len(rows), CHUNK):
            with engine.begin() as conn:
                conn.execute(insert(model), rows[start:start + CHUNK])
        written[model.__tablename__] = len(rows)
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    return written


def utc_now() -> datetime:
    return datetime.now(timezone.utc)
