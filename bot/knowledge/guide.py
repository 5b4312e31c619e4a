"""The unbind guide, sanitised: garbled words fixed and advertising removed."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from bot.paths import DATA, SHARED_GUIDE_DIR

GUIDE_PATH = DATA / "knowledge" / "guide.txt"
FIXES_PATH = DATA / "knowledge" / "guide_fixes.yml"


@dataclass(frozen=True)
class GuideFixes:
    """Word replacements and advertising lines to drop."""

    replace: dict[str, str]
    drop_lines_containing: tuple[str, ...]

    @classmethod
    def load(cls, path: Path = FIXES_PATH) -> GuideFixes:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        return cls(dict(raw["replace"]), tuple(raw["drop_lines_containing"]))


def sanitise(raw: str, fixes: GuideFixes) -> str:
    """Return the guide text with fixes applied and advertising lines removed."""
    kept = [
        line
        for line in raw.splitlines()
        if not any(marker in line for marker in fixes.drop_lines_containing)
    ]
    text = "\n".join(kept).strip() + "\n"
    for wrong, right in fixes.replace.items():
        text = text.replace(wrong, right)
    return text


def read_raw_guide(directory: Path = SHARED_GUIDE_DIR) -> str:
    """Concatenate the raw guide files in name order."""
    files = sorted(directory.glob("*.txt"))
    if not files:
        raise FileNotFoundError(f"no guide files in {directory}")
    return "\n".join(f.read_text(encoding="utf-8") for f in files)


@lru_cache(maxsize=1)
def guide_text() -> str:
    """The sanitised guide that ships with the bot."""
    return GUIDE_PATH.read_text(encoding="utf-8")


def normalise_quote(text: str) -> str:
    """Collapse whitespace so quotes can be matched across line breaks."""
    return "".join(text.split())
