"""Screen what a merchant typed before it reaches NLU, the same way in every channel.

Control characters and invisible direction marks are removed; an empty message or
one longer than ``MAX_MESSAGE_CHARS`` gets a clear reply instead of being parsed.
Secrets are replaced by ``bot.redaction.MASK`` here, before Rasa, the action server or
any log sees the text; NLU still recognises the mask and the bot warns the merchant.

:func:`admit` is what every channel calls: the per-sender rate limit, then
:func:`screen`. :func:`screen_metadata` does the same for the metadata a client sends
with a message: only known keys, short values, secrets hidden.
"""

from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from bot.ratelimit import SENDER_REPLY, RateLimiter, sender_allowed
from bot.redaction import redact_text

MAX_MESSAGE_CHARS = int(os.environ.get("MAX_MESSAGE_CHARS", "1000"))
EMPTY_REPLY = "您好像没有输入内容，请直接告诉我您的问题。"
TOO_LONG_REPLY = "消息太长了（超过{limit}字），请分几次、简短地告诉我。"
# The metadata a client may attach to a message, and how long an id may be: the chat
# page's ``client_id`` (de-duplication), ``display``/``hidden`` (how the page shows a
# button click) and the load test's ``turn_id``. Anything else is dropped unread.
METADATA_KEYS = ("client_id", "turn_id", "display", "hidden")
MAX_METADATA_ID_CHARS = 128
# Bidirectional and zero-width marks: invisible, and used to disguise text.
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")


@dataclass(frozen=True)
class Screened:
    """The cleaned text to process, or the reply to send instead."""

    text: str
    reply: str | None = None
    limited: bool = False


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
    return Screened(redact_text(cleaned))


async def admit(
    limiter: RateLimiter, channel: str, sender: str, text: object, typed: bool = True
) -> Screened:
    """Count the message against the sender's rate limit, then :func:`screen` it.

    ``typed=False`` is for texts the channel made itself (a menu click's payload): they
    are rate limited but passed on unchanged.
    """
    if not await sender_allowed(limiter, channel, sender):
        return Screened("", SENDER_REPLY, limited=True)
    if not typed:
        return Screened(text) if isinstance(text, str) else screen(text)
    return screen(text)


def screen_metadata(metadata: object) -> dict[str, Any]:
    """Only the known keys of ``metadata``: ids of at most ``MAX_METADATA_ID_CHARS``,
    ``display`` screened like a message (clean, short, secrets hidden), ``hidden`` a
    boolean. Whatever else a client sends (other keys, nested data, megabytes) is
    neither stored nor even looked at."""
    if not isinstance(metadata, dict):
        return {}
    kept: dict[str, Any] = {}
    for key in ("client_id", "turn_id"):
        raw = metadata.get(key)
        if not isinstance(raw, str) or len(raw) > MAX_METADATA_ID_CHARS:
            continue
        if value := redact_text(clean(raw)):
            kept[key] = value
    display = metadata.get("display")
    if isinstance(display, str) and (shown := screen(display)).reply is None:
        kept["display"] = shown.text
    if isinstance(metadata.get("hidden"), bool):
        kept["hidden"] = metadata["hidden"]
    return kept
