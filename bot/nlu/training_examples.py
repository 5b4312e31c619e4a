"""The NLU training examples of ``data/nlu``, normalised for overlap checks.

Evaluation sets must not contain a training example (a phrasing that is also in training
proves nothing), and ``python -m bot.nlu export-candidates`` leaves out messages that are
already trained. Both compare texts the same way: lower case, without spaces or
punctuation, entity annotations reduced to their text.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from bot.paths import DATA

NLU_DIR = DATA / "nlu"
_ANNOTATION = re.compile(r"\[([^\]]*)\](?:\([^)]*\)|\{[^}]*\})")


def normalise(text: str) -> str:
    """Lower case, without spaces or punctuation: "F1 F4" and "f1f4" are the same text."""
    return re.sub(r"[\W_]+", "", text.lower())


def nlu_examples(folder: Path = NLU_DIR) -> set[str]:
    """Every example of ``folder`` (entity annotations reduced to their text), normalised."""
    found: set[str] = set()
    for path in sorted(folder.rglob("*.yml")):
        document: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for item in document.get("nlu") or ():
            for line in str(item.get("examples") or "").splitlines():
                line = line.strip()
                if line.startswith("- "):
                    found.add(normalise(_ANNOTATION.sub(r"\1", line[2:])))
    return found
