"""Handoffs in the ticket database: the per-turn gate (one indexed lookup), claims that
lapse without an agent reply, duty hours, and one active handoff per conversation."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from bot.db import make_engine
from bot.handoff.gate import HandoffGate
from bot.handoff.service import ClaimRefused, HandoffService, NotHolder
from bot.handoff.settings import DutyHours
from bot.outbox.store import OutboxStore


@pytest.fixture
def handoffs(engine, clock) -> HandoffService:
    return HandoffService(engine, clock=clock, hours=DutyHours(None),
                          idle=timedelta(minutes=5))


def test_the_gate_sees_only_live_claims(db_url, handoffs, clock):
    gate = HandoffGate(db_url)
    try:
        assert gate.claim("socketio", "a" * 32, clock()) is None
        queued = handoffs.request("socketio", "a" * 32, "requested").handoff
        assert gate.claim("socketio", "a" * 32, clock()) is None  # queued: the bot answers
        handoffs.claim(queued.id, "张三")
        claim = gate.claim("socketio", "a" * 32, clock())
        assert claim is not None and (claim.handoff_id, claim.agent) == (queued.id, "张三")
        assert gate.claim("wechat", "a" * 32, clock()) is None  # another channel's identity
        assert gate.claim("socketio", "a" * 32, clock() + timedelta(minutes=6)) is None
    finally:
        gate.dispose()


@pytest.mark.postgres
def test_the_gate_still_sees_a_claim_after_postgresql_dropped_its_connection(
    pg_session_url, clock
):
    """As after a PostgreSQL restart: the pooled connection is dead, the claim is not."""
    engine = make_engine(pg_session_url)
    gate = HandoffGate(pg_session_url)
    try:
        handoffs = HandoffService(engine, clock=clock, hours=DutyHours(None))
        sender = uuid.uuid4().hex
        handoffs.claim(handoffs.request("socketio", sender, "requested").handoff.id, "张三")
        assert gate.claim("socketio", sender, clock()) is not None
        raw = gate.engine.raw_connection()  # the one pooled connection
        pid = raw.connection.get_backend_pid()
        raw.close()
        with engine.connect() as conn:
            assert conn.execute(text("select pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
        claim = gate.claim("socketio", sender, clock())
        assert claim is not None and claim.agent == "张三"
    finally:
        gate.dispose()
        engine.dispose()


def test_the_gate_fails_open_when_the_database_is_down():
    gate = HandoffGate("postgresql://nobody@127.0.0.1:9/none?connect_timeout=1")
    assert gate.claim("socketio", "b" * 32) is None
    gate.dispose()


def test_a_merchant_waiting_starts_the_reply_deadline_and_an_agent_reply_clears_it(
    db_url, handoffs, clock
):
    view = handoffs.request("wechat", "oOPENID", "requested").handoff
    claimed = handoffs.claim(view.id, "张三")
    assert claimed.reply_due_at == clock() + timedelta(minutes=5)  # the agent must greet
    handoffs.reply(view.id, "张三", "您好")
    assert handoffs.get(view.id).reply_due_at is None  # nobody waits
    gate = HandoffGate(db_url)
    gate.merchant_wrote(view.id, clock() + timedelta(minutes=1))
    first_due = handoffs.get(view.id).reply_due_at
    assert first_due == clock() + timedelta(minutes=6)
    gate.merchant_wrote(view.id, clock() + timedelta(minutes=2))
    assert handoffs.get(view.id).reply_due_at == first_due  # the first unanswered one counts
    gate.dispose()


def test_a_claim_without_a_reply_in_time_goes_back_to_the_queue(handoffs, clock, engine):
    first = handoffs.request("rest", "m1", "requested").handoff
    handoffs.claim(first.id, "张三")
    clock.advance(minutes=4)
    assert handoffs.requeue_lapsed() == []
    clock.advance(minutes=2)
    assert handoffs.requeue_lapsed() == [first.id]
    back = handoffs.get(first.id)
    assert (back.state, back.agent, back.requeued) == ("queued", None, 1)
    told = [r.text for r in OutboxStore(engine).of_handoff(first.id)]
    assert told[-1].startswith("抱歉，人工客服暂时没能回复您，已为您重新排队")
    assert handoffs.requeue_lapsed() == []
    handoffs.claim(first.id, "李四")  # another agent takes it
    assert handoffs.get(first.id).agent == "李四"


def test_one_active_handoff_per_conversation_and_claims_by_one_agent(handoffs):
    first = handoffs.request("rest", "m2", "requested")
    again = handoffs.request("rest", "m2", "low_confidence")
    assert first.created and not again.created and again.handoff.id == first.handoff.id
    handoffs.claim(first.handoff.id, "张三")
    with pytest.raises(ClaimRefused) as refused:
        handoffs.claim(first.handoff.id, "李四")
    assert refused.value.holder == "张三"
    with pytest.raises(NotHolder):
        handoffs.release(first.handoff.id, "李四", "handback")
    handoffs.release(first.handoff.id, "张三", "handback")
    later = handoffs.request("rest", "m2", "requested")
    assert later.created and later.handoff.id != first.handoff.id


def test_duty_hours_in_beijing_time():
    hours = DutyHours.parse("mon-fri 09:00-18:00; sat 10:00-12:30")
    monday_9am = datetime(2026, 12, 7, 1, 0, tzinfo=timezone.utc)  # 09:00 in Shanghai
    assert hours.on_duty(monday_9am)
    assert not hours.on_duty(monday_9am - timedelta(minutes=1))
    assert not hours.on_duty(monday_9am + timedelta(hours=9))  # 18:00
    saturday = datetime(2026, 12, 12, 3, 0, tzinfo=timezone.utc)  # 11:00
    assert hours.on_duty(saturday) and not hours.on_duty(saturday + timedelta(days=1))
    assert hours.label() == "周一至周五 09:00–18:00；周六 10:00–12:30"
    assert DutyHours.parse("").on_duty(saturday) and DutyHours.parse("never").label() == ""
    assert not DutyHours.parse("never").on_duty(monday_9am)
    with pytest.raises(ValueError):
        DutyHours.parse("weekdays 9-18")


def test_off_duty_requests_are_recorded_and_a_left_message_queues_them(engine, clock):
    night = HandoffService(engine, clock=clock, hours=DutyHours.parse("never"))
    asked = night.request("wechat", "oNIGHT", "requested")
    assert asked.handoff.state == "offline"
    left = night.leave_message("wechat", "oNIGHT", "请明天联系我")
    assert left.id == asked.handoff.id and left.state == "queued"
    assert left.left_message == "请明天联系我"
    assert [h.id for h in night.queue()] == [left.id]


def test_retention_deletes_old_settled_messages_and_finished_handoffs(engine, handoffs, clock):
    from bot.outbox.store import purge_before

    done = handoffs.request("rest", "old", "requested").handoff
    handoffs.claim(done.id, "张三")
    handoffs.reply(done.id, "张三", "旧消息")
    handoffs.release(done.id, "张三", "close")
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE outbox SET state = 'sent'")
    live = handoffs.request("rest", "new", "requested").handoff
    clock.advance(days=200)
    assert purge_before(engine, clock() - timedelta(days=180)) == (3, 1)
    assert handoffs.get(done.id) is None and handoffs.get(live.id) is not None
    assert purge_before(engine, clock() - timedelta(days=180)) == (0, 0)
