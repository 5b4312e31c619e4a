"""The outbox worker against the fake WeChat/WeCom API and a fake of Rasa's outbound
endpoint: each message is stored in its conversation and delivered once, in order,
retried with backoff, held outside WeChat's window, and left ``uncertain`` (never resent)
when it may have arrived. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from outbox_support import OPENID, WECOM_USER, harness
from sqlalchemy import Column, Float, Integer, MetaData, String, Table, Text, insert
from tickets_support import make_request, merchant

from bot.db import make_engine
from bot.handoff.service import HandoffService
from bot.handoff.settings import DutyHours
from bot.outbox.store import OutboxStore, enqueue
from bot.tickets import TicketService


def queue_agent_reply(engine, clock, channel: str, sender: str, text: str) -> int:
    """An agent's reply in a claimed conversation, as the console queues it."""
    handoffs = HandoffService(engine, clock=clock, hours=DutyHours(None))
    active = handoffs.active(channel, sender) or handoffs.request(channel, sender,
                                                                  "requested").handoff
    if active.state == "queued":
        handoffs.claim(active.id, "张三")
    return handoffs.reply(active.id, "张三", text).outbox_id


def wechat_ticket(service: TicketService, sender: str = OPENID, n: int = 1) -> str:
    return service.open_ticket(make_request(merchant(n), sender, channel="wechat")).ticket.ticket_no


async def test_step_change_notice_reaches_the_wechat_merchant_once(engine, db_url, clock,
                                                                   service):
    number = wechat_ticket(service)
    async with harness(engine, db_url, clock) as h:
        h.api.user_wrote(OPENID)
        service.advance_step(number, "资料审核", "已完成", "资料齐全", actor="console:张三")
        await h.drain()
        await h.drain()
        expected = (f"工单 {number} 的「资料审核」已完成。\n备注：资料齐全\n"
                    "下一步：「账户冻结」。\n回复“不要再通知我”可关闭工单进度通知。")
        assert h.api.contents(OPENID) == [expected]
        [sent] = h.api.messages
        assert sent["path"] == "/cgi-bin/message/custom/send"
        assert sent["body"] == {"touser": OPENID, "msgtype": "text",
                                "text": {"content": expected}}
        assert h.rasa.texts(OPENID) == [expected]  # and stored in the conversation
        [row] = h.rows()
        assert (row.state, row.kind, row.ticket_no, row.step) == ("sent", "notice", number,
                                                                   "资料审核")


async def test_notices_go_to_the_conversation_that_opened_the_ticket_only(engine, db_url,
                                                                          clock, service):
    number = wechat_ticket(service)
    # Someone else typed the same merchant number in another conversation.
    service.tickets_for_merchant(merchant(1))
    async with harness(engine, db_url, clock) as h:
        h.api.user_wrote(OPENID)
        h.api.user_wrote("oSomeone_else_who_typed_it")
        service.advance_step(number, "资料审核", "进行中")
        await h.drain()
        assert {m["body"]["touser"] for m in h.api.messages} == {OPENID}


async def test_an_unchanged_step_sends_nothing(engine, db_url, clock, service):
    number = wechat_ticket(service)
    service.advance_step(number, "资料审核", "进行中", "核对中")
    service.advance_step(number, "资料审核", "进行中", "核对中")
    assert len(OutboxStore(engine).of_ticket(number)) == 1


async def test_opted_out_notices_are_recorded_but_never_sent(engine, db_url, clock, service):
    number = wechat_ticket(service)
    store = OutboxStore(engine, clock=clock)
    store.set_notices("wechat", OPENID, False)
    async with harness(engine, db_url, clock) as h:
        h.api.user_wrote(OPENID)
        service.advance_step(number, "资料审核", "进行中")
        await h.drain()
        assert h.api.attempts == [] and h.rasa.calls == []
        [row] = h.rows()
        assert row.state == "opted_out" and "关闭" in row.last_error
        store.set_notices("wechat", OPENID, True)
        service.advance_step(number, "资料审核", "已完成")
        await h.drain()
        assert len(h.api.messages) == 1


async def test_a_busy_platform_is_retried_after_a_backoff_and_sent_once(engine, db_url,
                                                                        clock, service):
    number = wechat_ticket(service)
    async with harness(engine, db_url, clock) as h:
        h.api.user_wrote(OPENID)
        h.api.send_errcodes = [-1]
        service.advance_step(number, "资料审核", "进行中")
        await h.drain()
        [row] = h.rows()
        assert row.state == "pending" and "系统繁忙" in row.last_error
        await h.drain()  # not due yet: nothing is sent before the backoff
        assert len(h.api.attempts) == 1
        clock.advance(seconds=3)
        await h.drain()
        assert h.state(row.id) == "sent" and len(h.api.messages) == 1


