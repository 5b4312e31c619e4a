"""Screen what a merchant typed before it reaches NLU, the same way in every channel.

Control characters and invisible direction marks are removed; an empty message or
one longer than ``MAX_MESSAGE_CHARS`` gets a clear reply instead of being parsed.
"""

from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass

MAX_MESSAGE_CHARS = int(os.environ.get("MAX_MESSAGE_CHARS", "1000"))
EMPTY_REPLY = "您好像没有输入内容，请直接告诉我您的问题。"
TOO_LONG_REPLY = "消息太长了（超过{limit}字），请分几次、简短地告诉我。"
# Bidirectional and zero-width marks: invisible, and used to disguise text.
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")


@dataclass(frozen=True)
class Screened:
    """The cleaned text to process, or the reply to send instead."""

    text: str
    reply: str | None = None


def clean(text: str) -> str:
    """Drop control characters (keeping line breaks and tabs) and invisible marks."""
    text = _INVISIBLE.sub("", text)
    return "".join(
        ch for ch in text if ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cs")
    ).strip()


def screen(text: object, limit: int = MAX_MESSAGE_CHARS) -> Screened:
    """Decide whether a message may go to the bot."""
    if not isinstance(text, str):
        return Screened("", EMPTY_REPLY)
    if len(text) > limit * 4:  # don't even clean a huge body
        return Screened("", TOO_LONG_REPLY.format(limit=limit))
    cleaned = clean(text)
    if not cleaned:
        return Screened("", EMPTY_REPLY)
    if len(cleaned) > limit:
        return Screened("", TOO_LONG_REPLY.format(limit=limit))
    return Screened(cleaned)
