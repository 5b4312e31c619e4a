"""The console's handoff and notice API in process: the queue with the transcript and the
conversation's open tickets, one claim per conversation, replies (once per client id,
redacted, audited with their text), hand-back, the database down when an agent replies,
and each ticket's notices with their delivery state."""

from __future__ import annotations

import json

from console_support import HEADERS, PERSONAL_AGENT, PERSONAL_TOKEN, SECRET_TEXT, SENDER, Databases
from sanic import Sanic
from sqlalchemy import select

from bot.audit import AuditLog
from bot.db import make_engine
from bot.handoff.service import HandoffService
from bot.handoff.settings import DutyHours
from bot.outbox.models import OutboxMessage
from bot.redaction import MASK
from bot.tickets import TicketService

LI_SI = {"Authorization": f"Bearer {PERSONAL_TOKEN}"}


def queue_handoff(dbs: Databases, sender: str = SENDER, reason: str = "requested") -> int:
    service = HandoffService(make_engine(dbs.tickets_url), hours=DutyHours(None))
    try:
        return service.request("rest", sender, reason).handoff.id
    finally:
        service.engine.dispose()


async def call(app: Sanic, method: str, path: str, body: object = None,
               headers: dict[str, str] | None = None):
    data = None if body is None else (body if isinstance(body, str) else json.dumps(body))
    request = getattr(app.asgi_client, method)
    kwargs = {"headers": HEADERS if headers is None else headers}
    if data is not None:
        kwargs["content"] = data
    _, reply = await request(path, **kwargs)
    return reply


def outbox_rows(dbs: Databases) -> list:
    engine = make_engine(dbs.tickets_url)
    table = OutboxMessage.__table__
    try:
        with engine.connect() as conn:
            return list(conn.execute(select(table).order_by(table.c.id)).all())
    finally:
        engine.dispose()


def audit(dbs: Databases):
    engine = make_engine(dbs.tickets_url)
    try:
        return AuditLog(engine).recent()
    finally:
        engine.dispose()


async def test_the_queue_shows_reason_transcript_preview_and_the_conversations_tickets(
    app: Sanic, dbs: Databases
):
    handoff_id = queue_handoff(dbs, reason="failed_attempts")
    reply = await call(app, "get", "/api/handoffs")
    assert reply.status == 200
    [item] = reply.json["handoffs"]
    assert item["id"] == handoff_id and item["state"] == "queued"
    assert item["reason_label"] == "多次填写失败" and item["channel_label"] == "网页"
    assert item["open_tickets"] == [dbs.ticket.ticket_no]  # opened by this conversation
    assert MASK in item["preview"] and "123456" not in item["preview"]
    detail = (await call(app, "get", f"/api/handoffs/{handoff_id}")).json
    assert [t["speaker"] for t in detail["turns"]] == ["user", "bot", "user", "bot"]
    assert SECRET_TEXT not in json.dumps(detail, ensure_ascii=False)
    actions = [row.action for row in audit(dbs)]
    assert actions[:2] == ["handoffs.read", "handoffs.queue"]
    await call(app, "get", "/api/handoffs?poll=1")
    await call(app, "get", f"/api/handoffs/{handoff_id}?after=1")
    assert len(audit(dbs)) == len(actions)  # polling writes no audit rows


async def test_one_agent_per_conversation_and_the_second_claim_names_the_holder(
    app: Sanic, dbs: Databases
):
    handoff_id = queue_handoff(dbs)
    first = await call(app, "post", f"/api/handoffs/{handoff_id}/claim")
    assert first.status == 200 and first.json["handoff"]["agent"] == "张三"
    assert first.json["handoff"]["mine"] is True
    again = await call(app, "post", f"/api/handoffs/{handoff_id}/claim")
    assert again.status == 200  # one's own claim again changes nothing
    second = await call(app, "post", f"/api/handoffs/{handoff_id}/claim", headers=LI_SI)
    assert second.status == 409
    assert second.json == {"error": "这个对话已由 张三 接待", "holder": "张三"}
    notice = [r for r in outbox_rows(dbs) if r.kind == "handoff"]
    assert [r.text for r in notice] == ["您好，我是人工客服张三，接下来由我为您服务。"]
    reply = await call(app, "post", f"/api/handoffs/{handoff_id}/messages",
                       {"text": "我来帮您"}, headers=LI_SI)
    assert reply.status == 409 and "没有接待" in reply.json["error"]


async def test_replies_are_queued_once_redacted_and_audited_with_their_text(
    app: Sanic, dbs: Databases
):
    handoff_id = queue_handoff(dbs)
    await call(app, "post", f"/api/handoffs/{handoff_id}/claim")
    body = {"text": "请在POS机上输入，不要发我密码是 654321 这种", "client_id": "c-1"}
    first = await call(app, "post", f"/api/handoffs/{handoff_id}/messages", body)
    again = await call(app, "post", f"/api/handoffs/{handoff_id}/messages", body)
    assert (first.status, again.status) == (202, 202)
    assert first.json["message"]["state"] == "pending" and again.json["duplicate"] is True
    agent_rows = [r for r in outbox_rows(dbs) if r.kind == "agent"]
    assert len(agent_rows) == 1 and "654321" not in agent_rows[0].text
    assert agent_rows[0].agent == "张三" and agent_rows[0].sender_id == SENDER
    [entry] = [row for row in audit(dbs) if row.action == "handoffs.reply"][:1]
    assert "请在POS机上输入" in entry.params["text"] and "654321" not in entry.params["text"]
    empty = await call(app, "post", f"/api/handoffs/{handoff_id}/messages", {"text": "  "})
    assert empty.status == 400 and empty.json["error"] == "消息不能为空"
    bad_id = await call(app, "post", f"/api/handoffs/{handoff_id}/messages",
                        {"text": "好", "client_id": "<script>"})
    assert bad_id.status == 400