async def test_an_expired_token_is_fetched_again_and_the_message_sent_once(engine, db_url,
                                                                           clock, service):
    number = wechat_ticket(service)
    async with harness(engine, db_url, clock) as h:
        h.api.user_wrote(OPENID)
        service.advance_step(number, "资料审核", "进行中")
        await h.drain()
        h.api.expire_tokens()  # WeChat retired the token (42001 from now on)
        service.advance_step(number, "资料审核", "已完成")
        await h.drain()
        assert [r.state for r in h.rows()] == ["sent", "sent"]
        assert len(h.api.messages) == 2 and len(h.api.token_fetches) == 2
        assert [m["token"] for m in h.api.attempts] == [
            "ACCESS_TOKEN_1", "ACCESS_TOKEN_1", "ACCESS_TOKEN_2"]


def tracker_with_user_message(path: Path, sender: str, at: float) -> str:
    """A tracker store (Rasa's ``events`` table) in which ``sender`` wrote at ``at``."""
    url = f"sqlite:///{path}"
    events = Table("events", MetaData(), Column("id", Integer, primary_key=True),
                   Column("sender_id", String(255)), Column("type_name", String(255)),
                   Column("timestamp", Float), Column("intent_name", String(255)),
                   Column("action_name", String(255)), Column("data", Text))
    engine = make_engine(url)
    events.create(engine, checkfirst=True)
    with engine.begin() as conn:
        conn.execute(insert(events).values(sender_id=sender, type_name="user", timestamp=at,
                                           data=json.dumps({"text": "你好"})))
    engine.dispose()
    return url


async def test_outside_the_window_a_notice_waits_for_the_merchant_and_a_reply_fails(
    engine, db_url, clock, service, tmp_path
):
    number = wechat_ticket(service)
    tracker = make_engine(f"sqlite:///{tmp_path / 'tracker.db'}")
    async with harness(engine, db_url, clock, tracker_engine=tracker) as h:
        service.advance_step(number, "资料审核", "进行中")
        queue_agent_reply(engine, clock, "wechat", OPENID, "您好，请问还有什么问题？")
        await h.drain()
        notice, claimed, reply = h.rows()
        assert notice.state == "held" and "48小时" in notice.last_error
        assert claimed.state == "failed" and reply.state == "failed"
        assert "45015" in reply.last_error and "48小时" in reply.last_error
        assert h.api.messages == []
        await h.worker.maintenance()
        assert h.state(notice.id) == "held"  # the merchant has not written
        h.api.user_wrote(OPENID)
        tracker_with_user_message(tmp_path / "tracker.db", OPENID, time.time())
        await h.worker.maintenance()
        await h.drain()
        assert h.state(notice.id) == "sent"
        assert h.api.contents(OPENID) == [notice.text]
    tracker.dispose()


async def test_a_hung_platform_leaves_the_message_uncertain_and_never_resends_it(
    engine, db_url, clock, service
):
    number = wechat_ticket(service)
    async with harness(engine, db_url, clock, timeout=0.5) as h:
        h.api.user_wrote(OPENID)
        h.api.hang = True
        service.advance_step(number, "资料审核", "进行中")
        await h.drain()
        h.api.hang = False
        [row] = h.rows()
        assert row.state == "uncertain" and "可能已送达" in row.last_error
        clock.advance(minutes=30)
        await h.worker.maintenance()
        await h.drain()
        assert len(h.api.attempts) == 1 and h.state(row.id) == "uncertain"
        assert OutboxStore(engine, clock=clock).resend(row.id) is not None  # the agent decides
        await h.drain()
        assert h.state(row.id) == "sent" and len(h.api.attempts) == 2


async def test_messages_of_one_conversation_keep_their_order_through_a_retry(engine, db_url,
                                                                             clock):
    async with harness(engine, db_url, clock) as h:
        h.api.user_wrote(OPENID)
        h.api.send_errcodes = [-1]  # the first agent message (after 接入) fails once
        ids = [queue_agent_reply(engine, clock, "wechat", OPENID, f"第{i}条") for i in (1, 2, 3)]
        await h.drain()
        assert h.api.contents(OPENID)[1:] == []
        assert [h.state(i) for i in ids] == ["pending", "pending", "pending"]
        clock.advance(seconds=3)
        await h.drain()
        assert h.api.contents(OPENID)[1:] == ["第1条", "第2条", "第3条"]


