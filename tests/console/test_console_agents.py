"""Who and what the audit log records: personal tokens name the agent, a keyed HMAC of
the full merchant or phone number sits next to the masked value, and a step change is
audited in its own transaction."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from console_support import (
    AGENT,
    AUDIT_KEY,
    HEADERS,
    MERCHANT,
    PERSONAL_AGENT,
    PERSONAL_TOKEN,
    PHONE,
    Databases,
    get,
)
from sanic import Sanic
from sqlalchemy.exc import OperationalError

from bot.audit import AuditLog, audit_key, subject_hmac
from bot.paths import ROOT
from bot.tickets import TicketService
from bot.web.console.auth import (
    Credentials,
    Identity,
    add_agent,
    digest,
    parse_agent_tokens,
    parse_agents_file,
)

PERSONAL = {"Authorization": f"Bearer {PERSONAL_TOKEN}"}



def audit_log(dbs: Databases) -> tuple[AuditLog, TicketService]:
    service = TicketService.from_url(dbs.tickets_url)
    return AuditLog(service.engine, AUDIT_KEY.encode()), service


# --- personal tokens --------------------------------------------------------------


async def test_a_personal_token_names_the_agent(app: Sanic, dbs: Databases) -> None:
    reply = await get(app, "/api/session", PERSONAL)  # no X-Agent needed
    assert reply.json == {"agent": PERSONAL_AGENT, "verified": True, "admin": False}
    # The token decides, not the header: 李四 cannot log in as 张三.
    spoof = {**PERSONAL, "X-Agent": quote(AGENT)}
    assert (await get(app, "/api/session", spoof)).json["agent"] == PERSONAL_AGENT
    await get(app, f"/api/tickets?merchant={MERCHANT}", spoof)
    await get(app, f"/api/tickets?merchant={MERCHANT}", HEADERS)  # the shared token
    log, service = audit_log(dbs)
    try:
        rows = list(reversed(log.recent()))
    finally:
        service.dispose()
    assert [(r.agent, r.agent_verified) for r in rows] == [
        (PERSONAL_AGENT, True), (PERSONAL_AGENT, True), (PERSONAL_AGENT, True), (AGENT, False),
    ]


async def advance_first_step(
    app: Sanic, dbs: Databases, body: dict[str, str], headers: dict[str, str] = HEADERS
) -> Any:
    """``POST /api/tickets/<no>/steps/资料审核`` with ``body``; the reply."""
    _, reply = await app.asgi_client.post(
        f"/api/tickets/{dbs.ticket.ticket_no}/steps/{quote('资料审核')}", headers=headers,
        content=json.dumps(body),
    )
    return reply


async def test_a_personal_token_changes_a_step_under_its_name(
    app: Sanic, dbs: Databases
) -> None:
    reply = await advance_first_step(
        app, dbs, {"status": "进行中"}, {**PERSONAL, "X-Agent": quote(AGENT)}
    )
    assert reply.status == 200
    assert reply.json["ticket"]["history"][-1]["actor"] == f"console:{PERSONAL_AGENT}"


def test_credentials_from_the_environment_and_the_agents_file(tmp_path: Path) -> None:
    agents_file = tmp_path / "console-agents"
    agents_file.write_text(f"# name:sha256(token)\n王五:{digest('wang-wu-token-0123456789')}\n",
                           encoding="utf-8")
    env = {"CONSOLE_TOKEN": "shared-token-0123456789",
           "CONSOLE_AGENTS": "李四:li-si-token-0123456789, 赵六:zhao-liu-token-0123456",
           "CONSOLE_AGENTS_FILE": str(agents_file)}
    credentials = Credentials.load(env=env)
    assert credentials.identify("Bearer li-si-token-0123456789") == Identity("李四")
    assert credentials.identify("bearer  wang-wu-token-0123456789") == Identity("王五")
    assert credentials.identify("Bearer shared-token-0123456789") == Identity(None)
    assert not Identity(None).verified and Identity("王五").verified
    for wrong in ("Bearer li-si-token-012345678", "Bearer ", "Basic li-si-token-0123456789",
                  None, f"Bearer {digest('wang-wu-token-0123456789')}"):
        assert credentials.identify(wrong) is None, wrong
    assert "wang-wu-token" not in agents_file.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("agents", "problem"),
    [("李四:short", "too short"), (":li-si-token-0123456789", "bad agent name"),
     ("李四:same-token-0123456789,王五:same-token-0123456789", "configured twice")],
)
def test_bad_agent_tokens_are_refused_at_start(agents: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_agent_tokens(agents)


def test_bad_agents_file_lines_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=":2: expected name:sha256hex"):
        parse_agents_file("# ok\n李四:not-a-hash\n", tmp_path / "agents")


def test_add_agent_command(tmp_path: Path) -> None:
    path = tmp_path / "var" / "console-agents"
    done = subprocess.run(
        [sys.executable, "-m", "bot.web.console.auth", "add-agent", "王五"], cwd=ROOT,
        env={**os.environ, "CONSOLE_AGENTS_FILE": str(path), "PYTHONIOENCODING": "utf-8"},
        capture_output=True, text=True, encoding="utf-8", timeout=60, check=True,
    )
    token = done.stdout.strip().rsplit(": ", 1)[1]
    assert path.stat().st_mode & 0o777 == 0o600
    assert token not in path.read_text(encoding="utf-8")  # only its digest is stored
    second = add_agent("李四", path)
    env = {"CONSOLE_TOKEN": "x" * 20, "CONSOLE_AGENTS_FILE": str(path)}
    credentials = Credentials.load(env=env)
    assert credentials.identify(f"Bearer {token}") == Identity("王五")
    assert credentials.identify(f"Bearer {second}") == Identity("李四")


# --- HMAC of the full merchant / phone number -------------------------------------


async def test_lookups_of_one_merchant_can_be_found_without_storing_it(
    app: Sanic, dbs: Databases
) -> None:
    await get(app, f"/api/tickets?merchant={quote('849 581 058 120 003')}", HEADERS)
    await get(app, f"/api/tickets?phone={PHONE}", PERSONAL)
    await get(app, "/api/tickets?merchant=849581058120004", HEADERS)  # same mask, other one
    await get(app, "/api/guide", HEADERS)
    log, service = audit_log(dbs)
    try:
        merchant_rows = log.lookups_of("merchant", MERCHANT)
        phone_rows = log.lookups_of("phone", PHONE)
        everything = log.recent()
    finally:
        service.dispose()
    assert [(r.agent, r.params) for r in merchant_rows] == [
        (AGENT, {"merchant": "849581******003"})
    ]
    assert [(r.agent, r.params) for r in phone_rows] == [(PERSONAL_AGENT, {"phone": "138****5678"})]
    expected = hmac_hex("merchant", MERCHANT)
    assert merchant_rows[0].subject_hmac == expected
    assert everything[0].subject_hmac is None  # the guide names nobody
    assert everything[1].subject_hmac != expected  # 849581******004 masks the same way
    stored = json.dumps([r.__dict__ for r in everything], default=str)
    assert MERCHANT not in stored and PHONE not in stored
    # Without the key the HMAC reveals nothing: a plain hash of the number is not it.
    assert hashlib.sha256(f"merchant:{MERCHANT}".encode()).hexdigest() != expected
    assert subject_hmac(b"another key", "merchant", MERCHANT) != expected


def hmac_hex(kind: str, value: str) -> str:
    import hmac

    return hmac.new(AUDIT_KEY.encode(), f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


def test_audit_key_from_the_environment_or_generated_once(tmp_path: Path) -> None:
    assert audit_key({"AUDIT_HMAC_KEY": "k" * 32}) == b"k" * 32
    path = tmp_path / "var" / "audit-key"
    env = {"AUDIT_HMAC_KEY_FILE": str(path)}
    key = audit_key(env)
    assert len(key) >= 40 and path.stat().st_mode & 0o777 == 0o600
    assert audit_key(env) == key
    assert not [p for p in path.parent.iterdir() if p.name != "audit-key"]  # no draft left


def test_lookups_of_refuses_other_kinds(dbs: Databases) -> None:
    log, service = audit_log(dbs)
    try:
        with pytest.raises(ValueError, match="kind"):
            log.lookups_of("ticket", "UB-20250101-0001")
    finally:
        service.dispose()


# --- a step change and its audit row: one transaction -----------------------------


async def test_a_step_change_is_audited_exactly_once(app: Sanic, dbs: Databases) -> None:
    reply = await advance_first_step(app, dbs, {"status": "进行中", "note": "已收到"})
    assert reply.status == 200
    log, service = audit_log(dbs)
    try:
        rows = log.recent()
    finally:
        service.dispose()
    assert [(r.action, r.status, r.result_count) for r in rows] == [("tickets.advance", 200, 1)]
    assert rows[0].params["note"] == "已收到"


async def test_no_step_change_without_its_audit_row(
    app: Sanic, dbs: Databases, monkeypatch: pytest.MonkeyPatch
) -> None:
    def audit_fails(*_: object, **__: object) -> None:
        raise OperationalError("INSERT INTO console_audit", {}, Exception("disk I/O error"))

    monkeypatch.setattr(AuditLog, "record_in", audit_fails)
    reply = await advance_first_step(app, dbs, {"status": "需补充材料", "note": "缺营业执照副本"})
    assert reply.status == 503
    log, service = audit_log(dbs)
    try:
        ticket = service.get_ticket(dbs.ticket.ticket_no)
        history = service.history(dbs.ticket.ticket_no)
        rows = log.recent()
    finally:
        service.dispose()
    assert ticket is not None and ticket.steps[0].status == "待处理"  # rolled back
    assert [e.new_status for e in history] == ["open"]
    assert [(r.action, r.status) for r in rows] == [("tickets.advance", 503)]


def test_advance_step_hook_runs_in_the_transaction(dbs: Databases) -> None:
    service = TicketService.from_url(dbs.tickets_url)
    try:
        def boom(_session: object) -> None:
            raise RuntimeError("hook failed")

        with pytest.raises(RuntimeError, match="hook failed"):
            service.advance_step(dbs.ticket.ticket_no, "资料审核", "已完成", also=boom)
        ticket = service.get_ticket(dbs.ticket.ticket_no)
        assert ticket is not None and ticket.steps[0].status == "待处理"
    finally:
        service.dispose()
