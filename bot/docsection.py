"""Generated sections of a Markdown document (docs/benchmarks.md), between markers.

A section named ``name`` lies between ``<!-- name:start -->`` and ``<!-- name:end -->``;
writing it replaces only that span (or appends it), so one generator never eats another's
section or the hand-written text around it.
"""

from __future__ import annotations

import re
from pathlib import Path


def markers(name: str) -> tuple[str, str]:
    """The start and end markers of section ``name``."""
    return f"<!-- {name}:start -->", f"<!-- {name}:end -->"


def write_section(path: Path, name: str, body: str) -> None:
    """Replace (or append) section ``name`` of ``path`` with ``body``, markers added."""
    start, end = markers(name)
    section = f"{start}\n{body.strip(chr(10))}\n{end}"
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    if pattern.search(old):
        new = pattern.sub(lambda _: section, old, count=1)
    else:
        new = old.rstrip("\n") + "\n\n" + section + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(new, encoding="utf-8")
