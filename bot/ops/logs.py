"""JSON log lines: one object per line, with the conversation id, never a message text.

Every record carries ``conversation_id`` from a context variable that the channel
wrappers (``bot.ops.channels``) set for the duration of a turn, so Rasa's own log lines
written while a turn is processed are attributed too. The formatted message is passed
through ``bot.redaction`` as a last line of defence; our own log calls never include
what a merchant typed.
"""

from __future__ import annotations

import json
import logging
import os
import time
from contextvars import ContextVar

from bot.redaction import redact_text

conversation_id: ContextVar[str | None] = ContextVar("conversation_id", default=None)
SERVICE = os.environ.get("SERVICE_NAME", "")
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "service", "conversation_id", "msg", ...extra}``."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, object] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "service": SERVICE or None,
            "conversation_id": getattr(record, "conversation_id", None) or conversation_id.get(),
            "msg": redact_text(record.getMessage()),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in payload and not key.startswith("_"):
                payload[key] = value if isinstance(value, (int, float, bool)) else str(value)
        if record.exc_info and record.exc_info[0] is not None:
            payload["error"] = record.exc_info[0].__name__
        return json.dumps(payload, ensure_ascii=False, default=str)


def configure(level: str | None = None) -> None:
    """Send every log record to stderr as JSON (used by the action server and web app)."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level or os.environ.get("LOG_LEVEL", "INFO"))
