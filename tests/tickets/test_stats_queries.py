"""The 统计 page's SQL figures, on SQLite and PostgreSQL, from conversations stored by
the bot's tracker store and tickets moved through the ticket service."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

import pytest
from sqlalchemy import MetaData, Table, select, text
from sqlalchemy.engine import Engine
from stats_support import (
    DAY1,
    DAY2,
    completed_form,
    form_with_failures,
    handed_off,
    store_events,
)
from tickets_support import FakeClock

from bot.analytics import conversations, report, summary, tickets
from bot.analytics.feedback import DOWN, UP, AnswerFeedback, FeedbackStore
from bot.analytics.report import cell
from bot.analytics.sql import Filters
from bot.learning.candidates import CandidateStore
from bot.privacy import purge_conversations
from bot.tickets import TicketService
from bot.tickets.service import OpenRequest

RANGE = Filters(date(2026, 12, 1), date(2026, 12, 2))


@pytest.fixture
def stats_db(db_url: str, engine: Engine) -> Engine:
    """The ticket database, also holding the tracker store's ``events`` table."""
    store_events(db_url, "web-a", handed_off(DAY1))
    store_events(db_url, "wx-b", form_with_failures(DAY1 + timedelta(hours=1)))
    store_events(db_url, "web-c", completed_form(DAY2))
    yield engine
    with engine.begin() as conn:  # not ticket tables (the migration checks)
        for table in ("events", "conversation_days", "conversation_topics"):
            conn.execute(text(f"DROP TABLE {table}"))


def test_daily_figures_and_channel_filter(stats_db: Engine) -> None:
    days = conversations.daily(stats_db, RANGE)
    assert [(d.day, d.conversations, d.turns, d.fallbacks, d.handoffs) for d in days] == [
        (date(2026, 12, 1), 2, 9, 1, 1), (date(2026, 12, 2), 1, 1, 0, 0)]
    assert days[0].contained == 1
    web = conversations.daily(stats_db, Filters(RANGE.start, RANGE.end, "web"))
    assert [(d.conversations, d.turns, d.handoffs) for d in web] == [(1, 2, 1), (1, 1, 0)]
    wechat = conversations.daily(stats_db, Filters(RANGE.start, RANGE.start, "wechat"))
    assert [(d.conversations, d.handoffs) for d in wechat] == [(1, 0)]
    nothing = conversations.daily(stats_db, Filters(date(2026, 11, 1), date(2026, 11, 1)))
    assert [(d.conversations, d.turns) for d in nothing] == [(0, 0)]


def test_counters_kept_by_the_tracker_store_equal_a_rebuild_from_events(
    stats_db: Engine,
) -> None:
    def counters() -> list[tuple]:
        with stats_db.connect() as conn:
            return [tuple(r) for r in conn.execute(select(summary.days).order_by(
                summary.days.c.sender_id, summary.days.c.day))] + [
                tuple(r) for r in conn.execute(select(summary.topics).order_by(
                    summary.topics.c.sender_id, summary.topics.c.intent))]

    kept = counters()
    assert len(kept) == 3 + 6  # three merchant-days; their intents
    assert summary.rebuild(stats_db) == 3
    assert counters() == kept


def test_the_compiled_upsert_adds_up_as_sqlalchemys_statement(engine: Engine) -> None:
    """``summary.apply`` sends its upserts as SQL compiled once; the counters it leaves
    equal those of SQLAlchemy's own statement executed on a copy of both tables."""
    summary.create(engine)
    copies = MetaData()
    twins = {t.name: t.to_metadata(copies, name=f"{t.name}_twin")
             for t in (summary.days, summary.topics)}
    for twin in twins.values():
        twin.indexes.clear()  # their names are taken by the originals' indexes
    copies.create_all(engine)
    batches = []
    for n, (channel, turns, flag, intent) in enumerate([
        ("rest", 1, 0, "greet"), (None, 2, 1, "greet"), ("wechat", 0, 1, "ask_progress"),
        ("rest", 3, 0, "greet"), (None, 1, 1, None),
    ]):
        delta = summary.DayDelta(channel=channel)
        delta.counts.update(turns=turns, fallbacks=n % 2, handoff=flag, fail_merchant_id=n)
        if intent:
            delta.topics[intent] = turns + 1
        batches.append([("m1", {20000 + n % 2: delta}), (f"m{n}", {20000: delta})])
    for batch in batches:
        with engine.begin() as conn:
            summary.apply(conn, batch)
            for table, keys, add, either in (
                (summary.days, ("sender_id", "day"), summary.COUNTERS, summary.FLAGS),
                (summary.topics, ("sender_id", "day", "intent"), ("messages",), ()),
            ):
                twin = twins[table.name]
                rows = _delta_rows(table, batch)
                if rows:
                    conn.execute(summary.upsert_statement(
                        conn.dialect.name, twin, keys, add, either), rows)

    def contents(table: Table) -> list[tuple]:
        with engine.connect() as conn:
            return sorted(tuple(r) for r in conn.execute(select(table)))

    try:
        for table in (summary.days, summary.topics):
            assert contents(table) == contents(twins[table.name])
        turns = {(r[0], r[1]): r[3] for r in contents(summary.days)}
        assert turns["m1", 20001] == 2 + 3 and turns["m1", 20000] == 1 + 2 + 0 + 1
    finally:
        copies.drop_all(engine)
        with engine.begin() as conn:
            conn.execute(summary.days.delete())
            conn.execute(summary.topics.delete())


