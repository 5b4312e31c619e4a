"""docs/nlu.md, docs/benchmarks.md and the terminal summary, from the measured results.

Hand-written analysis lives between `<!-- notes -->` and `<!-- /notes -->` in each file
and is carried over when the file is regenerated.
"""

from __future__ import annotations

import math
import re
import statistics
from dataclasses import dataclass
from pathlib import Path

from bot.bench import answers as bench_answers
from bot.bench import console_report
from bot.bench.answers import AnswersResult
from bot.bench.load import LoadResult
from bot.bench.nlu_quality import (
    FALLBACK,
    OUT_OF_SCOPE,
    EntityResult,
    PipelineResult,
    Scores,
)
from bot.bench.serving import ServingResult
from bot.bench.system import Profile
from bot.bench.training import TrainingResult

NOTES = re.compile(r"<!-- notes -->.*?<!-- /notes -->", re.S)
START, END = "<!-- bench:start -->", "<!-- bench:end -->"
GENERATED = re.compile(re.escape(START) + ".*?" + re.escape(END), re.S)
EMPTY_NOTES = "<!-- notes -->\n_No notes yet._\n<!-- /notes -->"


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


def _nan() -> float:
    return float("nan")


def _ratio(a: float, b: float) -> float:
    return a / b if b and not math.isnan(a) and not math.isnan(b) else _nan()


def _median(values: list[float] | None) -> float:
    return statistics.median(values) if values else _nan()


def _fmt(value: float, spec: str = ".2f", suffix: str = "") -> str:
    return "—" if math.isnan(value) else f"{value:{spec}}{suffix}"


def targets(
    nlu: list[PipelineResult], entities: EntityResult | None, serving: ServingResult | None,
    training: dict[str, TrainingResult],
) -> list[Row]:
    load = serving.load if serving else {}
    ours1, ref1 = load.get(("ours", 1)), load.get(("reference", 1))
    ours10, ref10 = load.get(("ours", 10)), load.get(("reference", 10))
    p95 = (ours1.p(95) if ours1 else _nan(), ref1.p(95) if ref1 else _nan())
    tput = (ours10.throughput if ours10 else _nan(), ref10.throughput if ref10 else _nan())
    memory = serving.memory_mb if serving else {}
    mem = (memory.get("ours rasa", _nan()), memory.get("reference rasa", _nan()))
    startup = serving.startup if serving else {}
    start = (_median(startup.get("ours")), _median(startup.get("reference")))
    ours_train = training.get("ours")
    full = ours_train.full_seconds if ours_train else _nan()
    ref_train = training.get("reference")
    accuracy = nlu[0].holdout.accuracy if nlu else _nan()
    f1 = entities.micro[2] if entities else _nan()
    console = console_report.p95_ms(serving.console if serving else None)
    answers = serving.answers if serving else None
    return [*_base_rows(p95, tput, mem, start, full, ref_train, accuracy, f1, console),
            *_answer_rows(answers)]


def _answer_rows(answers: AnswersResult | None) -> list[Row]:
    """Issue 14: answer accuracy through the dialogue and invented facts."""
    scores = answers.scores if answers else {}
    rows = []
    for name in ("hold-out", "blind"):
        s = scores.get(name)
        value = s.overall.accuracy if s else _nan()
        rows.append(Row(f"{name} answer accuracy through the dialogue (fallback counted)",
                        "≥ 98%", _fmt(100 * value, ".1f", "%"), "—", value, 0.98, False))
    invented = [len(s.invented) for s in scores.values() if s.not_in_guide]
    checked = sum(s.not_in_guide for s in scores.values())
    value = float(sum(invented)) if invented else _nan()
    rows.append(Row("invented facts in replies to out-of-guide questions", "0",
                    f"{sum(invented)} of {checked}" if invented else "—", "—", value, 0.0,
                    True))
    return rows


