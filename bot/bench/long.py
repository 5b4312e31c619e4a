"""`--long-only`: one long conversation through the REST webhook, on SQLite and PostgreSQL.

Does a turn cost more as the conversation grows? One sender sends ``turns`` messages one
after another (FAQ questions for ours, the `rasa init` bot's own phrases for the
reference), waiting for every reply. Latencies are grouped in buckets of ``bucket``
turns; the figure of merit is the p50 of the last bucket over the p50 of the first
(issue 16: ≤ 1.3×). Ours runs as `make run` starts it with its per-sender rate limit
lifted (``RATE_LIMIT_SENDER``); the reference is the `rasa init` bot with Rasa's own SQL
tracker store on the same database, so both keep the conversation where ours does.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from bot.bench.load import percentile, timed_turn

TARGET_GROWTH = 1.3
STORES = ("SQLite", "PostgreSQL")

# FAQ questions that each end in an answer (action_answer_topic), no form opened.
OURS_FAQ = (
    "解绑要带什么资料啊",
    "在机器上要按哪个键进菜单",
    "解绑需要多久",
    "法人不在可以解绑吗",
    "解绑要收费吗",
)
REFERENCE_PHRASES = ("hello", "I am feeling very good", "are you a bot?", "I am sad", "yes")


@dataclass
class LongResult:
    """Per-turn latencies (seconds) of one long conversation."""

    bot: str
    store: str
    bucket: int
    latencies: list[float] = field(default_factory=list)
    errors: int = 0

    def buckets(self) -> list[float]:
        """p50 in milliseconds of each full bucket of turns."""
        size = self.bucket
        return [1000 * percentile(self.latencies[i:i + size], 50)
                for i in range(0, len(self.latencies) - size + 1, size)]

    @property
    def growth(self) -> float:
        """p50 of the last bucket over p50 of the first."""
        values = self.buckets()
        return values[-1] / values[0] if len(values) > 1 and values[0] else float("nan")


async def _conversation(url: str, texts: Sequence[str], turns: int, result: LongResult) -> None:
    sender = f"bench-long-{uuid.uuid4().hex[:10]}"
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        for turn in range(turns):
            text = texts[turn % len(texts)]
            seconds, body = await timed_turn(session, url, sender, text)
            result.latencies.append(seconds)
            if not body:
                result.errors += 1


def run_long(
    bot: str, store: str, url: str, texts: Sequence[str], turns: int = 600, bucket: int = 100,
) -> LongResult:
    """Send ``turns`` messages as one sender to ``url``; latencies per turn."""
    result = LongResult(bot, store, bucket)
    asyncio.run(_conversation(url, texts, turns, result))
    return result


def _reference_endpoints(project: Path, store_url: str) -> Path:
    """The reference's endpoints with Rasa's own SQL tracker store at ``store_url``."""
    url = make_url(store_url)
    lines = ["tracker_store:", "  type: SQL", f"  dialect: {url.get_backend_name()}",
             f"  db: {url.database}"]
    if url.host:
        lines += [f"  url: {url.host}", f"  port: {url.port or 5432}"]
    if url.username:
        lines.append(f"  username: {url.username}")
    if url.query:
        lines.append("  query:")
        lines += [f'    {key}: "{value}"' for key, value in url.query.items()]
    path = project / f"endpoints-long-{url.get_backend_name()}.yml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _measure(work: Path, model: Path, reference: Path, store: str, url: str, turns: int,
             bucket: int) -> list[LongResult]:
    """Ours and the reference on one database, both up, measured one after the other."""
    from bot.bench.system import our_bot, reference_server

    ours = our_bot(work / f"long-{store}", model)
    ours.rasa.env.update(TRACKER_STORE_URL=url, RATE_LIMIT_SENDER="1000000")
    ref = reference_server(reference, work, _reference_endpoints(reference, url))
    results = []
    try:
        ours.actions.start()
        ours.rasa.start()
        ref.start()
        ref_url = ref.health_url.replace("/status", "/webhooks/rest/webhook")
        for name, target, texts in (("ours", ours.rest_url, OURS_FAQ),
                                    ("reference", ref_url, REFERENCE_PHRASES)):
            run_long(name, store, target, texts, turns=bucket // 10, bucket=1)  # warm-up
            print(f"long conversation: {name} on {store}, {turns} turns…", flush=True)
            results.append(run_long(name, store, target, texts, turns, bucket))
    finally:
        ref.stop()
        ours.rasa.stop()
        ours.actions.stop()
    return results


def run(work: Path, model: Path, turns: int = 600, bucket: int = 100,
        pg_url: str | None = None, reference: Path | None = None,
        stores: Sequence[str] = STORES) -> list[LongResult]:
    """Both bots on SQLite (files in ``work``) and, given a PostgreSQL URL, a new schema;
    ``stores`` may leave either out.

    ``reference`` is a `rasa init` project already made; without one, one is made."""
    from bot.bench.stats import _pg_schema_url
    from bot.bench.training import create_reference
    from bot.db import make_engine

    if reference is None:
        print("rasa init --no-prompt (the reference bot)…", flush=True)
        reference, _ = create_reference(work)
    results: list[LongResult] = []
    if "SQLite" in stores:
        results += _measure(work, model, reference, "SQLite",
                            f"sqlite:///{work / 'long-tracker.db'}", turns, bucket)
    pg_url = pg_url or os.environ.get("BENCH_PG_URL") or os.environ.get("DATABASE_URL_TEST")
    if "PostgreSQL" in stores and pg_url and pg_url.startswith("postgresql"):
        schema = f"bench_long_{uuid.uuid4().hex[:8]}"
        admin = make_engine(pg_url)
        try:
            with admin.begin() as conn:
                conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        except OperationalError as error:  # the row then says "not measured"
            print(f"long conversation: PostgreSQL at {make_url(pg_url).host} not reachable, "
                  f"SQLite only ({error.orig})", flush=True)
            admin.dispose()
            return results
        try:
            results += _measure(work, model, reference, "PostgreSQL",
                                _pg_schema_url(pg_url, schema), turns, bucket)
        finally:
            with admin.begin() as conn:
                conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
            admin.dispose()
    return results


def markdown(results: list[LongResult], header: str, plot: Path | None, out_dir: Path) -> str:
    """The benchmarks.md section: p50 per bucket of turns, growth and status."""
    bucket = results[0].bucket if results else 100
    width = max((len(r.buckets()) for r in results), default=0)
    names = [f"{i * bucket}–{(i + 1) * bucket - 1}" for i in range(width)]
    lines = ["## Long conversation (issue 16)", "", header, "",
             "One sender, one session, one message at a time through the REST webhook; "
             "ours: FAQ questions answered by the action server (per-sender rate limit "
             "lifted); reference: the `rasa init` bot's own phrases with Rasa's SQL tracker "
             "store on the same database. p50 turn latency in ms per bucket of turns; "
             f"growth = last bucket / first; target ≤ {TARGET_GROWTH}× for ours.", "",
             "| bot | store | " + " | ".join(names) + " | growth | errors | status |",
             "| --- | --- |" + " ---: |" * len(names) + " ---: | ---: | --- |"]
    for r in results:
        status = "" if r.bot != "ours" else (
            "met" if r.growth <= TARGET_GROWTH and not r.errors else "NOT met")
        lines.append(f"| {r.bot} | {r.store} | "
                     + " | ".join(f"{v:.1f}" for v in r.buckets())
                     + f" | {r.growth:.2f}× | {r.errors} | {status} |")
    if plot:
        lines += ["", f"![long conversation]({plot.relative_to(out_dir).as_posix()})"]
    return "\n".join(lines)


def header(started: str, commit: str) -> str:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (f"Run {started} on commit `{commit}`; {os.cpu_count()} CPUs shared, load average "
            f"at the end {load}; `python -m bot.bench --long-only`.")
