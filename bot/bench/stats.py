"""The 统计 page at 100,000 conversations, on SQLite and PostgreSQL (issue 15).

Generated traffic (:mod:`bot.bench.stats_data`) is written to a fresh tracker store and
ticket database per backend; then the page's API work (every table by SQL, as
``GET /api/stats`` builds it, plus its JSON encoding) is timed for the range holding all
of it, for the page's default two weeks and for one channel. Target: < 2 s.
``python -m bot.bench --stats-only`` runs this alone and rewrites its section of
docs/benchmarks.md (between ``<!-- stats:start -->`` and ``<!-- stats:end -->``).
"""

from __future__ import annotations

import json
import os
import re
import statistics
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from sqlalchemy.engine import Engine, make_url

from bot.analytics import report
from bot.analytics.sql import Filters
from bot.bench.stats_data import utc_now, write_events, write_tickets
from bot.db import make_engine
from bot.tickets.migrate import upgrade
from bot.tickets.values import SHANGHAI

TARGET_SECONDS = 2.0
DAYS = 30
REPEATS = 5
START, END = "<!-- stats:start -->", "<!-- stats:end -->"
SECTION = re.compile(re.escape(START) + ".*?" + re.escape(END), re.S)


@dataclass
class StatsResult:
    """One backend's figures."""

    backend: str
    conversations: int
    event_rows: int
    ticket_rows: dict[str, int]
    load_seconds: float
    timings: dict[str, list[float]] = field(default_factory=dict)
    """Scenario → seconds per run (first run first)."""
    tables: dict[str, float] = field(default_factory=dict)
    """Seconds per table, full range, one warm run."""


def _page(tracker: Engine, tickets: Engine, filters: Filters) -> float:
    started = time.perf_counter()
    tables = report.build(tracker, tickets, filters)
    json.dumps({"tables": [t.as_json() for t in tables]}, ensure_ascii=False, default=str)
    return time.perf_counter() - started


def measure(backend: str, tracker_url: str, tickets_url: str, n: int) -> StatsResult:
    """Generate ``n`` conversations into the two databases and time the page."""
    upgrade(tickets_url)
    tracker, tickets = make_engine(tracker_url), make_engine(tickets_url)
    try:
        started = time.perf_counter()
        rows = write_events(tracker, n, DAYS, time.time())
        written = write_tickets(tickets, n, DAYS, utc_now())
        result = StatsResult(backend, n, rows, written, time.perf_counter() - started)
        today = utc_now().astimezone(SHANGHAI).date()
        scenarios = {
            f"all {DAYS} days": Filters(today - timedelta(days=DAYS), today),
            "default 14 days": Filters(today - timedelta(days=13), today),
            f"all {DAYS} days, WeChat only": Filters(today - timedelta(days=DAYS), today,
                                                    "wechat"),
        }
        for name, filters in scenarios.items():
            result.timings[name] = [_page(tracker, tickets, filters) for _ in range(REPEATS)]
        full = scenarios[f"all {DAYS} days"]
        for key in report.TABLES:
            started = time.perf_counter()
            report.build(tracker, tickets, full, only=key)
            result.tables[key] = time.perf_counter() - started
        return result
    finally:
        tracker.dispose()
        tickets.dispose()


def _pg_schema_url(base: str, schema: str) -> str:
    return str(make_url(base).update_query_dict({"options": f"-csearch_path={schema}"}))


def run(work: Path, n: int = 100_000, pg_url: str | None = None) -> list[StatsResult]:
    """SQLite (two files in ``work``) and, with a PostgreSQL URL, a schema of its own."""
    work.mkdir(parents=True, exist_ok=True)
    print(f"统计 bench: {n} conversations on SQLite…", flush=True)
    results = [measure("SQLite", f"sqlite:///{work / 'stats-tracker.db'}",
                       f"sqlite:///{work / 'stats-tickets.db'}", n)]
    pg_url = pg_url or os.environ.get("BENCH_PG_URL") or os.environ.get("DATABASE_URL_TEST")
    if pg_url and pg_url.startswith("postgresql"):
        print(f"统计 bench: {n} conversations on PostgreSQL…", flush=True)
        schema = f"bench_stats_{uuid.uuid4().hex[:8]}"
        admin = make_engine(pg_url)
        with admin.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        try:
            url = _pg_schema_url(pg_url, schema)
            results.append(measure("PostgreSQL", url, url, n))
        finally:
            with admin.begin() as conn:
                conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
            admin.dispose()
    return results


def markdown(results: list[StatsResult], header: str) -> str:
    """The benchmarks.md section."""
    lines = [START, "## 统计 page at 100,000 conversations (issue 15)", "", header, "",
             "Generated traffic (`bot/bench/stats_data.py`, fixed seed): conversations spread "
             f"over {DAYS} days, about 2.5 messages each, 12% not understood, a quarter "
             "starting the unbind form, 8% handed off, tickets for 10% with their step "
             "history, fallback candidates and answer ratings. Timed: every table of "
             "`GET /api/stats` by SQL plus its JSON encoding (`bot.analytics.report.build`), "
             f"{REPEATS} runs each (run 1 first); the status compares the median with the "
             f"target, < {TARGET_SECONDS:.0f} s. The machine is shared: see the load average.",
             "",
             "| backend | conversations | event rows | scenario | run 1 s | median s | max s "
             "| status |", "| --- | ---: | ---: | --- | ---: | ---: | ---: | --- |"]
    for r in results:
        for name, runs in r.timings.items():
            median = statistics.median(runs)
            status = "met" if median < TARGET_SECONDS else "NOT met"
            lines.append(f"| {r.backend} | {r.conversations:,} | {r.event_rows:,} | {name} | "
                         f"{runs[0]:.2f} | {median:.2f} | {max(runs):.2f} | {status} |")
    lines += ["", "Seconds per table (all days, one warm run):", "",
              "| backend | " + " | ".join(report.TABLES) + " |",
              "| --- |" + " ---: |" * len(report.TABLES)]
    for r in results:
        lines.append(f"| {r.backend} | " + " | ".join(f"{r.tables[k]:.3f}" for k in report.TABLES)
                     + " |")
    lines += ["", "Data generation and loading: " + ", ".join(
        f"{r.backend} {r.load_seconds:.0f} s ({r.event_rows:,} events, "
        + ", ".join(f"{v:,} {k}" for k, v in r.ticket_rows.items()) + ")" for r in results),
        END]
    return "\n".join(lines)


def write_section(path: Path, section: str, pattern: re.Pattern[str] = SECTION) -> None:
    """Replace (or append) the section of ``path`` that ``pattern`` finds (the 统计 one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    if pattern.search(old):
        new = pattern.sub(lambda _: section, old, count=1)
    else:
        new = old.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(new, encoding="utf-8")


def header(started: str, commit: str) -> str:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (f"Run {started} on commit `{commit}`; {os.cpu_count()} CPUs shared, load average "
            f"at the end {load}; `python -m bot.bench --stats-only`.")
