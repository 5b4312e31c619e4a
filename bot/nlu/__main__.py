"""``python -m bot.nlu export-candidates [--out FILE]``: labelled candidates as Rasa NLU YAML.

Agents label candidate messages in the console (page 待标注); this writes the labelled
ones, grouped by intent, for a person to review before anything is moved into data/nlu.
Messages already in the training data, duplicates, and messages that still contain a
masked number or a hidden secret (``849581******003``, ``[已隐藏]``: not a phrasing worth
learning as it is) are left out and counted.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from bot.learning.candidates import CandidateView, default_store
from bot.nlu.training_examples import nlu_examples, normalise
from bot.redaction import MASK

HEADER = """\
# Candidate NLU examples labelled by agents in the console (page 待标注), exported
# {when} by `python -m bot.nlu export-candidates`. Review every example (is the label
# right? is it a real merchant phrasing?) before moving it into data/nlu/. Each
# example's comment names who labelled it and what the bot had understood.
version: "3.1"
nlu:
"""


def select(
    candidates: Sequence[CandidateView], trained: set[str]
) -> tuple[dict[str, list[CandidateView]], dict[str, int]]:
    """Candidates to export by intent, and how many were left out, by reason."""
    by_intent: dict[str, list[CandidateView]] = {}
    seen: set[str] = set()
    skipped = {"already trained": 0, "duplicate": 0, "masked": 0}
    for candidate in candidates:
        key = normalise(candidate.text)
        if MASK in candidate.text or "**" in candidate.text:
            skipped["masked"] += 1
        elif key in trained:
            skipped["already trained"] += 1
        elif key in seen or not key:
            skipped["duplicate"] += 1
        else:
            seen.add(key)
            by_intent.setdefault(candidate.label or "", []).append(candidate)
    return by_intent, skipped


def render(by_intent: dict[str, list[CandidateView]], when: datetime) -> str:
    """Rasa NLU YAML (one block per intent), with a comment line per example."""
    lines = [HEADER.format(when=f"{when:%Y-%m-%d %H:%M}").rstrip("\n")]
    for intent in sorted(by_intent):
        lines.append(f"- intent: {intent}")
        for c in by_intent[intent]:
            lines.append(f"  # {c.id}: {c.labelled_by or '?'}; bot: {c.intent or '-'} "
                         f"({c.reason})")
        lines.append("  examples: |")
        lines += [f"    - {' '.join(c.text.split())}" for c in by_intent[intent]]
    return "\n".join(lines) + "\n"


def export_candidates(out: Path | None) -> int:
    by_intent, skipped = select(default_store().labelled(), nlu_examples())
    text = render(by_intent, datetime.now())
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")
    total = sum(len(v) for v in by_intent.values())
    left = ", ".join(f"{n} {why}" for why, n in skipped.items() if n) or "none"
    print(f"exported {total} examples in {len(by_intent)} intents; left out: {left}",
          file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.nlu", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    export = commands.add_parser("export-candidates", help="labelled candidates as NLU YAML")
    export.add_argument("--out", type=Path, help="file to write (default: standard output)")
    args = parser.parse_args(argv)
    return export_candidates(args.out)


if __name__ == "__main__":
    sys.exit(main())
