"""Answer quality through the running bot: hold-out, development and blind sets.

The second to seventh development sets (``tests/dev/merchant_messages_dev.yml``,
``merchant_messages_dev_c.yml`` … ``merchant_messages_dev_g.yml``, each written by someone
who had not seen data/nlu) are split in two halves by message text:
``development-b-a`` … ``-g-a`` are looked at and tuned on; ``development-b-b`` … ``-g-b``,
like the blind set, are only ever reported as counts.

Every message goes through the REST webhook of our running bot (NLU, rules, actions,
grounded answers) and is scored by what the bot answered (``bot.evaluation``). The
grounding threshold is swept on the development set only (the blind set is never used
to tune anything), and the cost of grounding (``bot.knowledge.grounding.ground``) is
timed in this process on every message. Blind-set texts are never printed or written:
only its figures are.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from bot.bench.load import percentile
from bot.evaluation.message_set import load_cases, split_half
from bot.evaluation.runner import Result, run_cases
from bot.evaluation.scoring import SetScore, score_set
from bot.knowledge.grounding import ground, settings
from bot.paths import ROOT

DEV_B = ROOT / "tests" / "dev" / "merchant_messages_dev.yml"
DEV_C = ROOT / "tests" / "dev" / "merchant_messages_dev_c.yml"
DEV_D = ROOT / "tests" / "dev" / "merchant_messages_dev_d.yml"
DEV_E = ROOT / "tests" / "dev" / "merchant_messages_dev_e.yml"
DEV_F = ROOT / "tests" / "dev" / "merchant_messages_dev_f.yml"
DEV_G = ROOT / "tests" / "dev" / "merchant_messages_dev_g.yml"
SETS = {
    "hold-out": (ROOT / "tests" / "nlu_holdout.yml", ROOT / "tests" / "nlu_holdout_gibberish.yml"),
    "development": (ROOT / "tests" / "nlu_dev.yml",),
    "development-b-a": (DEV_B,),
    "development-b-b": (DEV_B,),
    "development-c-a": (DEV_C,),
    "development-c-b": (DEV_C,),
    "development-d-a": (DEV_D,),
    "development-d-b": (DEV_D,),
    "development-e-a": (DEV_E,),
    "development-e-b": (DEV_E,),
    "development-f-a": (DEV_F,),
    "development-f-b": (DEV_F,),
    "development-g-a": (DEV_G,),
    "development-g-b": (DEV_G,),
    "blind": (ROOT / "tests" / "blind" / "merchant_messages_2.yml",),
    "blind-1": (ROOT / "tests" / "blind" / "merchant_messages.yml",),
}
HALF = {"development-b-a": "a", "development-b-b": "b",
        "development-c-a": "a", "development-c-b": "b",
        "development-d-a": "a", "development-d-b": "b",
        "development-e-a": "a", "development-e-b": "b",
        "development-f-a": "a", "development-f-b": "b",
        "development-g-a": "a", "development-g-b": "b"}
"""Sets that are one half of their file (``bot.evaluation.message_set.split_half``): the
second to fifth development sets' half a is looked at and tuned on, half b never is."""
PRIVATE = frozenset({"blind", "blind-1", "development-b-b", "development-c-b",
                     "development-d-b", "development-e-b", "development-f-b",
                     "development-g-b"})
"""Sets whose messages are never shown, nor which labels they miss: only their figures
and counts per kind."""
TARGET_SETS = ("hold-out", "blind")
"""The sets issue 14's ≥ 98% applies to. ``blind`` is the second blind set (313 messages,
written 2026-12-07 by someone who saw only the guide and topics.yml); ``blind-1``, the
first, was used once for a keep-or-drop decision and is reported beside it."""
THRESHOLDS = tuple(round(0.05 * i, 2) for i in range(0, 21))


@dataclass(frozen=True)
class SweepPoint:
    """Grounded answers at one threshold, had every development message been grounded."""

    threshold: float
    grounded: int
    correct: int
    in_guide: int
    out_declined: int
    out_total: int

    @property
    def precision(self) -> float:
        return self.correct / self.grounded if self.grounded else 1.0


