"""The targets table of `make bench` (bot.bench.targets): issue 16's limits and rows."""

from __future__ import annotations

from bot.bench.long import LongResult
from bot.bench.targets import targets, targets_table


def _long(bot: str, store: str, first: float, last: float, errors: int = 0) -> LongResult:
    return LongResult(bot, store, 2, latencies=[first, first, last, last], errors=errors)


def _row(rows, start: str):
    return next(r for r in rows if r.measure.startswith(start))


def test_issue_16_limits_apply_to_serving_rows() -> None:
    rows = targets([], None, None, {})
    assert _row(rows, "p95 turn latency").limit == 0.3
    assert _row(rows, "throughput at 10").limit == 5.0
    assert _row(rows, "Rasa server memory").limit == 0.6
    assert all(r.status == "not measured" for r in rows if "reference" in r.target)


def test_long_conversation_rows_per_store() -> None:
    results = [_long("ours", "SQLite", 0.010, 0.012), _long("reference", "SQLite", 0.05, 0.3),
               _long("ours", "PostgreSQL", 0.010, 0.020)]
    rows = targets([], None, None, {}, results)
    sqlite = _row(rows, "long conversation on SQLite")
    pg = _row(rows, "long conversation on PostgreSQL")
    assert sqlite.status == "met" and abs(sqlite.value - 1.2) < 1e-9
    assert "6.00× growth" in sqlite.reference
    assert pg.status == "**missed**"  # 2.0× > 1.3×
    table = "\n".join(targets_table(rows))
    assert "| 1.20× | met |" in table and "| 2.00× | **missed** |" in table


def test_a_long_conversation_with_failed_turns_or_none_is_not_measured() -> None:
    rows = targets([], None, None, {}, [_long("ours", "SQLite", 0.01, 0.01, errors=1)])
    assert _row(rows, "long conversation on SQLite").status == "not measured"
    assert _row(rows, "long conversation on PostgreSQL").status == "not measured"
