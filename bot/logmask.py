"""Personal data never reaches a log line, whichever library writes it.

:func:`install` replaces the process's log-record factory, so every record any logger
creates (Rasa's, the Rasa SDK's, Sanic's, ours) has its message — and its traceback —
passed through :func:`mask_personal`: secrets are hidden (``bot.redaction``), merchant
numbers become ``849581******001`` and mobile numbers ``138****5678``. It works
whatever handlers or levels a process configures later, so it is installed once per
process where the process first loads our code:

- Rasa: ``bot.channels`` (credentials.yml) and ``bot.stores`` (endpoints.yml);
- the action server (``rasa run actions``): ``actions/__init__.py``;
- the web app: ``bot.web.app.create_app``.

Sanic's access log carries the request line in an ``extra`` field that the factory
never sees; a filter on ``sanic.access`` masks it too.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from bot.fields import mask_merchant_id, mask_phone
from bot.redaction import redact_text

# 15 digits (spaces or hyphens allowed between them, as merchants type them), not part
# of a longer number or of a decimal fraction.
_MERCHANT_RUN = re.compile(r"(?<![\d.])\d(?:[ \-]?\d){14}(?![\d])")
_PHONE_RUN = re.compile(r"(?<![\d.])(?:\+?86[ \-]?)?1[3-9](?:[ \-]?\d){9}(?![\d])")
_NON_DIGIT = re.compile(r"\D")
# Rasa's structured log lines are JSON with non-ASCII escaped ("\u5bc6\u7801" for 密码):
# unescape them so the cue words are seen (not control characters, not lone surrogates).
_ESCAPED = re.compile(r"\\u([0-9a-fA-F]{4})")
_FORMATTER = logging.Formatter()
_installed = False


def _digits(text: str) -> str:
    return _NON_DIGIT.sub("", text)


def _unescape(match: re.Match[str]) -> str:
    code = int(match.group(1), 16)
    return chr(code) if code >= 0x20 and not 0xD800 <= code <= 0xDFFF else match.group()


def mask_personal(text: str) -> str:
    """``text`` with secrets hidden and merchant and mobile numbers masked."""
    if not text:
        return text
    if "\\u" in text:
        text = _ESCAPED.sub(_unescape, text)
    text = redact_text(text)
    text = _MERCHANT_RUN.sub(lambda m: mask_merchant_id(_digits(m.group())), text)
    return _PHONE_RUN.sub(lambda m: mask_phone(_digits(m.group())[-11:]), text)


def scrub(record: logging.LogRecord) -> logging.LogRecord:
    """Mask the record's message, traceback and stack in place (and return it)."""
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - a bad format string: the handler reports it
        return record
    masked = mask_personal(message)
    if masked != message:
        record.msg, record.args = masked, None
    if record.exc_info and record.exc_info[0] is not None and not record.exc_text:
        record.exc_text = mask_personal(_FORMATTER.formatException(record.exc_info))
    if record.stack_info:
        record.stack_info = mask_personal(record.stack_info)
    return record


class _AccessLogFilter(logging.Filter):
    """Masks the request line Sanic's access log passes as ``extra``."""

    def filter(self, record: logging.LogRecord) -> bool:
        request = getattr(record, "request", None)
        if isinstance(request, str):
            record.request = mask_personal(request)
        return True


def install() -> None:
    """Mask every log record created from now on in this process (idempotent)."""
    global _installed
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return scrub(previous(*args, **kwargs))

    logging.setLogRecordFactory(factory)
    logging.getLogger("sanic.access").addFilter(_AccessLogFilter())
    _installed = True
