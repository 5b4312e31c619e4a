"""The console API in process: conversations (transcripts), by sender and by ticket."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest
from console_support import SECRET_TEXT, SENDER, WECOM_SENDER, Databases, audit_rows, get
from sanic import Sanic

from bot.redaction import MASK
from bot.tickets import TicketService

# --- conversations ----------------------------------------------------------------


async def test_transcript(app: Sanic, dbs: Databases) -> None:
    reply = await get(app, f"/api/conversations/{SENDER}")
    body = reply.json
    assert reply.status == 200
    assert body["channel"] == "web" and body["channel_label"] == "网页"
    assert body["tickets"] == [dbs.ticket.ticket_no] and body["truncated"] is False
    speakers = [t["speaker"] for t in body["turns"]]
    assert speakers == ["user", "bot", "user", "bot"]
    first = body["turns"][0]
    assert (first["text"], first["intent"]) == ("要带什么证件", "faq_materials")
    assert first["confidence"] == 0.93
    assert body["turns"][1]["buttons"] == [{"title": "解绑的八个步骤", "payload": "/faq_process"}]
    assert SECRET_TEXT not in reply.text and "123456" not in reply.text
    assert MASK in body["turns"][2]["text"]


@pytest.mark.parametrize(
    ("sender", "channel", "label"),
    [("wx:account:openid-1", "wechat", "微信公众号"), (WECOM_SENDER, "wecom", "企业微信")],
)
async def test_wechat_and_wecom_transcript_channels(
    app: Sanic, sender: str, channel: str, label: str
) -> None:
    reply = await get(app, "/api/conversations/" + quote(sender, safe=""))
    assert reply.status == 200
    assert (reply.json["channel"], reply.json["channel_label"]) == (channel, label)
    assert {t["channel"] for t in reply.json["turns"] if t["speaker"] == "user"} == {channel}
    assert reply.json["tickets"] == [] and reply.json["truncated"] is False


async def test_unknown_conversation_is_404(app: Sanic) -> None:
    reply = await get(app, "/api/conversations/nobody")
    assert reply.status == 404 and reply.json["error"] == "找不到这个会话的记录"


async def test_transcript_reader_does_not_write(dbs: Databases, tmp_path: Path) -> None:
    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError

    from bot.web.console.conversations import read_only_engine

    engine = read_only_engine(dbs.tracker_url)
    with pytest.raises(OperationalError, match="readonly"), engine.begin() as conn:
        conn.execute(text("DELETE FROM events"))
    missing = read_only_engine(f"sqlite:///{tmp_path / 'missing.db'}")
    from bot.web.console.conversations import TranscriptReader

    assert TranscriptReader(missing).transcript("x") == []
    assert not (tmp_path / "missing.db").exists()


# --- conversations by ticket, newest turns ----------------------------------------


@pytest.mark.parametrize("form", ["{no}", "{no_lower}"])
async def test_conversation_of_a_ticket(app: Sanic, dbs: Databases, form: str) -> None:
    no = dbs.ticket.ticket_no
    number = form.format(no=no, no_lower=no.lower().replace("-", ""))
    reply = await get(app, "/api/conversations?ticket=" + quote(number))
    assert reply.status == 200, reply.text
    body = reply.json
    assert body["sender_id"] == SENDER and body["tickets"] == [no]
    assert [t["speaker"] for t in body["turns"]] == ["user", "bot", "user", "bot"]
    assert "123456" not in reply.text
    row = audit_rows(dbs)[0]
    assert (row.action, row.params) == ("conversations.read", {"ticket": no, "sender": SENDER})
    assert row.result_count == 4


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ("ticket=UB-20250101-9999", 404, "找不到工单 UB-20250101-9999"),
        ("ticket=XX-1", 400, "工单号应以UB开头"),
        ("ticket=", 400, "工单号不能为空"),
        ("", 400, "请填写工单号"),
        ("ticket=UB-20250101-9999&sender=x", 400, "请填写工单号"),
    ],
)
async def test_conversation_of_a_ticket_is_validated(
    app: Sanic, query: str, status: int, message: str
) -> None:
    reply = await get(app, f"/api/conversations?{query}")
    assert reply.status == status
    assert message in reply.json["error"]


async def test_anonymised_ticket_has_no_conversation(app: Sanic, dbs: Databases) -> None:
    from datetime import datetime, timedelta, timezone

    service = TicketService.from_url(dbs.tickets_url)
    try:
        service.cancel_ticket(dbs.ticket.ticket_no, "test")
        service.anonymise_closed(datetime.now(timezone.utc) + timedelta(days=1))
    finally:
        service.dispose()
    reply = await get(app, f"/api/conversations?ticket={dbs.ticket.ticket_no}")
    assert reply.status == 404 and "没有关联的会话" in reply.json["error"]


@pytest.mark.parametrize(("limit", "truncated"), [(3, True), (4, False), (50, False)])
async def test_long_conversations_show_the_newest_turns(
    app: Sanic, limit: int, truncated: bool
) -> None:
    app.ctx.console.max_turns = limit
    body = (await get(app, f"/api/conversations/{SENDER}")).json
    assert body["truncated"] is truncated
    texts = [t["text"] for t in body["turns"]]
    assert len(texts) == min(limit, 4)
    assert texts[-1] == "密码只在POS机上输入，请不要发给任何人。"  # the newest is kept
    if truncated:
        assert "要带什么证件" not in texts  # the oldest is the one left out


async def test_privacy_export_reader_still_gets_every_turn(dbs: Databases) -> None:
    from bot.web.console.conversations import TranscriptReader, read_only_engine

    reader = TranscriptReader(read_only_engine(dbs.tracker_url))
    assert len(reader.transcript(SENDER)) == 4
    assert reader.last(SENDER, 1).truncated and len(reader.last(SENDER, 1).turns) == 1
