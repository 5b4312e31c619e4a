"""The console API in process: auth, validation, tickets, audit, transcripts, headers."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

import pytest
from console_support import AGENT, HEADERS, MERCHANT, PHONE, SECRET_TEXT, SENDER, TOKEN, Databases
from sanic import Sanic

from bot.audit import AuditLog
from bot.redaction import MASK
from bot.tickets import TicketService
from bot.web.console.auth import agent_name, console_token, token_matches

API_GETS = [
    "/api/session",
    "/api/answers?q=F1",
    f"/api/tickets?merchant={MERCHANT}",
    f"/api/conversations/{SENDER}",
    "/api/guide",
    "/api/openapi.json",
]


async def get(app: Sanic, path: str, headers: dict[str, str] | None = None):
    _, reply = await app.asgi_client.get(path, headers=HEADERS if headers is None else headers)
    return reply


async def post_step(app: Sanic, ticket_no: str, step: str, body: object):
    path = f"/api/tickets/{quote(ticket_no)}/steps/{quote(step)}"
    data = body if isinstance(body, str) else json.dumps(body)
    _, reply = await app.asgi_client.post(path, headers=HEADERS, content=data)
    return reply


def audit_rows(dbs: Databases):
    service = TicketService.from_url(dbs.tickets_url)
    try:
        return AuditLog(service.engine).recent()
    finally:
        service.dispose()


# --- auth -------------------------------------------------------------------------


@pytest.mark.parametrize("path", API_GETS)
async def test_no_token_is_401_and_nothing_else(app: Sanic, path: str) -> None:
    reply = await get(app, path, headers={})
    assert reply.status == 401
    assert reply.content == b""
    assert reply.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("auth", [f"Bearer {TOKEN}x", "Bearer ", f"Basic {TOKEN}", TOKEN])
async def test_wrong_token_is_401(app: Sanic, auth: str) -> None:
    reply = await get(app, "/api/tickets?merchant=" + MERCHANT, headers={"Authorization": auth})
    assert reply.status == 401
    assert reply.content == b""


@pytest.mark.parametrize("path", API_GETS)
async def test_right_token_is_200(app: Sanic, path: str) -> None:
    reply = await get(app, path)
    assert reply.status == 200, reply.text


async def test_agent_name_is_required(app: Sanic) -> None:
    reply = await get(app, "/api/session", headers={"Authorization": f"Bearer {TOKEN}"})
    assert reply.status == 400
    assert "坐席姓名" in reply.json["error"]
    reply = await get(app, "/api/session")
    assert reply.json == {"agent": AGENT}


def test_token_helpers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CONSOLE_TOKEN", raising=False)
    path = tmp_path / "var" / "console-token"
    token = console_token(path)
    assert len(token) >= 40
    assert path.stat().st_mode & 0o777 == 0o600
    assert console_token(path) == token  # generated once
    monkeypatch.setenv("CONSOLE_TOKEN", "from-env")
    assert console_token(path) == "from-env"
    assert token_matches("Bearer from-env", "from-env")
    assert token_matches("bearer  from-env", "from-env")
    assert not token_matches("Bearer from-env2", "from-env")
    assert not token_matches(None, "from-env")
    assert agent_name("%E6%9D%8E%E5%9B%9B") == "李四"
    assert agent_name("") is None
    assert agent_name("a%0Ab") is None
    assert agent_name("x" * 33) is None


# --- headers ----------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/console", "/console/login", "/console/static/console.js",
                                  "/api/guide"])
async def test_security_headers(app: Sanic, path: str) -> None:
    reply = await get(app, path)
    assert reply.status == 200
    assert reply.headers["content-security-policy"] == (
        "default-src 'self'; script-src 'self'; frame-ancestors 'none'"
    )
    assert reply.headers["x-content-type-options"] == "nosniff"
    assert reply.headers["referrer-policy"] == "no-referrer"


async def test_pages_have_no_inline_script(app: Sanic) -> None:
    for page in ("/console", "/console/login"):
        html = (await get(app, page, headers={})).text
        assert "<script>" not in html and "onclick" not in html
        assert "http://" not in html and "https://" not in html  # no CDN


# --- answers ----------------------------------------------------------------------


async def test_answer_search_degrades_to_bm25(app: Sanic) -> None:
    reply = await get(app, "/api/answers?q=" + quote("要带什么证件"))
    body = reply.json
    assert reply.status == 200
    assert body["nlu"]["available"] is False and "BM25" in body["nlu"]["message"]
    top = body["hits"][0]
    assert top["topic"] == "materials"
    assert top["matched_terms"] and top["nlu_confidence"] is None
    guide = (await get(app, "/api/guide")).json["text"]
    passage = top["passages"][0]
    assert guide[passage["start"] : passage["end"]] == passage["text"]
    spans = [s for p in top["passages"] for s in p["highlights"]]
    assert spans
    assert all(guide[a:b].lower() in top["matched_terms"] for a, b in spans)


async def test_answers_render_contacts(app: Sanic, monkeypatch: pytest.MonkeyPatch) -> None:
    body = (await get(app, "/api/answers?q=" + quote("客服电话"))).json
    hit = next(h for h in body["hits"] if h["topic"] == "contact_support")
    assert "{hotline}" not in hit["answer"][0] and "官方客服热线" in hit["answer"][0]


@pytest.mark.parametrize("q", ["", "   ", "x" * 201])
async def test_answer_query_is_validated(app: Sanic, q: str) -> None:
    reply = await get(app, "/api/answers?q=" + quote(q))
    assert reply.status == 400
    assert reply.json["error"].startswith("请输入")


# --- tickets ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [f"merchant={MERCHANT}", "merchant=" + quote("849 581 058 120 003"), f"phone={PHONE}",
     "phone=" + quote("+86 138-1234-5678"), "ticket={no}", "ticket={no_lower}"],
)
async def test_ticket_lookup(app: Sanic, dbs: Databases, query: str) -> None:
    no = dbs.ticket.ticket_no
    query = query.format(no=no, no_lower=no.lower().replace("-", ""))
    reply = await get(app, f"/api/tickets?{query}")
    assert reply.status == 200
    (ticket,) = reply.json["tickets"]
    assert ticket["ticket_no"] == no
    assert [s["name"] for s in ticket["steps"]][0] == "资料审核" and len(ticket["steps"]) == 8
    assert ticket["sender_id"] == SENDER
    assert ticket["history"][0]["new_status"] == "open"


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("merchant=12345", "商户号应为15位数字"),
        ("merchant=abc", "商户号只能包含数字"),
        ("phone=12345", "手机号应为11位数字"),
        ("ticket=XX-1", "工单号应以UB开头"),
        ("", "请只填写一项"),
        (f"merchant={MERCHANT}&phone={PHONE}", "请只填写一项"),
    ],
)
async def test_ticket_lookup_is_validated(app: Sanic, query: str, message: str) -> None:
    reply = await get(app, f"/api/tickets?{query}")
    assert reply.status == 400
    assert message in reply.json["error"]


async def test_unknown_merchant_has_no_tickets(app: Sanic) -> None:
    reply = await get(app, "/api/tickets?merchant=849581058129999")
    assert reply.status == 200 and reply.json == {"tickets": []}


async def test_advance_step_is_seen_by_the_ticket_service(app: Sanic, dbs: Databases) -> None:
    no = dbs.ticket.ticket_no
    reply = await post_step(app, no, "资料审核", {"status": "需补充材料", "note": "缺营业执照副本"})
    assert reply.status == 200, reply.text
    assert reply.json["ticket"]["steps"][0]["status"] == "需补充材料"
    service = TicketService.from_url(dbs.tickets_url)
    try:
        ticket = service.get_ticket(no)
        history = service.history(no)
    finally:
        service.dispose()
    assert ticket is not None
    assert (ticket.steps[0].status, ticket.steps[0].note) == ("需补充材料", "缺营业执照副本")
    assert history[-1].actor == f"console:{AGENT}"
    reply = await post_step(app, no, "资料审核", {"status": "已完成"})
    assert reply.status == 200
    assert reply.json["ticket"]["current_step"] == "账户冻结"


@pytest.mark.parametrize(
    ("step", "body", "message"),
    [
        ("不存在的步骤", {"status": "已完成"}, "未知步骤"),
        ("资料审核", {"status": "飞了"}, "未知状态"),
        ("资料审核", {"status": "已取消"}, "只能通过取消工单"),
        ("资料审核", {}, "status 和 note 必须是文字"),
        ("资料审核", {"status": "已完成", "note": 5}, "status 和 note 必须是文字"),
        ("资料审核", {"status": "已完成", "note": "x" * 2001}, "备注最多2000字"),
        ("资料审核", "not json", "请求内容应为JSON"),
        ("资料审核", "[1]", "请求内容应为JSON对象"),
    ],
)
async def test_advance_step_is_validated(
    app: Sanic, dbs: Databases, step: str, body: object, message: str
) -> None:
    reply = await post_step(app, dbs.ticket.ticket_no, step, body)
    assert reply.status == 400
    assert message in reply.json["error"]


async def test_advance_step_errors(app: Sanic, dbs: Databases) -> None:
    reply = await post_step(app, "UB-20250101-9999", "资料审核", {"status": "进行中"})
    assert reply.status == 404
    reply = await post_step(app, "not-a-ticket", "资料审核", {"status": "进行中"})
    assert reply.status == 400
    reply = await post_step(app, dbs.ticket.ticket_no, "正式解绑", {"status": "已完成"})
    assert reply.status == 409 and "请先完成" in reply.json["error"]
    service = TicketService.from_url(dbs.tickets_url)
    service.cancel_ticket(dbs.ticket.ticket_no, "test")
    service.dispose()
    reply = await post_step(app, dbs.ticket.ticket_no, "资料审核", {"status": "进行中"})
    assert reply.status == 409 and "不能再修改" in reply.json["error"]


# --- audit ------------------------------------------------------------------------


async def test_lookups_and_changes_are_audited_with_masking(app: Sanic, dbs: Databases) -> None:
    await get(app, f"/api/tickets?merchant={MERCHANT}")
    await get(app, f"/api/tickets?phone={PHONE}")
    await get(app, "/api/answers?q=" + quote(f"商户{MERCHANT}要带什么证件"))
    await post_step(app, dbs.ticket.ticket_no, "资料审核", {"status": "进行中", "note": "已收到"})
    await get(app, f"/api/conversations/{SENDER}")
    await get(app, "/api/tickets?merchant=123")
    await get(app, "/api/tickets?merchant=1", headers={})  # no token: not audited
    rows = list(reversed(audit_rows(dbs)))
    assert [r.action for r in rows] == [
        "tickets.lookup", "tickets.lookup", "answers.search", "tickets.advance",
        "conversations.read", "tickets.lookup",
    ]
    assert {r.agent for r in rows} == {AGENT}
    assert rows[0].params == {"merchant": "849581******003"} and rows[0].result_count == 1
    assert rows[1].params == {"phone": "138****5678"}
    assert MERCHANT not in rows[2].params["q"] and "849581******003" in rows[2].params["q"]
    assert rows[3].params["status"] == "进行中" and rows[3].result_count == 1
    assert rows[4].result_count == 4
    assert rows[5].status == 400
    assert all(r.created_at.tzinfo is not None for r in rows)


# --- conversations ----------------------------------------------------------------


async def test_transcript(app: Sanic, dbs: Databases) -> None:
    reply = await get(app, f"/api/conversations/{SENDER}")
    body = reply.json
    assert reply.status == 200
    assert body["channel"] == "web" and body["channel_label"] == "网页"
    assert body["tickets"] == [dbs.ticket.ticket_no]
    speakers = [t["speaker"] for t in body["turns"]]
    assert speakers == ["user", "bot", "user", "bot"]
    first = body["turns"][0]
    assert (first["text"], first["intent"]) == ("要带什么证件", "faq_materials")
    assert first["confidence"] == 0.93
    assert body["turns"][1]["buttons"] == [{"title": "解绑的八个步骤", "payload": "/faq_process"}]
    assert SECRET_TEXT not in reply.text and "123456" not in reply.text
    assert MASK in body["turns"][2]["text"]


async def test_wechat_transcript_channel(app: Sanic) -> None:
    reply = await get(app, "/api/conversations/" + quote("wx:account:openid-1", safe=""))
    assert reply.status == 200
    assert (reply.json["channel"], reply.json["channel_label"]) == ("wechat", "微信公众号")
    assert reply.json["tickets"] == []


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


# --- guide ------------------------------------------------------------------------


async def test_guide(app: Sanic) -> None:
    body = (await get(app, "/api/guide")).json
    titles = [h["title"] for h in body["headings"]]
    assert "五、完成解绑流程" in titles and "(一)准备工作" in titles
    assert all(body["text"][h["start"] : h["end"]] == h["title"] for h in body["headings"])


async def test_openapi_lists_every_route(app: Sanic) -> None:
    spec = (await get(app, "/api/openapi.json")).json
    assert spec["openapi"].startswith("3.")
    assert {"/api/answers", "/api/tickets", "/api/tickets/{ticket_no}/steps/{step}",
            "/api/conversations/{sender_id}", "/api/guide"} <= set(spec["paths"])


# --- regressions found by Schemathesis --------------------------------------------


async def test_wrong_method_is_405_with_allow_header(app: Sanic) -> None:
    """Sanic's own 405 had no ``Allow`` header (JSON error format) and skipped the auth."""
    _, reply = await app.asgi_client.put("/api/guide", headers=HEADERS)
    assert reply.status == 405
    assert reply.headers["allow"] == "GET"
    assert reply.json["error"] == "不支持 PUT 方法"
    assert reply.headers["x-content-type-options"] == "nosniff"
    _, reply = await app.asgi_client.delete("/api/tickets/UB-20250101-0001/steps/x")
    assert reply.status == 401 and reply.content == b""
