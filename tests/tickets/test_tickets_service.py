"""TicketService behaviour on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from tickets_support import FakeClock, make_request, merchant

from bot.tickets import (
    STEPS,
    InvalidTicketInput,
    StepOrderError,
    TicketClosed,
    TicketNotFound,
    TicketService,
)
from bot.tickets import rows as ticket_rows
from bot.tickets.models import Ticket, TicketCounter, TicketEvent, TicketStep


def count(engine: Engine, model: type) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(model)).scalar_one()


# numbering


def test_numbers_follow_shanghai_day_and_daily_sequence(
    service: TicketService, clock: FakeClock
) -> None:
    clock.now = datetime(2025, 11, 28, 15, 59, tzinfo=timezone.utc)  # 23:59 Shanghai
    first = service.open_ticket(make_request(merchant(1))).ticket.ticket_no
    second = service.open_ticket(make_request(merchant(2))).ticket.ticket_no
    clock.advance(minutes=1)  # 00:00 on the 29th in Shanghai, still the 28th in UTC
    third = service.open_ticket(make_request(merchant(3))).ticket.ticket_no
    assert (first, second, third) == ("UB-20251128-0001", "UB-20251128-0002", "UB-20251129-0001")


def test_new_ticket_has_eight_pending_steps(service: TicketService, clock: FakeClock) -> None:
    result = service.open_ticket(make_request(phone="+86 138-1234-5678"), actor="bot")
    t = result.ticket
    assert result.created
    assert t.status == "open" and t.is_open
    assert t.contact_phone == "13812345678" and t.masked_phone == "138****5678"
    assert [s.name for s in t.steps] == list(STEPS)
    assert [s.position for s in t.steps] == list(range(1, 9))
    assert {s.status for s in t.steps} == {"待处理"}
    assert t.current_step == t.steps[0]
    assert t.created_at == clock.now and t.created_at.tzinfo is not None
    assert service.get_ticket(t.ticket_no) == t  # round trip, tz-aware UTC on both backends
    assert service.get_ticket(t.ticket_no.lower()) == t


def test_views_are_frozen_plain_values(service: TicketService) -> None:
    t = service.open_ticket(make_request()).ticket
    assert isinstance(t.steps, tuple)
    with pytest.raises(dataclasses.FrozenInstanceError):
        t.status = "completed"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        t.steps[0].status = "已完成"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("merchant_id", "12345", "15位数字"),
        ("merchant_id", "84958105812000X", "15位数字"),
        ("merchant_id", "٨٤٩٥٨١٠٥٨١٢٠٠٠٣", "15位数字"),  # Arabic-Indic digits
        ("contact_phone", "١٣٨١٢٣٤٥٦٧٨", "phone"),
        ("contact_phone", "abc", "phone"),
        ("serial_number", "  ", "serial_number"),
        ("sender_id", "", "sender_id"),
    ],
)
def test_invalid_requests_are_rejected(
    service: TicketService, engine: Engine, field: str, value: str, message: str
) -> None:
    request = dataclasses.replace(make_request(), **{field: value})
    with pytest.raises(InvalidTicketInput, match=message):
        service.open_ticket(request)
    assert count(engine, Ticket) == 0


# idempotent open


def test_open_is_idempotent_per_merchant_across_conversations(
    service: TicketService, engine: Engine
) -> None:
    first = service.open_ticket(make_request(sender_id="conv-1", channel="rest"))
    retry = service.open_ticket(make_request(sender_id="conv-1"))
    other = service.open_ticket(make_request(sender_id="wx-9", channel="wechat"))
    assert first.created and not retry.created and not other.created
    assert retry.ticket == first.ticket == other.ticket
    assert count(engine, Ticket) == 1
    assert count(engine, TicketEvent) == 1
    with engine.connect() as conn:
        assert conn.execute(select(TicketCounter.seq)).scalar_one() == 1


def test_lost_race_returns_the_winner(
    service: TicketService, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pre-check can miss a concurrent winner; the unique index then decides."""
    winner = service.open_ticket(make_request(sender_id="a"))
    real = ticket_rows.open_for_merchant
    calls = {"n": 0}

    def miss_once(s, merchant_id):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        return None if calls["n"] == 1 else real(s, merchant_id)

    monkeypatch.setattr(ticket_rows, "open_for_merchant", miss_once)
    loser = service.open_ticket(make_request(sender_id="b"))
    assert not loser.created and loser.ticket == winner.ticket
    assert count(engine, Ticket) == 1
    assert count(engine, TicketStep) == 8
    with engine.connect() as conn:  # the loser's counter bump was rolled back
        assert conn.execute(select(TicketCounter.seq)).scalar_one() == 1


