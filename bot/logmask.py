"""Personal data never reaches a log line, whichever library writes it.

:func:`install` replaces the process's log-record factory, so every record any logger
creates (Rasa's, the Rasa SDK's, Sanic's, ours) has its message — and its traceback —
passed through :func:`mask_personal`: secrets are hidden (``bot.redaction``), merchant
numbers become ``849581******001`` and mobile numbers ``138****5678`` (also inside
``\\u``-escaped JSON and percent-encoded URLs, which are decoded first). It works
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
import unicodedata
from typing import Any

from bot.fields import mask_merchant_id, mask_phone
from bot.redaction import redact_text

# A run of digit groups joined by single spaces or hyphens, as merchants type numbers
# ("849 581 058 120 003", "+86 138-1234-5678"), not continuing a decimal fraction. Each
# run is split, on group boundaries, into merchant numbers (15 digits) and mobile
# numbers (11, or 13 with 86 in front) so that as many digits as possible are masked:
# "138 1234 5678 8495 8105 8120 003" is a mobile and a merchant number, not one merchant
# number swallowing the mobile and leaving 11 digits bare. Where one number ends and
# the next begins is then a guess, so unless the run is exactly one number, each number
# in it shows only its last 3 (merchant) or 4 (mobile) digits and other digits next to
# them only up to 3 together: however the run is split, no more of a merchant or mobile
# number shows than its masked form. Ticket numbers (UB-20261128-0001) are not
# personal data and are left alone.
_RUN = re.compile(
    r"(?P<ticket>(?<![A-Za-z0-9])UB-?\d{8}-?\d{4}(?!\d))|(?<![\d.])\d+(?:[ \-]\d+)*",
    re.IGNORECASE,
)
_GROUP = re.compile(r"\d+")
_MOBILE_DIGITS = re.compile(r"(?:86)?1[3-9]\d{9}")
_MERCHANT_DIGITS, _MOBILE_LENGTH = 15, 11
_LEFTOVER_MAX = 3
_NON_SEPARATOR = re.compile(r"[^ \-]")
# Rasa's structured log lines are JSON with non-ASCII escaped ("\u5bc6\u7801" for 密码):
# unescape them so the cue words are seen (not control characters, not lone surrogates).
_ESCAPED = re.compile(r"\\u([0-9a-fA-F]{4})")
# Request lines carry query strings percent-encoded ("q=%E5%AF%86%E7%A0%81" for 密码):
# decoded the same way, when they are UTF-8 text without control characters.
_PERCENT = re.compile(r"(?:%[0-9A-Fa-f]{2})+")
_QUERY = re.compile(r"\?[^\s\"']+")  # in a query string "+" is a space
_FORMATTER = logging.Formatter()
_installed = False


def _unescape(match: re.Match[str]) -> str:
    code = int(match.group(1), 16)
    return chr(code) if code >= 0x20 and not 0xD800 <= code <= 0xDFFF else match.group()


def _unquote(match: re.Match[str]) -> str:
    """Percent-escapes decoded, if they are UTF-8 text without control characters."""
    try:
        text = bytes.fromhex(match.group().replace("%", "")).decode("utf-8")
    except UnicodeDecodeError:
        return match.group()
    if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in text):
        return match.group()  # never let an encoded line break forge a log line
    return text


def _segments(groups: list[str]) -> dict[int, int]:
    """``{first: last}`` of the groups that form merchant or mobile numbers, chosen to
    cover the most digits (on a tie, the leftmost)."""
    # covered[i]: most digits coverable in groups[i:]; ends[i]: last group of the
    # number that starts at group i in that choice (None: group i is left as it is).
    covered = [0] * (len(groups) + 1)
    ends: list[int | None] = [None] * len(groups)
    for first in range(len(groups) - 1, -1, -1):
        covered[first], size = covered[first + 1], 0
        for last in range(first, len(groups)):
            size += len(groups[last])
            if size > _MERCHANT_DIGITS:
                break
            number = size == _MERCHANT_DIGITS or (
                size in (_MOBILE_LENGTH, _MOBILE_LENGTH + 2)
                and _MOBILE_DIGITS.fullmatch("".join(groups[first : last + 1])) is not None
            )
            if number and size + covered[last + 1] >= covered[first]:
                covered[first], ends[first] = size + covered[last + 1], last
    chosen, first = {}, 0
    while first < len(groups):
        last = ends[first]
        if last is None:
            first += 1
        else:
            chosen[first], first = last, last + 1
    return chosen


def _mask_number(digits: str, alone: bool) -> str:
    """The masked form of one merchant or mobile number (only its end if not ``alone``)."""
    merchant = len(digits) == _MERCHANT_DIGITS
    if not alone:
        shown = 3 if merchant else 4
        return "*" * (len(digits) - shown) + digits[-shown:]
    if merchant:
        return mask_merchant_id(digits)
    return ("86 " if len(digits) > _MOBILE_LENGTH else "") + mask_phone(digits[-11:])


def _mask_run(match: re.Match[str]) -> str:
    """One run of digit groups with its merchant and mobile numbers masked."""
    run = match.group()
    if len(run) < _MOBILE_LENGTH or match.group("ticket"):
        return run
    groups = list(_GROUP.finditer(run))
    digits = [group.group() for group in groups]
    if sum(map(len, digits)) < _MOBILE_LENGTH:
        return run
    segments = _segments(digits)
    alone = list(segments.items()) == [(0, len(groups) - 1)]
    out, position, first = [], 0, 0
    while first < len(groups):
        if first in segments:
            last = segments[first]
            text = _mask_number("".join(digits[first : last + 1]), alone)
        else:
            last = first
            while last + 1 < len(groups) and last + 1 not in segments:
                last += 1
            text = run[groups[first].start() : groups[last].end()]
            if segments and sum(map(len, digits[first : last + 1])) > _LEFTOVER_MAX:
                text = _NON_SEPARATOR.sub("*", text)
        out += [run[position : groups[first].start()], text]
        position, first = groups[last].end(), last + 1
    return "".join(out)


def mask_personal(text: str) -> str:
    """``text`` with secrets hidden and merchant and mobile numbers masked."""
    if not text:
        return text
    if "\\u" in text:
        text = _ESCAPED.sub(_unescape, text)
    if "?" in text:
        text = _QUERY.sub(lambda query: query.group().replace("+", " "), text)
    if "%" in text:
        text = _PERCENT.sub(_unquote, text)
    # Numbers first: a secret hidden inside a run of digits would split it and leave
    # the rest of a merchant number standing alone, unmasked.
    return redact_text(_RUN.sub(_mask_run, text))


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
