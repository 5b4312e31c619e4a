"""Console API of the 统计 page (``/api/stats``; openapi.yml), for admin agents only.

``GET /api/stats?from=&to=&channel=`` returns every table of the page as JSON;
``GET /api/stats/<table>.csv`` with the same filters returns one of them as CSV, rendered
from the very rows the JSON carries (``bot.analytics.report.Table``). An agent without an
admin token gets 403. Every call is audited like the rest of the console.
"""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta
from typing import Any

from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse
from sqlalchemy.exc import SQLAlchemyError

from bot.analytics import report
from bot.analytics.sql import CHANNELS, Filters
from bot.tickets.values import SHANGHAI
from bot.web.console.api import as_json, audited, blocking, error

DEFAULT_DAYS = 14
MAX_DAYS = 366
UNAVAILABLE = "统计数据暂时不可用，请稍后再试"
FORBIDDEN = "统计页面仅限管理员（add-agent 姓名 --admin）"


def parse_filters(args: Any, today: date | None = None) -> Filters | str:
    """Filters from the query string (``from``, ``to``: YYYY-MM-DD in Beijing time;
    ``channel``), or a Chinese error message. Default: the last 14 days."""
    today = today or datetime.now(SHANGHAI).date()
    try:
        end = date.fromisoformat(args.get("to") or today.isoformat())
        start = date.fromisoformat(
            args.get("from") or (end - timedelta(days=DEFAULT_DAYS - 1)).isoformat())
    except ValueError:
        return "from、to 应为 YYYY-MM-DD 格式的日期"
    if end < start:
        return "结束日期不能早于开始日期"
    if (end - start).days >= MAX_DAYS:
        return f"日期范围最长{MAX_DAYS}天"
    channel = args.get("channel") or None
    if channel is not None and channel not in CHANNELS:
        return f"channel 应为 {'、'.join(CHANNELS)} 之一"
    return Filters(start, end, channel)


async def _checked(request: Request, action: str) -> Filters | HTTPResponse:
    args = request.get_args(keep_blank_values=True)
    params = {k: (args.get(k) or "")[:16] for k in ("from", "to", "channel")}
    if not getattr(request.ctx, "admin", False):
        return await audited(request, action, params, error(403, FORBIDDEN), 0)
    filters = parse_filters(args)
    if isinstance(filters, str):
        return await audited(request, action, params, error(400, filters), 0)
    return filters


def _params(filters: Filters) -> dict[str, str]:
    return {"from": filters.start.isoformat(), "to": filters.end.isoformat(),
            "channel": filters.channel or ""}


def _tables(request: Request, filters: Filters, only: str | None) -> list[report.Table]:
    ctx = request.ctx.console
    return report.build(ctx.transcripts.engine, ctx.tickets.engine, filters, only)


async def stats(request: Request) -> HTTPResponse:
    """``GET /api/stats``: every table of the 统计 page for the filters."""
    filters = await _checked(request, "stats.view")
    if isinstance(filters, HTTPResponse):
        return filters
    started = time.perf_counter()
    try:
        tables = await blocking(_tables, request, filters, None)
    except SQLAlchemyError:
        return await audited(request, "stats.view", _params(filters), error(503, UNAVAILABLE), 0)
    body = {
        "filters": _params(filters),
        "channels": list(CHANNELS),
        "tables": [t.as_json() for t in tables],
        "seconds": round(time.perf_counter() - started, 3),
    }
    return await audited(request, "stats.view", _params(filters), as_json(body), len(tables))


async def stats_csv(request: Request, name: str) -> HTTPResponse:
    """``GET /api/stats/<table>.csv``: one table as CSV (UTF-8 with BOM)."""
    table = name.removesuffix(".csv") if name.endswith(".csv") else ""
    filters = await _checked(request, "stats.csv")
    if isinstance(filters, HTTPResponse):
        return filters
    params = {**_params(filters), "table": table[:16]}
    if table not in report.TABLES:
        return await audited(request, "stats.csv", params,
                             error(404, f"没有这个表：应为 {'、'.join(report.TABLES)} 之一"), 0)
    try:
        [found] = await blocking(_tables, request, filters, table)
    except SQLAlchemyError:
        return await audited(request, "stats.csv", params, error(503, UNAVAILABLE), 0)
    suffix = f"-{filters.channel}" if filters.channel else ""
    name = f"stats-{table}-{filters.start}-{filters.end}{suffix}.csv"
    reply = response.text(
        found.csv(), content_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
    return await audited(request, "stats.csv", params, reply, len(found.rows))