def test_partial_unique_index_allows_one_open_ticket_per_merchant(
    service: TicketService, engine: Engine, clock: FakeClock
) -> None:
    t = service.open_ticket(make_request()).ticket
    row = {
        "merchant_id": t.merchant_id,
        "reason_category": "x",
        "reason_detail": "",
        "serial_number": "s",
        "contact_phone": "13800000000",
        "channel": "rest",
        "sender_id": "raw",
        "created_at": clock.now,
        "updated_at": clock.now,
    }
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(insert(Ticket).values(ticket_no="UB-20990101-0001", status="open", **row))
    with engine.begin() as conn:  # closed tickets of the same merchant are fine
        conn.execute(insert(Ticket).values(ticket_no="UB-20990101-0002", status="cancelled", **row))
        conn.execute(insert(Ticket).values(ticket_no="UB-20990101-0003", status="completed", **row))


def test_cancelled_or_completed_ticket_allows_a_new_one(
    service: TicketService, clock: FakeClock
) -> None:
    first = service.open_ticket(make_request()).ticket
    service.cancel_ticket(first.ticket_no, actor="merchant")
    second = service.open_ticket(make_request())
    assert second.created and second.ticket.ticket_no != first.ticket_no
    for step in STEPS:
        service.advance_step(second.ticket.ticket_no, step, "已完成", actor="agent")
    third = service.open_ticket(make_request())
    assert third.created
    assert third.ticket.ticket_no == "UB-20251128-0003"


# queries


def test_queries_by_sender_merchant_and_phone(service: TicketService, clock: FakeClock) -> None:
    a = service.open_ticket(make_request(merchant(1), sender_id="s1", phone="13800000001"))
    clock.advance(minutes=5)
    b = service.open_ticket(make_request(merchant(2), sender_id="s1", phone="13800000002"))
    clock.advance(minutes=5)
    c = service.open_ticket(make_request(merchant(3), sender_id="s2", phone="13800000001"))
    assert service.tickets_for_sender("s1") == (b.ticket, a.ticket)  # newest first
    assert service.tickets_for_sender("nobody") == ()
    assert service.tickets_for_merchant(merchant(2)) == (b.ticket,)
    assert service.tickets_for_phone("138 0000 0001") == (c.ticket, a.ticket)
    assert service.tickets_for_phone("not a phone") == ()
    assert service.open_ticket_for_merchant(merchant(3)) == c.ticket
    assert service.open_ticket_for_merchant(merchant(9)) is None
    assert service.get_ticket("UB-20000101-0001") is None
    assert service.get_ticket("nonsense") is None


# advance / cancel / complete


def test_advance_records_status_note_time_and_history(
    service: TicketService, clock: FakeClock
) -> None:
    no = service.open_ticket(make_request()).ticket.ticket_no
    clock.advance(hours=1)
    t = service.advance_step(no, "资料审核", "需补充材料", note="缺营业执照副本", actor="agent-li")
    step = t.steps[0]
    assert (step.status, step.note, step.updated_at) == ("需补充材料", "缺营业执照副本", clock.now)
    assert t.updated_at == clock.now and t.status == "open"
    assert t.current_step == step
    clock.advance(hours=1)
    t = service.advance_step(no, " 资料审核 ", "已完成", actor="agent-li")
    assert t.steps[0].status == "已完成" and t.current_step == t.steps[1]
    events = service.history(no)
    assert [(e.step, e.old_status, e.new_status, e.actor) for e in events] == [
        (None, None, "open", "bot"),
        ("资料审核", "待处理", "需补充材料", "agent-li"),
        ("资料审核", "需补充材料", "已完成", "agent-li"),
    ]
    assert events[1].note == "缺营业执照副本"
    assert events[2].created_at == clock.now