def _delta_rows(table: Table, batch: list) -> list[dict]:
    rows = []
    for sender, deltas in batch:
        for day, delta in deltas.items():
            if table is summary.days:
                rows.append({"sender_id": sender, "day": day, "channel": delta.channel,
                             **delta.counts})
            else:
                rows += [{"sender_id": sender, "day": day, "intent": intent,
                          "channel": delta.channel, "messages": n}
                         for intent, n in delta.topics.items()]
    return rows


def test_retention_unlinks_counters_and_ratings_but_keeps_the_figures(
    stats_db: Engine,
) -> None:
    before = conversations.daily(stats_db, RANGE)
    FeedbackStore(stats_db).rate("web-a", 1.5, UP, "faq_materials", "rest", at=DAY1)
    assert purge_conversations(stats_db, DAY2 + timedelta(days=1)) == (3, 35)
    assert FeedbackStore(stats_db).forget_before(DAY2) == 1
    assert conversations.daily(stats_db, RANGE) == before
    with stats_db.connect() as conn:
        senders = {r[0] for t in (summary.days, summary.topics, AnswerFeedback.__table__)
                   for r in conn.execute(select(t.c.sender_id))}
    assert len(senders) == 4 and all(s.startswith("purged-") for s in senders)


def test_top_topics_have_chinese_titles(stats_db: Engine) -> None:
    topics = conversations.top_topics(stats_db, RANGE)
    assert [(t.intent, t.messages, t.conversations) for t in topics] == [
        ("faq_materials", 2, 2), ("faq_process", 1, 1)]
    assert topics[0].title != "faq_materials" and any(ord(c) > 0x4E00 for c in topics[0].title)


def test_funnel_counts_drop_off_and_validation_failures(stats_db: Engine) -> None:
    steps = conversations.funnel(stats_db, RANGE, confirmed=1)
    assert [(s.key, s.reached, s.failures) for s in steps] == [
        ("started", 2, 0), ("merchant_id", 2, 1), ("unbind_reason", 2, 0),
        ("serial_number", 1, 3), ("contact_phone", 1, 0), ("confirmed", 1, 0)]
    wechat = conversations.funnel(stats_db, Filters(RANGE.start, RANGE.end, "wechat"), 0)
    assert [(s.reached, s.failures) for s in wechat] == [
        (1, 0), (1, 1), (1, 0), (0, 3), (0, 0), (0, 0)]


def _ticket(service: TicketService, merchant: str, sender: str, channel: str) -> str:
    request = OpenRequest(
        merchant_id=merchant, reason_category="更换设备", reason_detail="",
        serial_number="SN00012345", contact_phone="13812345678", channel=channel,
        sender_id=sender,
    )
    return service.open_ticket(request).ticket.ticket_no


