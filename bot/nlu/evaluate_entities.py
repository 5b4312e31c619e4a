"""Evaluate the entity extractor on the hold-out set.

    python -m bot.nlu.evaluate_entities [--out docs/entities.md] [--holdout FILE]

An entity counts as correct when its (label, normalised value) matches an expected one in the
same message (as a multiset). Prints per-label precision/recall/F1, micro F1 and every error.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from bot.nlu.entities import LABELS, extract_entities, get_nlp
from bot.paths import ROOT

HOLDOUT_FILE: Path = ROOT / "tests" / "entities_holdout.yml"

Pair = tuple[str, str]


@dataclass
class Scores:
    """Counts per label plus the list of wrong messages."""

    tp: Counter[str] = field(default_factory=Counter)
    fp: Counter[str] = field(default_factory=Counter)
    fn: Counter[str] = field(default_factory=Counter)
    errors: list[tuple[str, list[Pair], list[Pair]]] = field(default_factory=list)
    messages: int = 0
    seconds: float = 0.0

    def prf(self, label: str | None = None) -> tuple[float, float, float]:
        """Precision, recall, F1 for one label, or micro-averaged when ``label`` is None."""
        labels = [label] if label else list(LABELS)
        tp = sum(self.tp[lb] for lb in labels)
        fp = sum(self.fp[lb] for lb in labels)
        fn = sum(self.fn[lb] for lb in labels)
        precision = tp / (tp + fp) if tp + fp else 1.0
        recall = tp / (tp + fn) if tp + fn else 1.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return precision, recall, f1

    @property
    def micro_f1(self) -> float:
        """Micro-averaged F1 over all labels."""
        return self.prf()[2]


def load_holdout(path: Path = HOLDOUT_FILE) -> list[tuple[str, list[Pair]]]:
    """The hold-out examples as (text, [(label, value), ...])."""
    items = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [
        (str(item["text"]), [(e["label"], str(e["value"])) for e in item.get("entities") or []])
        for item in items
    ]


def evaluate(examples: Iterable[tuple[str, list[Pair]]]) -> Scores:
    """Run the extractor on every example and count matches on (label, value)."""
    scores = Scores()
    get_nlp()  # build the pipeline before timing
    start = time.perf_counter()
    for text, expected in examples:
        predicted = [(e.label, e.value) for e in extract_entities(text)]
        want, got = Counter(expected), Counter(predicted)
        for (label, _), n in (want & got).items():
            scores.tp[label] += n
        for (label, _), n in (got - want).items():
            scores.fp[label] += n
        for (label, _), n in (want - got).items():
            scores.fn[label] += n
        if want != got:
            scores.errors.append((text, expected, predicted))
        scores.messages += 1
    scores.seconds = time.perf_counter() - start
    return scores


def _fmt(pairs: list[Pair]) -> str:
    return ", ".join(f"{label}={value}" for label, value in pairs) or "—"


def report(scores: Scores, source: str = "tests/entities_holdout.yml") -> str:
    """A markdown report: score table, then every error."""
    support = scores.tp + scores.fn
    lines = [
        "# Entity extraction: hold-out evaluation",
        "",
        f"`python -m bot.nlu.evaluate_entities` on `{source}`: "
        f"{scores.messages} messages, {sum(support.values())} expected entities, "
        f"{1000 * scores.seconds / max(scores.messages, 1):.2f} ms per message.",
        "Matching is on (label, normalised value) per message.",
        "",
        "| label | precision | recall | F1 | support |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for label in LABELS:
        p, r, f = scores.prf(label)
        lines.append(f"| `{label}` | {p:.3f} | {r:.3f} | {f:.3f} | {support[label]} |")
    p, r, f = scores.prf()
    lines.append(f"| **micro** | {p:.3f} | {r:.3f} | **{f:.3f}** | {sum(support.values())} |")
    lines += ["", f"## Errors ({len(scores.errors)})", ""]
    if not scores.errors:
        lines.append("None.")
    for text, expected, predicted in scores.errors:
        lines.append(f"- `{text}` — expected {_fmt(expected)}; got {_fmt(predicted)}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--holdout", type=Path, default=HOLDOUT_FILE)
    parser.add_argument("--out", type=Path, help="also write the markdown report here")
    args = parser.parse_args(argv)
    source = args.holdout.resolve()
    shown = source.relative_to(ROOT) if source.is_relative_to(ROOT) else source
    text = report(evaluate(load_holdout(source)), str(shown))
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