def test_notes_with_control_characters_are_refused_and_secrets_never_stored(
    service: TicketService,
) -> None:
    """An agent's note goes through the same redaction as a merchant's message."""
    no = service.open_ticket(make_request()).ticket.ticket_no
    with pytest.raises(InvalidTicketInput, match="控制字符"):
        service.advance_step(no, "资料审核", "进行中", note="补充\x00材料", actor="agent-li")
    t = service.advance_step(no, "资料审核", "需补充材料", note="商户说密码是 Zx998877\n请回电",
                             actor="agent-li")
    stored = t.steps[0].note + " ".join(e.note or "" for e in service.history(no))
    assert "Zx998877" not in stored and "密码" in stored and "请回电" in t.steps[0].note
    cancelled = service.cancel_ticket(no, actor="agent-li", note="验证码 845210 已作废")
    assert "845210" not in " ".join(e.note or "" for e in service.history(no))
    assert cancelled.status == "cancelled"


def test_unknown_step_and_status_have_clear_messages(service: TicketService) -> None:
    no = service.open_ticket(make_request()).ticket.ticket_no
    with pytest.raises(InvalidTicketInput, match=r"未知步骤.*资料审核.*unknown step"):
        service.advance_step(no, "审核资料", "已完成")
    with pytest.raises(InvalidTicketInput, match=r"未知状态.*待处理.*unknown step status"):
        service.advance_step(no, "资料审核", "done")
    with pytest.raises(InvalidTicketInput, match="cancel_ticket"):
        service.advance_step(no, "资料审核", "已取消")
    with pytest.raises(TicketNotFound, match="UB-20000101-0001"):
        service.advance_step("UB-20000101-0001", "资料审核", "已完成")
    with pytest.raises(TicketNotFound):
        service.cancel_ticket("garbage")
    assert len(service.history(no)) == 1


def test_steps_complete_in_order_and_last_step_completes_ticket(
    service: TicketService,
) -> None:
    no = service.open_ticket(make_request()).ticket.ticket_no
    with pytest.raises(StepOrderError, match="资料审核"):
        service.advance_step(no, "账户冻结", "已完成")
    service.advance_step(no, "账户冻结", "进行中")  # working ahead is allowed
    for step in STEPS[:-1]:
        t = service.advance_step(no, step, "已完成", actor="agent")
    assert t.status == "open" and t.current_step is not None
    t = service.advance_step(no, "正式解绑", "已完成", note="已解绑", actor="agent")
    assert t.status == "completed" and not t.is_open and t.current_step is None
    assert {s.status for s in t.steps} == {"已完成"}
    assert service.history(no)[-1].step is None
    assert (service.history(no)[-1].old_status, service.history(no)[-1].new_status) == (
        "open",
        "completed",
    )
    with pytest.raises(TicketClosed, match="completed"):
        service.advance_step(no, "正式解绑", "进行中")
    with pytest.raises(TicketClosed):
        service.cancel_ticket(no)


def test_cancel_marks_remaining_steps_and_freezes_ticket(
    service: TicketService, clock: FakeClock
) -> None:
    no = service.open_ticket(make_request()).ticket.ticket_no
    service.advance_step(no, "资料审核", "已完成")
    service.advance_step(no, "账户冻结", "进行中")
    clock.advance(days=1)
    t = service.cancel_ticket(no, actor="merchant", note="不办了")
    assert t.status == "cancelled"
    assert [s.status for s in t.steps] == ["已完成"] + ["已取消"] * 7
    assert t.steps[0].updated_at < clock.now == t.steps[1].updated_at == t.updated_at
    events = service.history(no)
    assert len(events) == 1 + 2 + 7 + 1
    assert events[3].step == "账户冻结" and events[3].old_status == "进行中"
    assert events[-1].new_status == "cancelled" and events[-1].note == "不办了"
    assert {e.actor for e in events[3:]} == {"merchant"}
    with pytest.raises(TicketClosed, match="已取消"):
        service.advance_step(no, "数据迁移", "进行中")
    with pytest.raises(TicketClosed):
        service.cancel_ticket(no)
    assert len(service.history(no)) == len(events)