TARGET_PRECISION = 0.95
"""The measured threshold is the lowest whose grounded answers are this often right."""


@dataclass
class AnswersResult:
    """Scores per set, the threshold sweep and what grounding costs."""

    scores: dict[str, SetScore] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    sweep: list[SweepPoint] = field(default_factory=list)
    threshold: float = 0.0
    grounding_ms: list[float] = field(default_factory=list)
    turn_seconds: dict[str, list[float]] = field(default_factory=dict)

    @property
    def best(self) -> SweepPoint | None:
        """The lowest threshold whose grounded answers reach ``TARGET_PRECISION``."""
        return next((p for p in self.sweep if p.grounded and p.precision >= TARGET_PRECISION),
                    None)


def sweep(results: list[Result], thresholds: tuple[float, ...] = THRESHOLDS) -> list[SweepPoint]:
    """How right grounded answers would be at each threshold, had every message been
    grounded: a guide question answered from the wrong topic is wrong, one left
    unanswered is a miss; a question the guide does not answer must be declined."""
    scored = []
    for result in results:
        case = result.outcome.case
        found = ground(case.text, result.parsed.ranking)
        if case.expect == "out_of_scope" or case.expect.startswith("faq_"):
            scored.append((case, found))
    points = []
    for threshold in thresholds:
        grounded = correct = in_guide = out_declined = out_total = 0
        for case, found in scored:
            answered = found is not None and found.score >= threshold
            if case.expect == "out_of_scope":
                out_total += 1
                out_declined += not answered
            else:
                in_guide += 1
            if answered:
                grounded += 1
                correct += found.topic.intent in case.accepted
        points.append(SweepPoint(threshold, grounded, correct, in_guide, out_declined,
                                 out_total))
    return points


def time_grounding(results: list[Result]) -> list[float]:
    """Milliseconds of one ``ground()`` call per message (in this process)."""
    timings = []
    for result in results:
        started = time.perf_counter()
        ground(result.outcome.case.text, result.parsed.ranking)
        timings.append(1000 * (time.perf_counter() - started))
    return timings


def evaluate_answers(rasa_url: str, names: tuple[str, ...] = tuple(SETS)) -> AnswersResult:
    """Every set of ``names`` that exists, through the bot at ``rasa_url``."""
    out = AnswersResult(threshold=settings().threshold)
    for name in names:
        paths = SETS[name]
        if not all(p.exists() for p in paths):
            out.missing.append(name)
            continue
        cases = [c for p in paths for c in load_cases(p)]
        if name in HALF:
            cases = split_half(cases, HALF[name])
        with tqdm(total=len(cases), desc=f"answers: {name}", unit="msg", leave=False) as bar:
            results = run_cases(rasa_url, cases, f"bench-{name}",
                                progress=lambda _n: bar.update(1))
        out.scores[name] = score_set(name, [r.outcome for r in results])
        out.turn_seconds[name] = [r.outcome.seconds for r in results]
        out.turn_seconds[f"{name}, grounded"] = [
            r.outcome.seconds for r in results if r.outcome.answers.grounded
        ]
        if name == "development":
            out.sweep = sweep(results)
        out.grounding_ms += time_grounding(results)
    return out


def p(values: list[float], q: float, scale: float = 1.0) -> str:
    return f"{scale * percentile(values, q):.1f}" if values else "—"


