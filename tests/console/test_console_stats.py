"""The 统计 page's API: admin agents only, every table, filters, CSV equal to the table."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from console_support import HEADERS, PERSONAL_AGENT, PERSONAL_TOKEN, TOKEN, Databases, get
from sanic import Sanic

from bot.analytics.report import TABLES, cell
from bot.audit import AuditLog
from bot.db import make_engine
from bot.paths import ROOT
from bot.web.console.auth import (
    Agent,
    Credentials,
    Identity,
    add_agent,
    parse_agent_tokens,
    parse_agents_file,
)
from bot.web.console.routes import build_context, console_blueprint

ADMIN_TOKEN = "wang-admin-token-0123456789"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
PERSONAL = {"Authorization": f"Bearer {PERSONAL_TOKEN}"}


@pytest.fixture
async def stats_app(dbs: Databases) -> AsyncIterator[Sanic]:
    """The console with the shared token, 李四 (an agent) and 王五 (an admin)."""
    agents = parse_agent_tokens(
        f"{PERSONAL_AGENT}:{PERSONAL_TOKEN},王五:{ADMIN_TOKEN}:admin")
    ctx = build_context(database_url=dbs.tickets_url, tracker_store_url=dbs.tracker_url,
                        credentials=Credentials(TOKEN, agents))
    app = Sanic(f"stats_test_{os.urandom(4).hex()}")
    app.config.RASA_URL = "http://127.0.0.1:9"
    app.blueprint(console_blueprint(ctx))
    yield app
    await ctx.close()
    ctx.tickets.dispose()



async def test_only_admins_see_the_statistics(stats_app: Sanic, dbs: Databases) -> None:
    for path in ("/api/stats", "/api/stats/daily.csv"):
        assert (await get(stats_app, path, {})).status == 401
        for headers in (HEADERS, PERSONAL):
            reply = await get(stats_app, path, headers)
            assert reply.status == 403 and "管理员" in reply.json["error"]
    assert (await get(stats_app, "/api/session", PERSONAL)).json["admin"] is False
    assert (await get(stats_app, "/api/session", HEADERS)).json["admin"] is False
    assert (await get(stats_app, "/api/session", ADMIN)).json == {
        "agent": "王五", "verified": True, "admin": True}
    engine = make_engine(dbs.tickets_url)
    try:
        rows = AuditLog(engine).recent()
    finally:
        engine.dispose()
    refused = [r for r in rows if r.action.startswith("stats.")]
    assert {(r.agent, r.status) for r in refused} == {("李四", 403), ("张三", 403)}


async def test_admin_gets_every_table_for_the_filters(stats_app: Sanic) -> None:
    reply = await get(stats_app, "/api/stats", ADMIN)
    assert reply.status == 200
    tables = {t["key"]: t for t in reply.json["tables"]}
    assert tuple(tables) == TABLES
    today = tables["daily"]["rows"][-1]
    assert today[1:3] == [3, 6]  # three conversations (web, WeChat, WeCom), two turns each
    assert tables["topics"]["rows"][0][1:] == ["faq_materials", 3, 3]
    assert any("证件" in t or "材料" in t or "资料" in t for t in (tables["topics"]["rows"][0][0],))
    wechat = await get(stats_app, "/api/stats?channel=wechat", ADMIN)
    assert wechat.json["tables"][0]["rows"][-1][1:3] == [1, 2]
    assert wechat.json["filters"]["channel"] == "wechat"
    old = await get(stats_app, "/api/stats?from=2020-01-01&to=2020-01-02", ADMIN)
    assert [r[1] for r in old.json["tables"][0]["rows"]] == [0, 0]


@pytest.mark.parametrize("query", [
    "from=2026-13-01", "from=2026-12-05&to=2026-12-01", "from=2020-01-01&to=2026-01-01",
    "channel=fax",
])
async def test_bad_filters_get_a_chinese_400(stats_app: Sanic, query: str) -> None:
    reply = await get(stats_app, f"/api/stats?{query}", ADMIN)
    assert reply.status == 400 and reply.json["error"]


async def test_each_csv_equals_its_table(stats_app: Sanic) -> None:
    page = (await get(stats_app, "/api/stats?channel=web", ADMIN)).json
    for table in page["tables"]:
        reply = await get(stats_app, f"/api/stats/{table['key']}.csv?channel=web", ADMIN)
        assert reply.status == 200 and reply.headers["content-type"].startswith("text/csv")
        assert f"stats-{table['key']}-" in reply.headers["content-disposition"]
        body = reply.body.decode("utf-8")
        assert body.startswith("\ufeff")
        parsed = list(csv.reader(io.StringIO(body[1:])))
        assert parsed[0] == table["columns"]
        expected = [[cell(v) for v in row] for row in table["rows"]]
        if table["key"] == "waiting":  # "waited" grows between the two calls
            parsed, expected = [r[:-1] for r in parsed[1:]], [r[:-1] for r in expected]
            assert parsed == expected
        else:
            assert parsed[1:] == expected
    assert (await get(stats_app, "/api/stats/nope.csv", ADMIN)).status == 404


def test_admin_role_in_the_agents_file_and_command(tmp_path: Path) -> None:
    path = tmp_path / "console-agents"
    done = subprocess.run(
        [sys.executable, "-m", "bot.web.console.auth", "add-agent", "王五", "--admin"],
        cwd=ROOT, env={**os.environ, "CONSOLE_AGENTS_FILE": str(path),
                       "PYTHONIOENCODING": "utf-8"},
        capture_output=True, text=True, encoding="utf-8", timeout=60, check=True,
    )
    admin_token = done.stdout.strip().rsplit(": ", 1)[1]
    agent_token = add_agent("李四", path)
    assert path.read_text(encoding="utf-8").splitlines()[0].endswith(":admin")
    credentials = Credentials.load(env={"CONSOLE_TOKEN": "x" * 20,
                                        "CONSOLE_AGENTS_FILE": str(path)})
    assert credentials.identify(f"Bearer {admin_token}") == Identity("王五", admin=True)
    assert credentials.identify(f"Bearer {agent_token}") == Identity("李四", admin=False)
    assert credentials.identify("Bearer " + "x" * 20) == Identity(None, admin=False)
    line = f"赵六:{'a' * 64}:admin\n钱七:{'b' * 64}\n"
    assert sorted(parse_agents_file(line).values(), key=lambda a: a.name) == [
        Agent("赵六", True), Agent("钱七", False)]
    with pytest.raises(ValueError):
        parse_agents_file(f"赵六:{'a' * 64}:root\n")
