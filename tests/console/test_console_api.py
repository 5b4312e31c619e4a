"""The console API in process: auth, validation, tickets, audit, transcripts, headers."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from urllib.parse import quote

import pytest
from console_support import (
    AGENT,
    HEADERS,
    MERCHANT,
    PHONE,
    SENDER,
    TOKEN,
    Databases,
    audit_rows,
    get,
)
from sanic import Sanic

from bot.tickets import TicketService
from bot.web.console import api
from bot.web.console.auth import agent_name, console_token, token_matches

API_GETS = [
    "/api/session",
    "/api/answers?q=F1",
    f"/api/tickets?merchant={MERCHANT}",
    f"/api/conversations/{SENDER}",
    "/api/conversations?ticket=UB-20250101-0001",
    "/api/guide",
    "/api/openapi.json",
]
UNKNOWN = ["/api/nope", "/api/tickets/x", "/api/", "/api/tickets/UB-20250101-0001/steps"]



async def post_step(app: Sanic, ticket_no: str, step: str, body: object):
    path = f"/api/tickets/{quote(ticket_no)}/steps/{quote(step)}"
    data = body if isinstance(body, str) else json.dumps(body)
    _, reply = await app.asgi_client.post(path, headers=HEADERS, content=data)
    return reply


# --- auth -------------------------------------------------------------------------


@pytest.mark.parametrize("path", API_GETS + UNKNOWN)
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


@pytest.mark.parametrize("auth", [f"Bearer {TOKEN}x", f"Basic {TOKEN}"])
@pytest.mark.parametrize("path", UNKNOWN)
async def test_unknown_api_paths_need_the_token_too(app: Sanic, path: str, auth: str) -> None:
    """The API's route map cannot be probed without a token: 401 before 404."""
    reply = await get(app, path, headers={"Authorization": auth})
    assert reply.status == 401 and reply.content == b""


@pytest.mark.parametrize("path", UNKNOWN)
async def test_unknown_api_path_with_the_token_is_a_json_404(app: Sanic, path: str) -> None:
    reply = await get(app, path)
    assert reply.status == 404
    assert reply.headers["content-type"].startswith("application/json")
    assert reply.json == {"error": "没有这个接口，见 /api/openapi.json"}
    assert reply.headers["cache-control"] == "no-store"
    assert reply.headers["x-content-type-options"] == "nosniff"


async def test_unknown_page_outside_the_api_is_still_sanics_404(app: Sanic) -> None:
    reply = await get(app, "/console/nope", headers={})
    assert reply.status == 404 and "application/json" not in reply.headers["content-type"]


@pytest.mark.parametrize("path", API_GETS)
async def test_right_token_is_200(app: Sanic, dbs: Databases, path: str) -> None:
    reply = await get(app, path.replace("UB-20250101-0001", dbs.ticket.ticket_no))
    assert reply.status == 200, reply.text


async def test_agent_name_is_required(app: Sanic) -> None:
    reply = await get(app, "/api/session", headers={"Authorization": f"Bearer {TOKEN}"})
    assert reply.status == 400
    assert "坐席姓名" in reply.json["error"]
    reply = await get(app, "/api/session")
    assert reply.json == {"agent": AGENT, "verified": False, "admin": False}


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
    for mark in ("\u202e", "\u200f", "\u2066", "\ufeff", "\u200b"):
        assert agent_name(quote(f"李{mark}四")) is None


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


RANKING = {
    "intent": {"name": "faq_about_pos", "confidence": 0.9},
    "intent_ranking": [
        {"name": "faq_about_pos", "confidence": 0.9},
        {"name": "greet", "confidence": 0.06},
        {"name": "faq_funds", "confidence": 0.04},
    ],
}


