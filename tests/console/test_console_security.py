"""The console under attack: brute force, CSRF, leaking errors, hostile and SQL-shaped input."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from console_support import HEADERS, MERCHANT, TOKEN, Databases, get
from sanic import Sanic
from sqlalchemy import func, select

from bot.db import make_engine
from bot.tickets import STEPS, TicketService
from bot.tickets.models import Ticket

SQL = [
    "' OR '1'='1",
    "1; DROP TABLE tickets; --",
    "849581058120003' UNION SELECT * FROM console_audit --",
    '"); DELETE FROM tickets; --',
]
HOSTILE = {
    "empty": "", "spaces": "   ", "control": "\x00\x07\x1b[31m", "emoji": "😀😀😀",
    "rtl": "\u202e解绑\u202c", "zero-width": "\u200b", "100KB": "a" * 100_000,
}



def ticket_count(dbs: Databases) -> int:
    engine = make_engine(dbs.tickets_url)
    with engine.connect() as conn:
        count = conn.execute(select(func.count()).select_from(Ticket)).scalar_one()
    engine.dispose()
    return count


async def test_wrong_tokens_lock_the_ip_out_for_the_minute(app: Sanic) -> None:
    for _ in range(10):
        assert (await get(app, "/api/session", {"Authorization": "Bearer guess"})).status == 401
    locked = await get(app, "/api/session", {"Authorization": "Bearer guess"})
    assert locked.status == 429 and "频繁" in locked.json["error"]
    # Even the right token waits: guessing must not pay off.
    assert (await get(app, "/api/session")).status == 429


async def test_right_tokens_are_never_rate_limited(app: Sanic) -> None:
    for _ in range(30):
        assert (await get(app, "/api/session")).status == 200


@pytest.mark.parametrize("path", ["/console", "/console/login", "/api/session", "/api/guide",
                                  "/console/static/console.js", "/api/nope"])
async def test_no_cookie_is_ever_set(app: Sanic, path: str) -> None:
    reply = await get(app, path)
    assert "set-cookie" not in {name.lower() for name in reply.headers}


async def test_a_cross_site_form_post_cannot_change_a_ticket(app: Sanic, dbs: Databases) -> None:
    """A forged form can send neither the bearer token nor X-Agent (no cookie exists)."""
    path = f"/api/tickets/{dbs.ticket.ticket_no}/steps/{quote(STEPS[0])}"
    form = {"content-type": "application/x-www-form-urlencoded"}
    _, forged = await app.asgi_client.post(path, headers=form, content="status=进行中")
    assert forged.status == 401
    no_agent = {"Authorization": f"Bearer {TOKEN}", **form}
    _, partial = await app.asgi_client.post(path, headers=no_agent, content="status=进行中")
    assert partial.status == 400
    service = TicketService.from_url(dbs.tickets_url)
    assert service.get_ticket(dbs.ticket.ticket_no).steps[0].status == "待处理"
    service.dispose()


async def test_an_unexpected_error_leaks_no_internals(
    app: Sanic, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: object) -> None:
        raise RuntimeError("SELECT * FROM tickets WHERE merchant_id = '849581058120003'")

    monkeypatch.setattr(TicketService, "tickets_for_merchant", broken)
    reply = await get(app, f"/api/tickets?merchant={MERCHANT}")
    assert reply.status == 500
    body = reply.body.decode("utf-8", "replace")
    for internal in ("Traceback", "SELECT", "RuntimeError", "tickets_for_merchant", ".py"):
        assert internal not in body
    assert reply.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("path", [
    "/api/nope", "/api/tickets/%ff/steps/x", "/api/conversations/%ff%fe",
    "/console/static/%2e%2e/api.py",
])
async def test_odd_paths_are_clear_errors_without_internals(app: Sanic, path: str) -> None:
    reply = await get(app, path)
    assert 400 <= reply.status < 500
    assert b"Traceback" not in reply.body and b"/bot/" not in reply.body


@pytest.mark.parametrize("value", SQL)
async def test_sql_shaped_parameters_are_rejected_and_harmless(
    app: Sanic, dbs: Databases, value: str
) -> None:
    before = ticket_count(dbs)
    quoted = quote(value, safe="")
    for path in (
        f"/api/tickets?merchant={quoted}", f"/api/tickets?ticket={quoted}",
        f"/api/tickets?phone={quoted}", f"/api/answers?q={quoted}",
        f"/api/conversations/{quoted}",
    ):
        reply = await get(app, path)
        assert reply.status in (200, 400, 404), (path, reply.status)
        if path.startswith("/api/tickets"):
            assert reply.status == 400  # not a merchant / ticket / phone number
    _, step = await app.asgi_client.post(
        f"/api/tickets/{quoted}/steps/{quote(STEPS[0])}", headers=HEADERS,
        content=json.dumps({"status": "进行中", "note": value}),
    )
    assert step.status in (400, 404)
    assert ticket_count(dbs) == before


async def test_sql_shaped_note_is_stored_as_data(app: Sanic, dbs: Databases) -> None:
    note = "'); DROP TABLE tickets; --"
    _, reply = await app.asgi_client.post(
        f"/api/tickets/{dbs.ticket.ticket_no}/steps/{quote(STEPS[0])}", headers=HEADERS,
        content=json.dumps({"status": "进行中", "note": note}),
    )
    assert reply.status == 200
    assert reply.json["ticket"]["steps"][0]["note"] == note
    assert ticket_count(dbs) == 1


@pytest.mark.parametrize("value", HOSTILE.values(), ids=HOSTILE.keys())
async def test_hostile_values_in_every_parameter_get_a_clear_answer(
    app: Sanic, dbs: Databases, value: str
) -> None:
    quoted = quote(value[:20_000], safe="")  # a URL cannot carry 100 KB; the body can
    for path in (f"/api/answers?q={quoted}", f"/api/tickets?merchant={quoted}",
                 f"/api/conversations/{quoted}" if value else "/api/conversations/%20"):
        reply = await get(app, path)
        assert reply.status < 500, (path[:60], reply.status)
        if reply.status >= 400 and reply.status != 414:
            assert reply.json["error"]
    _, reply = await app.asgi_client.post(
        f"/api/tickets/{dbs.ticket.ticket_no}/steps/{quote(STEPS[0])}", headers=HEADERS,
        content=json.dumps({"status": value, "note": value}),
    )
    assert reply.status == 400 and reply.json["error"]


@pytest.mark.parametrize("body", [b"\xff\xfe\x00", b"{", b"[]", b'{"status": 5}', b"null"])
async def test_malformed_bodies_are_400(app: Sanic, dbs: Databases, body: bytes) -> None:
    _, reply = await app.asgi_client.post(
        f"/api/tickets/{dbs.ticket.ticket_no}/steps/{quote(STEPS[0])}", headers=HEADERS,
        content=body,
    )
    assert reply.status == 400 and reply.json["error"]