async def test_a_long_reply_goes_in_parts_and_a_retry_resumes_at_the_failed_part(
    engine, db_url, clock
):
    async with harness(engine, db_url, clock) as h:
        h.api.user_wrote(OPENID)
        text = "。".join(f"第{i:03d}句话说明解绑的资料要求" for i in range(110))
        row_id = queue_agent_reply(engine, clock, "wechat", OPENID, text)
        h.api.send_errcodes = [0, 0, -1]  # 接入 message, part 1, then part 2 fails once
        await h.drain()
        assert h.state(row_id) == "pending"
        clock.advance(seconds=3)
        await h.drain()
        parts = h.api.contents(OPENID)[1:]
        assert h.state(row_id) == "sent" and len(parts) == 3
        assert "".join(parts) == text and len(set(parts)) == 3
        assert all(len(p.encode()) <= 2048 for p in parts)


async def test_two_workers_send_every_message_exactly_once_in_order(engine, db_url, clock):
    from outbox_support import build

    store = OutboxStore(engine, clock=clock)
    senders = [f"oUNBIND_two_workers_{n:08d}" for n in range(6)]
    async with harness(engine, db_url, clock) as h:
        other = build(engine, db_url, clock, h.api, h.rasa, owner="second-worker")
        for sender in senders:
            h.api.user_wrote(sender)
        with engine.begin() as conn:
            for i in range(5):
                for sender in senders:
                    enqueue(conn, kind="notice", channel="wechat", sender_id=sender,
                            text=f"{sender} 第{i}条", now=clock())
        for _ in range(8):
            await asyncio.gather(h.worker.tick(), other.tick())
        for sender in senders:
            assert h.api.contents(sender) == [f"{sender} 第{i}条" for i in range(5)]
        assert len(h.api.attempts) == 30
        assert {r.state for r in h.rows()} == {"sent"}
        assert {r.lease_owner for r in h.rows()} == {None}
        for adapter in other.adapters.values():
            if getattr(adapter, "sender", None) is not None:
                await adapter.sender.aclose()
        await other.adapters["socketio"].recorder.close()
    assert store.recent(5, ("notice",), ["pending"]) == []


async def test_web_chat_and_wecom_deliveries(engine, db_url, clock, service):
    web = service.open_ticket(make_request(merchant(2), "a" * 32, channel="socketio")).ticket
    wecom = service.open_ticket(make_request(merchant(3), WECOM_USER, channel="wecom")).ticket
    rest = service.open_ticket(make_request(merchant(4), "rest-user", channel="rest")).ticket
    async with harness(engine, db_url, clock) as h:
        for ticket in (web, wecom, rest):
            service.advance_step(ticket.ticket_no, "资料审核", "需补充材料", "缺少营业执照复印件")
        await h.drain()
        assert {r.state for r in h.rows()} == {"sent"}
        pushed = {c["channel"]: c["push"] for c in h.rasa.calls}
        assert pushed == {"socketio": True, "wecom": False, "rest": False}
        [wecom_sent] = h.api.messages
        assert wecom_sent["path"] == "/cgi-bin/message/send"
        assert wecom_sent["body"]["touser"] == WECOM_USER
        assert wecom_sent["body"]["agentid"] == 1000002
        assert "缺少营业执照复印件" in wecom_sent["body"]["text"]["content"]


async def test_rasa_down_keeps_the_message_and_retries_it(engine, db_url, clock, service):
    number = wechat_ticket(service)
    async with harness(engine, db_url, clock) as h:
        h.api.user_wrote(OPENID)
        h.rasa.fail_next = [503]
        service.advance_step(number, "资料审核", "进行中")
        await h.drain()
        [row] = h.rows()
        assert row.state == "pending" and "503" in row.last_error and h.api.attempts == []
        clock.advance(seconds=3)
        await h.drain()
        assert h.state(row.id) == "sent" and len(h.api.messages) == 1


async def test_attempts_run_out_and_the_row_fails_with_the_reason(engine, db_url, clock):
    async with harness(engine, db_url, clock) as h:
        with engine.begin() as conn:
            row_id = enqueue(conn, kind="notice", channel="wechat", sender_id=OPENID,
                             text="通知", now=clock())
        h.api.user_wrote(OPENID)
        h.api.http_statuses = [502] * 10
        for _ in range(6):
            await h.drain()
            clock.advance(minutes=10)
        row = next(r for r in h.rows() if r.id == row_id)
        assert row.state == "failed" and "4 次尝试均失败" in row.last_error
        assert "502" in row.last_error
        assert h.api.messages == []