async def test_answers_fuse_the_nlu_ranking(app: Sanic, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rasa's ranking reorders the hits; each hit says how confident the NLU was."""
    calls = []

    async def parse(http: object, url: str, text: str, timeout: float) -> dict:
        calls.append((url, text, timeout))
        return RANKING

    plain = (await get(app, "/api/answers?q=" + quote("钱"))).json
    monkeypatch.setattr(api, "parse_with_rasa", parse)
    body = (await get(app, "/api/answers?q=" + quote("钱"))).json
    assert calls == [("http://127.0.0.1:9", "钱", api.NLU_TIMEOUT)]
    assert body["nlu"] == {"available": True, "intent": "faq_about_pos", "confidence": 0.9,
                           "message": None}
    assert plain["hits"][0]["topic"] == "funds"  # BM25 alone
    order = [h["topic"] for h in body["hits"]]
    assert order[:2] == ["funds", "about_pos"]  # the NLU lifted about_pos from nowhere
    assert "about_pos" not in [h["topic"] for h in plain["hits"]]
    by_topic = {h["topic"]: h for h in body["hits"]}
    assert by_topic["about_pos"]["nlu_confidence"] == 0.9
    assert by_topic["about_pos"]["matched_terms"] == [] and by_topic["about_pos"]["bm25"] == 0
    assert by_topic["funds"]["nlu_confidence"] == 0.04
    assert all(by_topic[t]["nlu_confidence"] is None for t in order if t not in RANKING_TOPICS)
    assert by_topic["about_pos"]["score"] == pytest.approx(0.5 * 0.9, abs=1e-3)
    assert by_topic["funds"]["score"] == pytest.approx(0.5 * 1 + 0.5 * 0.04, abs=1e-3)
    scores = [h["score"] for h in body["hits"]]
    assert scores == sorted(scores, reverse=True)


RANKING_TOPICS = {"about_pos", "funds"}


async def test_answers_call_rasa_and_fall_back_to_bm25_on_timeout(app: Sanic) -> None:
    """A real HTTP round trip to a stand-in for Rasa: answered, then too slow."""
    from aiohttp import web

    seen: list[str] = []
    release = asyncio.Event()

    async def parse(request: web.Request) -> web.Response:
        text = (await request.json())["text"]
        seen.append(text)
        if text == "审核几天":
            await release.wait()  # far longer than the console waits
        return web.json_response({**RANKING, "text": text})

    rasa = web.Application()
    rasa.router.add_post("/model/parse", parse)
    runner = web.AppRunner(rasa)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    app.config.RASA_URL = f"http://127.0.0.1:{port}"
    ctx = app.ctx.console
    ctx.nlu_timeout = 0.2
    try:
        fast = (await get(app, "/api/answers?q=" + quote("钱"))).json
        slow = (await get(app, "/api/answers?q=" + quote("审核几天"))).json
        again = (await get(app, "/api/answers?q=" + quote("钱"))).json
    finally:
        release.set()
        await runner.cleanup()
    assert seen == ["钱", "审核几天", "钱"]
    assert fast["nlu"]["available"] and fast["nlu"]["intent"] == "faq_about_pos"
    assert again["hits"] == fast["hits"]
    assert slow["nlu"]["available"] is False and "BM25" in slow["nlu"]["message"]
    assert slow["hits"][0]["topic"] == "audit" and slow["hits"][0]["nlu_confidence"] is None
    assert isinstance(slow["took_ms"], float)


async def test_one_http_session_serves_every_call_until_the_server_stops(app: Sanic) -> None:
    ctx = app.ctx.console
    first = ctx.http_session()
    assert ctx.http_session() is first and not first.closed
    await ctx.close()  # the blueprint's after_server_stop listener
    assert first.closed and ctx.http is None
    assert ctx.http_session() is not first


def test_nlu_timeout_fits_the_budget_and_can_be_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    assert api.NLU_TIMEOUT < 0.1  # the answer must come back within 100 ms
    monkeypatch.delenv("CONSOLE_NLU_TIMEOUT", raising=False)
    assert api.nlu_timeout() == api.NLU_TIMEOUT
    monkeypatch.setenv("CONSOLE_NLU_TIMEOUT", "0.5")
    assert api.nlu_timeout() == 0.5


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
        ("merchant=", "商户号不能为空"),
        ("phone=%20%20", "手机号不能为空"),
        ("ticket=", "工单号不能为空"),
        ("", "请只填写一项"),
        ("merchant=&phone=", "请只填写一项"),
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


# --- guide ------------------------------------------------------------------------


async def test_guide(app: Sanic) -> None:
    body = (await get(app, "/api/guide")).json
    titles = [h["title"] for h in body["headings"]]
    assert "五、完成解绑流程" in titles and "(一)准备工作" in titles
    assert all(body["text"][h["start"] : h["end"]] == h["title"] for h in body["headings"])


async def test_openapi_lists_every_route(app: Sanic) -> None:
    spec = (await get(app, "/api/openapi.json")).json
    assert spec["openapi"].startswith("3.")
    routes = {
        "/" + re.sub(r"<([a-z_]+)(:[a-z]+)?>", r"{\1}", route.path)
        for route in app.router.routes if route.path.startswith("api/")
    }
    assert routes == set(spec["paths"])
    assert "/api/conversations" in routes and "/api/tickets/{ticket_no}/steps/{step}" in routes


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