def _base_rows(
    p95: tuple[float, float], tput: tuple[float, float], mem: tuple[float, float],
    start: tuple[float, float], full: float, ref_train: TrainingResult | None,
    accuracy: float, f1: float, console: float,
) -> list[Row]:
    return [
        Row("p95 turn latency at 1 conversation", "≤ 0.5 × reference",
            _fmt(p95[0], ".0f", " ms"), _fmt(p95[1], ".0f", " ms"), _ratio(*p95), 0.5, True),
        Row("throughput at 10 concurrent conversations", "≥ 3 × reference",
            _fmt(tput[0], ".1f", " turns/s"), _fmt(tput[1], ".1f", " turns/s"),
            _ratio(*tput), 3.0, False),
        Row("Rasa server memory (RSS after load)", "≤ 0.7 × reference",
            _fmt(mem[0], ".0f", " MiB"), _fmt(mem[1], ".0f", " MiB"), _ratio(*mem), 0.7, True),
        Row("start-up (launch → /status), median", "≤ 0.6 × reference",
            _fmt(start[0], ".1f", " s"), _fmt(start[1], ".1f", " s"), _ratio(*start), 0.6, True),
        Row("full training", "< 180 s", _fmt(full, ".0f", " s"),
            _fmt(ref_train.full_seconds if ref_train else _nan(), ".0f", " s"), full, 180.0,
            True),
        Row("hold-out intent accuracy (incl. out-of-scope and fallback)", "≥ 95%",
            _fmt(100 * accuracy, ".1f", "%"), "—", accuracy, 0.95, False),
        Row("entity F1", "≥ 98%", _fmt(100 * f1, ".1f", "%"), "—", f1, 0.98, False),
        Row("console answer search p95", f"< {console_report.TARGET_MS:.0f} ms",
            _fmt(console, ".1f", " ms"), "—", console, console_report.TARGET_MS, True),
    ]


def _value_text(row: Row) -> str:
    if "reference" not in row.target:  # an absolute target: the value is in "ours"
        return ""
    return _fmt(row.value, ".2f", "×")


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


def _keep_notes(path: Path, text: str) -> str:
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    match = NOTES.search(old)
    return text.replace(EMPTY_NOTES, match.group(0) if match else EMPTY_NOTES)


def _pct(value: float) -> str:
    return _fmt(100 * value, ".1f", "%")


def _scores_line(scores: Scores | None) -> tuple[str, str]:
    if scores is None:
        return "—", "—"
    return _pct(scores.accuracy), _pct(scores.macro_f1)


# --- docs/nlu.md -----------------------------------------------------------------------

