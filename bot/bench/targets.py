"""The targets table of `make bench`: every measured figure against what it must be.

Issue 7 set the first targets; issue 16 tightened the serving ones (p95 ≤ 0.3×,
throughput ≥ 5×, memory ≤ 0.6× the `rasa init` reference) and added the long conversation
(p50 of the last 100 turns ≤ 1.3× the first 100, on SQLite and PostgreSQL); issue 14 added
answer accuracy through the dialogue (hold-out and the blind set ≥ 98%, nothing invented).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from bot.bench import console_report
from bot.bench.answers import TARGET_SETS, AnswersResult
from bot.bench.long import TARGET_GROWTH, LongResult
from bot.bench.nlu_quality import EntityResult, PipelineResult
from bot.bench.serving import ServingResult
from bot.bench.training import TrainingResult

P95_RATIO = 0.3
THROUGHPUT_RATIO = 5.0
MEMORY_RATIO = 0.6
STARTUP_RATIO = 0.6
LONG_STORES = ("SQLite", "PostgreSQL")


@dataclass(frozen=True)
class Row:
    """One target: what was measured against what it must be."""

    measure: str
    target: str
    ours: str
    reference: str
    value: float  # the number compared with the limit (a ratio, seconds or a fraction)
    limit: float
    at_most: bool

    @property
    def status(self) -> str:
        if math.isnan(self.value):
            return "not measured"
        ok = self.value <= self.limit if self.at_most else self.value >= self.limit
        return "met" if ok else "**missed**"


def nan() -> float:
    return float("nan")


def ratio(a: float, b: float) -> float:
    return a / b if b and not math.isnan(a) and not math.isnan(b) else nan()


def median(values: list[float] | None) -> float:
    return statistics.median(values) if values else nan()


def fmt(value: float, spec: str = ".2f", suffix: str = "") -> str:
    return "—" if math.isnan(value) else f"{value:{spec}}{suffix}"


def targets(
    nlu: list[PipelineResult], entities: EntityResult | None, serving: ServingResult | None,
    training: dict[str, TrainingResult], long: list[LongResult] | None = None,
) -> list[Row]:
    """Every target row, in the order of the table."""
    load = serving.load if serving else {}
    ours1, ref1 = load.get(("ours", 1)), load.get(("reference", 1))
    ours10, ref10 = load.get(("ours", 10)), load.get(("reference", 10))
    p95 = (ours1.p(95) if ours1 else nan(), ref1.p(95) if ref1 else nan())
    tput = (ours10.throughput if ours10 else nan(), ref10.throughput if ref10 else nan())
    memory = serving.memory_mb if serving else {}
    mem = (memory.get("ours rasa", nan()), memory.get("reference rasa", nan()))
    startup = serving.startup if serving else {}
    start = (median(startup.get("ours")), median(startup.get("reference")))
    ours_train = training.get("ours")
    full = ours_train.full_seconds if ours_train else nan()
    ref_train = training.get("reference")
    accuracy = nlu[0].holdout.accuracy if nlu else nan()
    f1 = entities.micro[2] if entities else nan()
    console = console_report.p95_ms(serving.console if serving else None)
    answers = serving.answers if serving else None
    return [*_serving_rows(p95, tput, mem, start), *_long_rows(long or []),
            *_quality_rows(full, ref_train, accuracy, f1, console), *_answer_rows(answers)]


def _serving_rows(
    p95: tuple[float, float], tput: tuple[float, float], mem: tuple[float, float],
    start: tuple[float, float],
) -> list[Row]:
    return [
        Row("p95 turn latency at 1 conversation", f"≤ {P95_RATIO} × reference",
            fmt(p95[0], ".0f", " ms"), fmt(p95[1], ".0f", " ms"), ratio(*p95), P95_RATIO,
            True),
        Row("throughput at 10 concurrent conversations", f"≥ {THROUGHPUT_RATIO:g} × reference",
            fmt(tput[0], ".1f", " turns/s"), fmt(tput[1], ".1f", " turns/s"),
            ratio(*tput), THROUGHPUT_RATIO, False),
        Row("Rasa server memory (RSS after load)", f"≤ {MEMORY_RATIO} × reference",
            fmt(mem[0], ".0f", " MiB"), fmt(mem[1], ".0f", " MiB"), ratio(*mem),
            MEMORY_RATIO, True),
        Row("start-up (launch → /status), median", f"≤ {STARTUP_RATIO} × reference",
            fmt(start[0], ".1f", " s"), fmt(start[1], ".1f", " s"), ratio(*start),
            STARTUP_RATIO, True),
    ]


def _long_rows(results: list[LongResult]) -> list[Row]:
    """Flat cost: growth of our p50 over one long conversation, per store."""
    rows = []
    for store in LONG_STORES:
        ours = next((r for r in results if r.bot == "ours" and r.store == store), None)
        ref = next((r for r in results if r.bot == "reference" and r.store == store), None)
        first_last = ours.buckets() if ours else []
        value = ours.growth if ours and not ours.errors else nan()
        rows.append(Row(
            f"long conversation on {store}: p50 of the last 100 turns / first 100",
            f"≤ {TARGET_GROWTH}×",
            fmt(first_last[0] if first_last else nan(), ".1f", " ms") + " → "
            + fmt(first_last[-1] if first_last else nan(), ".1f", " ms"),
            fmt(ref.growth if ref else nan(), ".2f", "× growth"), value, TARGET_GROWTH, True))
    return rows


def _quality_rows(full: float, ref_train: TrainingResult | None, accuracy: float, f1: float,
                  console: float) -> list[Row]:
    return [
        Row("full training", "< 180 s", fmt(full, ".0f", " s"),
            fmt(ref_train.full_seconds if ref_train else nan(), ".0f", " s"), full, 180.0,
            True),
        Row("hold-out intent accuracy (incl. out-of-scope and fallback)", "≥ 95%",
            fmt(100 * accuracy, ".1f", "%"), "—", accuracy, 0.95, False),
        Row("entity F1", "≥ 98%", fmt(100 * f1, ".1f", "%"), "—", f1, 0.98, False),
        Row("console answer search p95", f"< {console_report.TARGET_MS:.0f} ms",
            fmt(console, ".1f", " ms"), "—", console, console_report.TARGET_MS, True),
    ]


def _answer_rows(answers: AnswersResult | None) -> list[Row]:
    """Issue 14: answer accuracy through the dialogue and invented facts."""
    scores = answers.scores if answers else {}
    rows = []
    for name in TARGET_SETS:
        s = scores.get(name)
        value = s.overall.accuracy if s else nan()
        rows.append(Row(f"{name} answer accuracy through the dialogue (fallback counted)",
                        "≥ 98%", fmt(100 * value, ".1f", "%"), "—", value, 0.98, False))
    invented = [len(s.invented) for s in scores.values() if s.not_in_guide]
    checked = sum(s.not_in_guide for s in scores.values())
    value = float(sum(invented)) if invented else nan()
    rows.append(Row("invented facts in replies to out-of-guide questions", "0",
                    f"{sum(invented)} of {checked}" if invented else "—", "—", value, 0.0,
                    True))
    return rows


def _value_text(row: Row) -> str:
    if "reference" not in row.target:  # an absolute target: the value is in "ours"
        return fmt(row.value, ".2f", "×") if row.target.endswith("×") else ""
    return fmt(row.value, ".2f", "×")


def targets_table(rows: list[Row]) -> list[str]:
    lines = ["| measure | target | ours | reference | ratio | status |",
             "| --- | --- | ---: | ---: | ---: | --- |"]
    for row in rows:
        lines.append(f"| {row.measure} | {row.target} | {row.ours} | {row.reference} | "
                     f"{_value_text(row)} | {row.status} |")
    return lines


def summary_text(rows: list[Row]) -> str:
    """A short plain-text table for the terminal."""
    width = max(len(r.measure) for r in rows)
    lines = [f"{'measure':<{width}}  {'ours':>16}  {'reference':>16}  {'ratio':>7}  status"]
    for row in rows:
        lines.append(f"{row.measure:<{width}}  {row.ours:>16}  {row.reference:>16}  "
                     f"{_value_text(row):>7}  {row.status.strip('*')}")
    return "\n".join(lines)
