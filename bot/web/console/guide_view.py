"""The sanitised guide as sections for the guide browser."""

from __future__ import annotations

import re
from dataclasses import dataclass

_CHAPTER = re.compile(r"^[一二三四五六七八九十]+、")
_PART = re.compile(r"^[(（][一二三四五六七八九十]+[)）]")
_LIST_ITEM = re.compile(r"^\d+[、.]")


@dataclass(frozen=True)
class Heading:
    """A heading line of the guide: its text, level (1–3) and offsets."""

    title: str
    level: int
    start: int
    end: int


def heading_level(line: str) -> int | None:
    """1 for a document title, 2 for 一、… and short titles, 3 for (一)…; None for body text."""
    text = line.strip()
    if not text or _LIST_ITEM.match(text) or "。" in text or len(text) > 30:
        return None
    if _CHAPTER.match(text):
        return 2
    if _PART.match(text):
        return 3
    if text.endswith((":", "：")) or ("," in text and "指南" not in text):
        return None
    return 1 if "指南" in text or "详解" in text else 2


def headings(guide: str) -> list[Heading]:
    """Headings in order, with offsets into ``guide``."""
    found, offset = [], 0
    for line in guide.splitlines(keepends=True):
        level = heading_level(line)
        if level is not None:
            title = line.strip()
            start = offset + line.index(title)
            found.append(Heading(title, level, start, start + len(title)))
        offset += len(line)
    return found
