"""`python -m bot.bench --quick` runs end to end and writes its reports (no timing checks)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bot.paths import ROOT

pytestmark = pytest.mark.server


def test_quick_bench_writes_its_reports(tmp_path):
    if not (ROOT / "models" / "bot.tar.gz").exists():
        pytest.fail("no trained model: run `make train`")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.run(
        [sys.executable, "-m", "bot.bench", "--quick", "--out", str(tmp_path)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    benchmarks = (tmp_path / "benchmarks.md").read_text(encoding="utf-8")
    nlu = (tmp_path / "nlu.md").read_text(encoding="utf-8")
    assert "## Targets" in benchmarks and "p95 turn latency" in benchmarks
    ours = re.search(r"^\| 1 \| ours \|(.*)$", benchmarks, re.MULTILINE)
    assert ours, benchmarks  # conversations went through the REST webhook
    cells = [c.strip() for c in ours.group(1).split("|")]
    turns, tickets, errors = (int(c) for c in cells[3:6])
    assert turns > 0 and errors == 0 and tickets > 0, ours.group(0)  # the harness measured
    # real turns: every one answered, forms ending in tickets from our action server
    _check_console_search(benchmarks)
    assert "## Pipeline comparison" in nlu and "## Fallback threshold" in nlu
    for png in ("threshold.png", "latency.png", "throughput.png"):
        assert (tmp_path / "bench" / png).stat().st_size > 0
    assert "fallback threshold" in run.stdout
    assert "console search" in run.stdout
    # issue 14: the development set went through the running bot, scored per kind
    assert "## Answers through the dialogue" in nlu, nlu
    dev = re.search(r"^\| development \| (\d+) \| \*\*([\d.]+)%\*\*", nlu, re.MULTILINE)
    assert dev and int(dev.group(1)) >= 150, nlu
    assert "| development | step |" in nlu and "answers: development" in run.stdout


def _table_row(markdown: str, section: str, first_cell: str) -> list[str]:
    """The cells after ``first_cell`` of that row of the table under ``## section``."""
    assert f"## {section}\n" in markdown, markdown
    body = markdown.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    row = re.search(rf"^\| {re.escape(first_cell)} \|(.*)\|$", body, re.MULTILINE)
    assert row, body
    return [c.strip() for c in row.group(1).split("|")]


def _check_console_search(benchmarks: str) -> None:
    """Every console query went through the running web app once and got a 200."""
    queries = sum(
        len(yaml.safe_load((ROOT / "tests" / name).read_text(encoding="utf-8"))["queries"])
        for name in ("console_queries.yml", "console_queries_heldout.yml"))
    section = "Console answer search (GET /api/answers, running web app + Rasa)"
    requests, failed = (int(c) for c in _table_row(benchmarks, section, "all")[:2])
    assert requests == queries and failed == 0, (requests, failed)  # --quick: one pass
    target = _table_row(benchmarks, "Targets (issues 7, 14 and 16)", "console answer search p95")
    assert target[0] == "< 100 ms" and target[-1] != "not measured", target


def _section_alone(tmp_path, timeout: int, *args: str) -> str:
    """Run one ``--…-only`` bench into a benchmarks.md that has other text; the result."""
    (tmp_path / "benchmarks.md").write_text("# Benchmarks\n\nkept\n", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.run(
        [sys.executable, "-m", "bot.bench", *args, "--out", str(tmp_path)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return (tmp_path / "benchmarks.md").read_text(encoding="utf-8")


def test_stats_bench_alone_writes_its_section(tmp_path):
    """``--stats-only`` generates conversations, times the 统计 page on SQLite (and on
    PostgreSQL with DATABASE_URL_TEST) and writes its section, keeping the rest."""
    text = _section_alone(tmp_path, 600, "--stats-only", "--stats-conversations", "400")
    assert text.startswith("# Benchmarks\n\nkept\n") and "<!-- stats:end -->" in text
    rows = re.findall(r"^\| (SQLite|PostgreSQL) \| 400 \| ([\d,]+) \| all 30 days \|", text,
                      re.MULTILINE)
    backends = {"SQLite", "PostgreSQL"} if os.environ.get("DATABASE_URL_TEST") else {"SQLite"}
    assert {backend for backend, _ in rows} == backends
    assert all(int(events.replace(",", "")) > 400 for _, events in rows)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """A `rasa init` project, made as `make bench` makes it, passed with ``--reference``."""
    from bot.bench.training import create_reference

    project, _ = create_reference(tmp_path_factory.mktemp("harness"))
    return project


def test_long_conversation_bench_alone_writes_its_section(tmp_path, reference):
    """``--long-only`` holds one conversation with ours and the reference, every turn
    answered, and writes its section and plot, keeping the rest of the file. One store
    per run here (PostgreSQL where DATABASE_URL_TEST is set, else SQLite): the harness
    does the same on each, and `make bench` runs both."""
    store = "PostgreSQL" if os.environ.get("DATABASE_URL_TEST") else "SQLite"
    text = _section_alone(tmp_path, 900, "--long-only", "--long-turns", "12",
                          "--long-stores", store, "--reference", str(reference))
    assert text.startswith("# Benchmarks\n\nkept\n") and "<!-- long:end -->" in text
    rows = re.findall(r"^\| (ours|reference) \| (SQLite|PostgreSQL) \|((?: [\d.]+ \|){6}) "
                      r"([\d.]+)× \| 0 \|", text, re.MULTILINE)
    assert {(bot, row_store) for bot, row_store, _, _ in rows} == {
        ("ours", store), ("reference", store)}
    assert (tmp_path / "bench" / "long_conversation.png").stat().st_size > 0


def test_long_only_refuses_an_unknown_store_or_an_untrained_reference(tmp_path):
    for args, said in ((("--long-stores", "MySQL"), "unknown stores ['MySQL']"),
                       (("--reference", str(tmp_path)), "no trained model in")):
        run = subprocess.run(
            [sys.executable, "-m", "bot.bench", "--long-only", *args, "--out", str(tmp_path)],
            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True,
            text=True, timeout=300)
        assert run.returncode == 2 and said in run.stderr, run.stderr[-2000:]


def test_long_conversation_buckets_and_reference_store():
    from bot.bench.long import LongResult

    result = LongResult("ours", "SQLite", 2, latencies=[0.01, 0.03, 0.02, 0.02, 0.04, 0.06])
    assert result.buckets() == pytest.approx([20.0, 20.0, 50.0])
    assert result.growth == pytest.approx(2.5)
    assert LongResult("ours", "SQLite", 2, latencies=[0.01]).buckets() == []


def test_the_reference_keeps_its_conversation_in_rasas_sql_store(tmp_path):
    from bot.bench.long import _reference_endpoints

    path = _reference_endpoints(
        tmp_path, "postgresql://postgres@127.0.0.1:5432/test?options=-csearch_path%3Dx")
    store = yaml.safe_load(path.read_text(encoding="utf-8"))["tracker_store"]
    assert store == {"type": "SQL", "dialect": "postgresql", "db": "test",
                     "url": "127.0.0.1", "port": 5432, "username": "postgres",
                     "query": {"options": "-csearch_path=x"}}
    sqlite = _reference_endpoints(tmp_path, f"sqlite:///{tmp_path / 't.db'}")
    assert yaml.safe_load(sqlite.read_text(encoding="utf-8"))["tracker_store"] == {
        "type": "SQL", "dialect": "sqlite", "db": str(tmp_path / "t.db")}