def nlu_markdown(
    results: list[PipelineResult], entities: EntityResult | None, header: list[str],
    configured_threshold: float, blind_present: bool, plots: Path, doc_dir: Path,
    answers: AnswersResult | None = None,
) -> str:
    ours = results[0]
    rel = _rel(plots, doc_dir)
    lines = ["# NLU: pipeline comparison and quality", "", *header, "",
             "Generated by `make bench` (`python -m bot.bench`); edit only the notes block.",
             "", "## Pipeline comparison", "",
             "Every pipeline keeps SecretGuard → TextNormaliser → JiebaTokenizer → *classifier* "
             "→ SpacyEntityExtractor → SecretIntent → FallbackClassifier (threshold "
             f"{configured_threshold}); only the classifier (and its featurisers) differs. "
             "Hold-out = `tests/nlu_holdout.yml` + `tests/nlu_holdout_gibberish.yml` "
             "(expected `nlu_fallback`). Parse latency is in-process `Agent.parse_message` per "
             "message; training is NLU-only with the cache off.", "",
             "| pipeline | config | hold-out acc. | hold-out macro-F1 | blind acc. | "
             "CV acc. | CV macro-F1 | parse ms (mean / p95) | training s | best threshold → acc. |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in results:
        acc, f1 = _scores_line(r.holdout)
        cv_acc, cv_f1 = _scores_line(r.cross_validation)
        blind = _pct(r.blind.accuracy) if r.blind else "—"
        best = r.best
        best_text = f"{best.threshold:.2f} → {_pct(best.accuracy)}" if best else "—"
        lines.append(f"| {r.name} | `{r.config}` | {acc} | {f1} | {blind} | {cv_acc} | {cv_f1} "
                     f"| {r.parse_ms_mean:.1f} / {r.parse_ms_p95:.1f} | {r.train_seconds:.0f} "
                     f"| {best_text} |")
    notes = [f"- {r.name}: cross-validation {r.cv_note}" for r in results if r.cv_note]
    lines += ["", *notes] if notes else []
    best_pipeline = max(results, key=lambda r: (round(r.holdout.accuracy, 3),
                                                -r.parse_ms_mean))
    lines += ["", "### Chosen pipeline", "",
              "By hold-out accuracy (ties to the cheaper parse) the best is "
              f"**{best_pipeline.name}**"
              f" ({_pct(best_pipeline.holdout.accuracy)}, {best_pipeline.parse_ms_mean:.1f} ms "
              "per message). `config.yml` uses "
              + ("this pipeline." if best_pipeline is ours else
                 f"{ours.name} ({_pct(ours.holdout.accuracy)}, {ours.parse_ms_mean:.1f} ms)."),
              ""]
    lines += [f"## Hold-out quality of {ours.name} (`{ours.config}`)", "",
              f"- intent accuracy **{_pct(ours.holdout.accuracy)}** "
              f"({ours.holdout.n - len(ours.holdout.errors)}/{ours.holdout.n}), "
              f"macro-F1 {_pct(ours.holdout.macro_f1)} — target ≥ 95%: "
              f"{'met' if ours.holdout.accuracy >= 0.95 else '**missed**'}",
              f"- out-of-scope (`{OUT_OF_SCOPE}`): precision "
              f"{_pct(ours.holdout.of(OUT_OF_SCOPE).precision)}, recall "
              f"{_pct(ours.holdout.of(OUT_OF_SCOPE).recall)} "
              f"(support {ours.holdout.of(OUT_OF_SCOPE).support})",
              f"- fallback (`{FALLBACK}`, gibberish set): precision "
              f"{_pct(ours.holdout.of(FALLBACK).precision)}, recall "
              f"{_pct(ours.holdout.of(FALLBACK).recall)} "
              f"(support {ours.holdout.of(FALLBACK).support})"]
    if ours.cross_validation:
        lines.append(f"- 5-fold cross-validation on `data/nlu`: accuracy "
                     f"{_pct(ours.cross_validation.accuracy)}, macro-F1 "
                     f"{_pct(ours.cross_validation.macro_f1)}")
    lines += ["", "### Unseen phrasing (blind set)", ""]
    if ours.blind:
        lines.append(f"`tests/nlu_blind.yml` ({ours.blind.n} messages, written without "
                     f"looking at the training data): accuracy **{_pct(ours.blind.accuracy)}**, "
                     f"macro-F1 {_pct(ours.blind.macro_f1)}.")
    else:
        lines.append("`tests/nlu_blind.yml` " + ("could not be scored." if blind_present
                                                  else "is not present yet."))
    lines += ["", "## Fallback threshold", "",
              "Swept on the pre-fallback confidence of the top intent over hold-out + gibberish "
              f"(config.yml: {configured_threshold}).", "",
              "| threshold | accuracy | in-scope acc. | false fallback | fallback P | "
              "fallback R |", "| ---: | ---: | ---: | ---: | ---: | ---: |"]
    best = ours.best
    for p in ours.sweep:
        mark = " ←" if best and p.threshold == best.threshold else ""
        lines.append(f"| {p.threshold:.2f}{mark} | {_pct(p.accuracy)} | "
                     f"{_pct(p.in_scope_accuracy)} | {_pct(p.false_fallback_rate)} | "
                     f"{_pct(p.fallback_precision)} | {_pct(p.fallback_recall)} |")
    if best:
        lines += ["", f"Best threshold by accuracy: **{best.threshold:.2f}** "
                  f"(accuracy {_pct(best.accuracy)}, false fallbacks "
                  f"{_pct(best.false_fallback_rate)}, fallback recall "
                  f"{_pct(best.fallback_recall)})."]
    lines += ["", f"![threshold sweep]({rel}/threshold.png)", "",
              "## Per intent (hold-out)", "",
              "| intent | precision | recall | F1 | support |",
              "| --- | ---: | ---: | ---: | ---: |"]
    for name, s in sorted(ours.holdout.per_intent.items(), key=lambda kv: kv[1].f1):
        lines.append(f"| `{name}` | {s.precision:.2f} | {s.recall:.2f} | {s.f1:.2f} | "
                     f"{s.support} |")
    lines += ["", f"![most-confused intents]({rel}/confusion.png)", "",
              f"### Hold-out errors ({len(ours.holdout.errors)})", ""]
    lines += [f"- `{text}` — expected `{want}`, got `{got}`"
              for text, want, got in ours.holdout.errors]
    if entities:
        p, r, f = entities.micro
        lines += ["", "## Entities (`tests/entities_holdout.yml`)", "",
                  f"{entities.messages} messages, {entities.ms_per_message:.2f} ms per message, "
                  f"{entities.errors} wrong messages. Micro precision {_pct(p)}, recall "
                  f"{_pct(r)}, **F1 {_pct(f)}** (target ≥ 98%).", "",
                  "| label | precision | recall | F1 | support |",
                  "| --- | ---: | ---: | ---: | ---: |"]
        for label, (lp, lr, lf, n) in entities.per_label.items():
            lines.append(f"| `{label}` | {lp:.3f} | {lr:.3f} | {lf:.3f} | {n} |")
    if answers is not None:
        lines += ["", *bench_answers.markdown(answers)]
    lines += ["", "## Notes", "", EMPTY_NOTES, ""]
    return "\n".join(lines)


# --- docs/benchmarks.md ----------------------------------------------------------------

def _latency_rows(load: dict[tuple[str, int], LoadResult]) -> list[str]:
    lines = ["| conversations | bot | p50 ms | p95 ms | p99 ms | turns | tickets | errors | "
             "turns/s | p95 ratio |", "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | "
             "---: | ---: |"]
    for (bot, level), r in sorted(load.items(), key=lambda kv: (kv[0][1], kv[0][0] != "ours")):
        ref = load.get(("reference", level))
        ratio = _fmt(_ratio(r.p(95), ref.p(95)), ".2f", "×") if ref and bot != "reference" else ""
        lines.append(f"| {level} | {bot} | {r.p(50):.0f} | {r.p(95):.0f} | {r.p(99):.0f} | "
                     f"{r.turns} | {r.tickets} | {r.errors} | {r.throughput:.1f} | {ratio} |")
    return lines


def _throughput_rows(results: dict[tuple[str, int], LoadResult], base: str) -> list[str]:
    bots = list(dict.fromkeys(b for b, _ in results))
    levels = sorted({c for _, c in results})
    lines = ["| conversations | " + " | ".join(f"{b} turns/s (per run)" for b in bots)
             + f" | ratio to {base} |", "| ---: |" + " ---: |" * (len(bots) + 1)]
    for level in levels:
        cells = []
        for bot in bots:
            r = results.get((bot, level))
            runs = ", ".join(f"{t:.1f}" for t in r.throughputs) if r else ""
            cells.append(f"{r.throughput:.1f} ({runs})" if r else "—")
        others = [b for b in bots if b != base]
        ratios = ", ".join(
            _fmt(_ratio(results[(b, level)].throughput, results[(base, level)].throughput),
                 ".2f", "×")
            for b in others if (b, level) in results and (base, level) in results)
        lines.append(f"| {level} | " + " | ".join(cells) + f" | {ratios} |")
    return lines


def _profile_lines(name: str, profile: Profile) -> list[str]:
    lines = [f"#### {name} ({profile.samples} samples at 100 Hz)", "",
             "| where (deepest known frame) | share |", "| --- | ---: |"]
    lines += [f"| {cat} | {_pct(share)} |" for cat, share in profile.categories]
    lines += ["", "<details><summary>top frames (inclusive / leaf)</summary>", ""]
    lines += [f"- {_pct(share)} `{frame}`" for frame, share in profile.inclusive]
    lines += ["", "leaf:", ""]
    lines += [f"- {_pct(share)} `{frame}`" for frame, share in profile.leaves]
    lines += ["", "</details>", ""]
    return lines


def benchmarks_markdown(
    rows: list[Row], serving: ServingResult | None, training: dict[str, TrainingResult],
    header: list[str], plots: Path, doc_dir: Path, quick: bool,
) -> str:
    rel = _rel(plots, doc_dir)
    lines = ["# Benchmarks", "", *header, "",
             "Generated by `make bench` (`python -m bot.bench`); edit only the notes block. "
             "Ours and the reference (`rasa init --no-prompt`, default pipeline and policies, "
             "trained in a temporary folder) run in the same process tree on the same "
             "machine and are measured in alternation; compare the ratios, not the absolute "
             "numbers." + (" **Quick run: tiny sizes, numbers meaningless.**" if quick else ""),
             "", "## Targets (issue 7)", "", *targets_table(rows), ""]
    if serving:
        lines += ["## Conversation latency (REST webhook → Rasa → action server → SQLite)", "",
                  "Each simulated merchant holds one conversation at a time and waits for every "
                  "reply. Ours: 11 turns (greeting, 2 FAQ questions, the full unbind form with a "
                  "unique merchant number, confirmation → new ticket, status, thanks). Reference: "
                  "10 turns of its own greet/mood/bot-challenge phrases; in-memory tracker store "
                  "and no action server, as `rasa init` configures it.", "",
                  *_latency_rows(serving.load), "", f"![latency]({rel}/latency.png)", "",
                  "## Throughput", ""]
        if any(k[0] == "reference" for k in serving.load):
            lines += _throughput_rows(
                {k: v for k, v in serving.load.items() if k[1] > 1}, "reference")
        else:
            lines.append("Reference not measured (quick run).")
        lines.append("")
        if serving.workers:
            lines += ["### Rasa Sanic workers (both with the Redis lock store)", "",
                      *_throughput_rows(serving.workers, "1 worker"), "",
                      "Memory after load: " + ", ".join(
                          f"{k} {v:.0f} MiB" for k, v in serving.workers_memory_mb.items()), ""]
        lines += [f"![throughput]({rel}/throughput.png)", "",
                  "## Memory (RSS incl. children, after load)", "",
                  "| process | MiB |", "| --- | ---: |"]
        lines += [f"| {k} | {v:.0f} |" for k, v in serving.memory_mb.items()]
        lines += ["", "## Start-up (launch → first 2xx from /status)", "",
                  "| server | median s | runs |", "| --- | ---: | --- |"]
        lines += [f"| {k} | {_median(v):.1f} | {', '.join(f'{s:.1f}' for s in v)} |"
                  for k, v in serving.startup.items()]
        lines += ["", *console_report.section(serving.console)]
        lines += [f"- {note}" for note in serving.notes]
    if training:
        lines += ["## Training (2 cores, empty cache, copies in a temporary folder)", "",
                  "| bot | full s | after one response text changed s | changed line |",
                  "| --- | ---: | ---: | --- |"]
        lines += [f"| {t.bot} | {t.full_seconds:.0f} | {t.retrain_seconds:.0f} | "
                  f"`{t.changed}` |" for t in training.values()]
        lines += ["", "The reference's full time is `rasa init --no-prompt` (scaffold + "
                  "train).", ""]
    if serving and serving.profiles:
        lines += ["## Profiles (py-spy)", ""]
        for name, profile in serving.profiles.items():
            lines += _profile_lines(name, profile)
    lines += ["## Analysis and levers", "", EMPTY_NOTES, ""]
    return "\n".join(lines)


def _rel(plots: Path, doc_dir: Path) -> str:
    try:
        return str(plots.relative_to(doc_dir))
    except ValueError:
        return str(plots)


def write(path: Path, text: str) -> None:
    """Replace the generated part of ``path``; anything else in the file is kept below it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    block = f"{START}\n{_keep_notes(path, text).rstrip()}\n{END}\n"
    if GENERATED.search(old):
        new = GENERATED.sub(lambda _: block.rstrip("\n"), old, count=1)
    else:
        new = block + ("\n" + old if old.strip() else "")
    path.write_text(new, encoding="utf-8")