def test_step_durations_and_waiting_tickets(engine: Engine) -> None:
    clock = FakeClock(DAY1)
    service = TicketService(engine, clock=clock)
    first = _ticket(service, "123456789012345", "web-a", "rest")
    second = _ticket(service, "123456789012346", "wx-b", "wechat")
    clock.advance(hours=1)
    service.advance_step(first, "资料审核", "已完成", "", "坐席")
    clock.advance(hours=2)
    service.advance_step(first, "账户冻结", "已完成", "", "坐席")
    service.advance_step(second, "资料审核", "已完成", "", "坐席")
    clock.advance(hours=1)
    service.advance_step(second, "账户冻结", "需补充材料", "缺营业执照", "坐席")
    steps = {s.step: s for s in tickets.step_durations(engine, RANGE)}
    assert (steps["资料审核"].completed, steps["资料审核"].median_seconds,
            steps["资料审核"].p90_seconds) == (2, 3600, 3 * 3600)
    assert (steps["账户冻结"].completed, steps["账户冻结"].median_seconds) == (1, 2 * 3600)
    assert steps["正式解绑"].completed == 0 and steps["正式解绑"].median_seconds is None
    web_only = {s.step: s.completed for s in tickets.step_durations(
        engine, Filters(RANGE.start, RANGE.end, "web"))}
    assert web_only["资料审核"] == 1
    later = tickets.step_durations(engine, Filters(date(2026, 12, 5), date(2026, 12, 6)))
    assert all(s.completed == 0 for s in later)
    waiting = tickets.waiting_longest(engine, RANGE, now=clock.now + timedelta(hours=5))
    assert [(w.ticket_no, w.step, w.status, w.waited_seconds) for w in waiting] == [
        (first, "数据迁移", "待处理", 6 * 3600), (second, "账户冻结", "需补充材料", 6 * 3600)]
    assert tickets.tickets_opened(engine, RANGE) == 2
    assert tickets.tickets_opened(engine, Filters(RANGE.start, RANGE.end, "wechat")) == 1
    service.cancel_ticket(first, "坐席", "")
    assert [w.ticket_no for w in tickets.waiting_longest(engine, RANGE)] == [second]


def test_feedback_rate_per_topic(engine: Engine) -> None:
    store = FeedbackStore(engine)
    assert store.rate("web-a", 1.5, UP, "faq_materials", "rest", at=DAY1)
    assert store.rate("web-a", 1.5, DOWN, "faq_materials", "rest", at=DAY1)  # changed
    assert not store.rate("web-a", 1.5, DOWN, "faq_materials", "rest", at=DAY1)
    store.rate("wx-b", 2.5, UP, "faq_materials", "wechat", at=DAY1)
    store.rate("wx-b", 3.5, UP, None, "wechat", at=DAY2)
    rows = store.per_topic(RANGE)
    assert [(r.topic, r.up, r.down, r.up_rate) for r in rows] == [
        ("faq_materials", 1, 1, 0.5), ("", 1, 0, 1.0)]
    web = store.per_topic(Filters(RANGE.start, RANGE.end, "web"))
    assert [(r.topic, r.up, r.down) for r in web] == [("faq_materials", 0, 1)]
    with pytest.raises(ValueError):
        store.rate("web-a", 4.5, 0, None, "rest")


def test_unanswered_are_redacted_groups_and_csv_matches(stats_db: Engine) -> None:
    candidates = CandidateStore(stats_db)
    candidates.record("web-a", "请问你们每天几点下班 13812345678", "fallback", channel="rest",
                      at=DAY1)
    candidates.record("web-b", "请问你们每天几点下班啊", "fallback", channel="rest", at=DAY1)
    candidates.record("wx-b", "发票怎么开", "fallback", channel="wechat", at=DAY2)
    candidates.record("wx-b", "这个没用", "unhelpful", channel="wechat", at=DAY2)
    candidates.record("web-a", "去年的问题", "fallback", channel="rest",
                      at=DAY1 - timedelta(days=30))
    tables = {t.key: t for t in report.build(stats_db, stats_db, RANGE)}
    unanswered = tables["unanswered"]
    assert [row[1] for row in unanswered.rows] == [2, 1]
    assert "13812345678" not in str(unanswered.rows) and "下班" in unanswered.rows[0][0]
    web = report.unanswered_table(stats_db, Filters(RANGE.start, RANGE.end, "web"))
    assert [row[1] for row in web.rows] == [2]
    for table in tables.values():
        parsed = list(csv.reader(io.StringIO(table.csv().lstrip("\ufeff"))))
        assert parsed[0] == list(table.columns)
        assert parsed[1:] == [[cell(v) for v in row] for row in table.rows]
    daily = tables["daily"]
    assert daily.rows[0][:4] == ("2026-12-01", 2, 9, 1)
    assert daily.rows[0][4:] == (50.0, 11.1, 50.0)
    funnel = tables["funnel"].rows
    assert [r[2] for r in funnel] == [None, 0, 0, 1, 0, 1]  # no ticket here