def markdown(result: AnswersResult) -> list[str]:
    """The report section (no blind-set text in it)."""
    lines = ["## Answers through the dialogue (issue 14)", "",
             "Each message is the first of its own conversation through the REST webhook of "
             "our running bot; what the bot answered is read from the tracker (the "
             "`answers` each reply's metadata names), not from its wording. Correct = the "
             "first answer is `expect` or in `also_ok`; for two questions, `second` also "
             "answered or offered as a button; the \"didn't understand\" reply is wrong "
             "unless expected. Hold-out = `tests/nlu_holdout.yml` + gibberish (labelled "
             "before the step topics: a step's answer also satisfies the topic whose guide "
             "passage contains it, counted in the last column).", "",
             "| set | messages | accuracy | grounded answers (correct) | invented facts "
             "(not_in_guide) | via a step of the expected topic |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for name, s in result.scores.items():
        g = s.grounded
        lines.append(
            f"| {name} | {s.overall.total} | **{100 * s.overall.accuracy:.1f}%** | "
            f"{g.total} ({g.correct}) | {len(s.invented)} of {s.not_in_guide} | "
            f"{s.by_narrower} |")
    for name in result.missing:
        lines.append(f"| {name} | — | not present | | | |")
    lines += ["", "### Per kind", "", "| set | kind | messages | correct | accuracy |",
              "| --- | --- | ---: | ---: | ---: |"]
    for name, s in result.scores.items():
        for kind, tally in sorted(s.per_kind.items()):
            lines.append(f"| {name} | {kind} | {tally.total} | {tally.correct} | "
                         f"{100 * tally.accuracy:.1f}% |")
    lines += ["", "### Per label (not for sets never looked at)", "",
              "| set | expected | messages | accuracy |", "| --- | --- | ---: | ---: |"]
    for name, s in result.scores.items():
        if name in PRIVATE:
            continue
        for label, tally in sorted(s.per_label.items(), key=lambda kv: kv[1].accuracy):
            if tally.correct < tally.total:
                lines.append(f"| {name} | `{label}` | {tally.total} | "
                             f"{100 * tally.accuracy:.1f}% |")
    lines += ["", "(labels answered every time are left out)", ""]
    if result.sweep:
        best = result.best
        measured = (f"{best.threshold:.2f} (grounded answers right {100 * best.precision:.1f}% "
                    f"of the time)" if best else "none reaches the target")
        lines += ["### Grounding threshold (measured on the development set)", "",
                  "Every guide question and out-of-scope message of the development set is "
                  "grounded as if the NLU had been unsure (with the NLU ranking it had): at "
                  "each threshold, how many would get a grounded answer, how many of those "
                  "quote the right topic, and how many out-of-scope messages are declined. "
                  f"Measured threshold = the lowest whose grounded answers are right at least "
                  f"{100 * TARGET_PRECISION:.0f}% of the time: **{measured}**; configured "
                  f"(`data/knowledge/grounding.yml`): **{result.threshold:.2f}**.", "",
                  "| threshold | grounded | right topic | precision | out of scope declined |",
                  "| ---: | ---: | ---: | ---: | ---: |"]
        lines += [f"| {pt.threshold:.2f}{' ←' if pt.threshold == result.threshold else ''} "
                  f"| {pt.grounded} of {pt.in_guide + pt.out_total} | {pt.correct} | "
                  f"{100 * pt.precision:.1f}% | {pt.out_declined} of {pt.out_total} |"
                  for pt in result.sweep]
        lines.append("")
    timings = result.turn_seconds
    lines += ["### Cost", "",
              f"Grounding (`ground()`, in-process, every message): p50 "
              f"{p(result.grounding_ms, 50)} ms, p95 {p(result.grounding_ms, 95)} ms.", "",
              "| turns | n | p50 ms | p95 ms |", "| --- | ---: | ---: | ---: |"]
    for name, values in timings.items():
        lines.append(f"| {name} | {len(values)} | {p(values, 50, 1000)} | "
                     f"{p(values, 95, 1000)} |")
    lines += ["", "### Errors (sets that may be looked at only)", ""]
    for name, s in result.scores.items():
        if name in PRIVATE:
            continue
        for o in s.errors:
            got = ", ".join(sorted(o.answers.first)) or "nothing"
            extra = f"; second `{o.case.second}` missing" if o.second_ok is False else ""
            lines.append(f"- {name}: `{o.case.text}` — expected `{o.case.expect}`, "
                         f"answered {got}{extra}")
    lines.append("")
    return lines


def summary(result: AnswersResult) -> str:
    rows = [f"{name}: {100 * s.overall.accuracy:.1f}% of {s.overall.total}, invented facts "
            f"{len(s.invented)}/{s.not_in_guide}" for name, s in result.scores.items()]
    return "answers: " + "; ".join(rows) + (
        f"; not present: {', '.join(result.missing)}" if result.missing else "")


def write(result: AnswersResult, path: Path) -> None:
    path.write_text("\n".join(markdown(result)), encoding="utf-8")