async def test_hand_back_tells_the_merchant_and_ends_the_claim(app: Sanic, dbs: Databases):
    handoff_id = queue_handoff(dbs)
    await call(app, "post", f"/api/handoffs/{handoff_id}/claim")
    refused = await call(app, "post", f"/api/handoffs/{handoff_id}/release",
                         {"action": "handback"}, headers=LI_SI)
    assert refused.status == 409
    done = await call(app, "post", f"/api/handoffs/{handoff_id}/release", {"action": "handback"})
    assert done.status == 200 and done.json["handoff"]["state"] == "closed"
    assert done.json["handoff"]["outcome"] == "handed_back"
    texts = [r.text for r in outbox_rows(dbs) if r.kind == "handoff"]
    assert texts[-1] == "人工客服张三已结束本次服务，接下来由解绑助手继续为您解答。"
    late = await call(app, "post", f"/api/handoffs/{handoff_id}/messages", {"text": "还在吗"})
    assert late.status == 409
    bad = await call(app, "post", f"/api/handoffs/{handoff_id}/release", {"action": "x"})
    assert bad.status == 400
    missing = await call(app, "post", "/api/handoffs/999999/claim")
    assert missing.status == 404


async def test_database_down_when_the_agent_replies_loses_nothing_and_sends_once(
    app: Sanic, dbs: Databases
):
    handoff_id = queue_handoff(dbs)
    await call(app, "post", f"/api/handoffs/{handoff_id}/claim")
    ctx = app.ctx.console
    working = ctx.handoffs.engine
    ctx.handoffs.engine = make_engine("postgresql://nobody@127.0.0.1:9/none?connect_timeout=1")
    body = {"text": "营业执照复印件需要加盖公章", "client_id": "reply-7"}
    down = await call(app, "post", f"/api/handoffs/{handoff_id}/messages", body)
    assert down.status == 503 and "没有生效" in down.json["error"]
    assert [r for r in outbox_rows(dbs) if r.kind == "agent"] == []
    ctx.handoffs.engine.dispose()
    ctx.handoffs.engine = working
    first = await call(app, "post", f"/api/handoffs/{handoff_id}/messages", body)
    retried = await call(app, "post", f"/api/handoffs/{handoff_id}/messages", body)
    assert (first.status, retried.status) == (202, 202) and retried.json["duplicate"]
    assert [r.text for r in outbox_rows(dbs) if r.kind == "agent"] == ["营业执照复印件需要加盖公章"]


async def test_each_ticket_shows_its_notices_and_their_delivery_state(app: Sanic, dbs: Databases):
    number = dbs.ticket.ticket_no
    changed = await call(app, "post", f"/api/tickets/{number}/steps/资料审核",
                         {"status": "需补充材料", "note": "缺营业执照"})
    assert changed.status == 200
    [notice] = changed.json["ticket"]["notices"]
    assert notice["state"] == "pending" and notice["state_label"] == "待发送"
    assert "缺营业执照" in notice["text"] and notice["step"] == "资料审核"
    listed = await call(app, "get", f"/api/notices?ticket={number}")
    assert [n["id"] for n in listed.json["notices"]] == [notice["id"]]
    assert listed.json["notices"][0]["sender_id"] == SENDER
    refused = await call(app, "post", f"/api/outbox/{notice['id']}/resend")
    assert refused.status == 409  # only failed or uncertain messages are resent
    wrong = await call(app, "get", "/api/notices?state=lost")
    assert wrong.status == 400


async def test_notices_follow_the_opt_out_of_the_conversation_that_opened_the_ticket(
    app: Sanic, dbs: Databases
):
    from bot.outbox.store import OutboxStore

    engine = make_engine(dbs.tickets_url)
    OutboxStore(engine).set_notices("rest", SENDER, False)
    engine.dispose()
    changed = await call(app, "post", f"/api/tickets/{dbs.ticket.ticket_no}/steps/资料审核",
                         {"status": "进行中"})
    [notice] = changed.json["ticket"]["notices"]
    assert notice["state"] == "opted_out" and notice["state_label"] == "商户已关闭通知"
    service = TicketService.from_url(dbs.tickets_url)
    assert service.get_ticket(dbs.ticket.ticket_no).steps[0].status == "进行中"
    service.dispose()


async def test_personal_token_claims_are_marked_verified(app: Sanic, dbs: Databases):
    handoff_id = queue_handoff(dbs)
    reply = await call(app, "post", f"/api/handoffs/{handoff_id}/claim", headers=LI_SI)
    assert reply.json["handoff"]["agent"] == PERSONAL_AGENT
    [entry] = [row for row in audit(dbs) if row.action == "handoffs.claim"]
    assert entry.agent == PERSONAL_AGENT and entry.agent_verified is True
