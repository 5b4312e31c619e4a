"""Normalisation and validation of the fields a merchant types into the unbind form.

Every ``normalize_*`` function is pure, never raises, and returns a :class:`FieldResult`:
either a canonical ``value`` or a Chinese ``error`` that can be shown to the merchant as is.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from bot.paths import DATA

REASONS_FILE: Path = DATA / "reasons.yml"

_HALFWIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)}
_HALFWIDTH[0x3000] = 0x20

# Characters merchants put between digit groups: any whitespace and the usual dashes.
_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015\u2212_]+")
_DIGITS = re.compile(r"[0-9]+")
_ASCII_ALNUM = re.compile(r"[A-Za-z0-9]+")
_PHONE = re.compile(r"1[3-9][0-9]{9}")
_TICKET = re.compile(r"UB([0-9]{8})([0-9]{4})")

MERCHANT_ID_LENGTH = 15
SERIAL_MIN, SERIAL_MAX = 8, 20
PHONE_LENGTH = 11


@dataclass(frozen=True)
class FieldResult:
    """Outcome of normalising one field: exactly one of ``value`` / ``error`` is set."""

    value: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True when the input was valid."""
        return self.error is None


@dataclass(frozen=True)
class ReasonResult:
    """An unbind reason category plus the merchant's own words (``None`` for a button)."""

    category: str
    detail: str | None = None


def to_halfwidth(text: str) -> str:
    """Map full-width ASCII (U+FF01–FF5E) and U+3000 to ASCII, one char for one char."""
    return text.translate(_HALFWIDTH)


def _clean(text: Any) -> str:
    """Half-width, separator-free version of ``text`` ('' for non-strings)."""
    if not isinstance(text, str):
        return ""
    return _SEPARATORS.sub("", to_halfwidth(text))


def _digit_count(text: str) -> int:
    return sum(len(run) for run in _DIGITS.findall(text))


def normalize_merchant_id(text: str) -> FieldResult:
    """Normalise a 15-digit merchant number (商户号); accepts full-width digits, spaces, hyphens."""
    value = _clean(text)
    if not value:
        return FieldResult(error="请输入15位数字的商户号")
    if not value.isascii() or not value.isdigit():
        return FieldResult(error="商户号只能包含数字，请输入15位数字的商户号")
    if len(value) != MERCHANT_ID_LENGTH:
        return FieldResult(error=f"商户号应为15位数字，您输入的是{len(value)}位")
    return FieldResult(value=value)


def normalize_serial(text: str) -> FieldResult:
    """Normalise an original POS serial number: 8–20 letters/digits, upper case."""
    value = _clean(text)  # upper-cased only once it is ASCII: "ß".upper() is "SS"
    if not value:
        return FieldResult(error="请输入原POS机序列号（机身背面标签上的SN，8到20位字母或数字）")
    if not _ASCII_ALNUM.fullmatch(value):
        return FieldResult(error="序列号只能包含英文字母和数字，请对照机身背面的SN标签重新输入")
    value = value.upper()
    if not SERIAL_MIN <= len(value) <= SERIAL_MAX:
        return FieldResult(error=f"序列号应为8到20位字母或数字，您输入的是{len(value)}位")
    return FieldResult(value=value)


def normalize_phone(text: str) -> FieldResult:
    """Normalise a mainland mobile number; accepts +86/86 prefixes, spaces, hyphens, brackets."""
    value = re.sub(r"[()]", "", _clean(text))
    if not value:
        return FieldResult(error="请输入11位手机号码")
    if value.startswith("+"):
        if not value.startswith("+86"):
            return FieldResult(error="目前只支持中国大陆11位手机号码")
        value = value[3:]
    elif value.startswith("0086"):
        value = value[4:]
    elif value.startswith("86") and len(value) == PHONE_LENGTH + 2:
        value = value[2:]
    if not value.isascii() or not value.isdigit():
        return FieldResult(error="手机号只能包含数字，请输入11位手机号码")
    if len(value) != PHONE_LENGTH:
        return FieldResult(error=f"手机号应为11位数字，您输入的是{len(value)}位")
    if not _PHONE.fullmatch(value):
        return FieldResult(error="手机号格式不正确，应为1开头、第二位是3到9的11位号码")
    return FieldResult(value=value)


def normalize_ticket_no(text: str) -> FieldResult:
    """Normalise a ticket number to ``UB-YYYYMMDD-NNNN`` (case, hyphens, full width optional)."""
    value = _clean(text).upper()
    if not value:
        return FieldResult(error="请输入工单号，格式为UB-YYYYMMDD-NNNN")
    if not value.startswith("UB"):
        return FieldResult(error="工单号应以UB开头，格式为UB-YYYYMMDD-NNNN，例如UB-20261128-0001")
    match = _TICKET.fullmatch(value)
    if match is None:
        digits = _digit_count(value)
        return FieldResult(
            error=f"工单号格式应为UB-YYYYMMDD-NNNN（UB后共12位数字），您输入的是{digits}位数字"
        )
    date, number = match.groups()
    try:
        datetime.strptime(date, "%Y%m%d")
    except ValueError:
        return FieldResult(error=f"工单号中的日期{date}不存在，请核对后重新输入")
    return FieldResult(value=f"UB-{date}-{number}")


def mask_merchant_id(value: str) -> str:
    """Mask a merchant number for logs: ``849581******001``."""
    if len(value) < 10:
        return "*" * len(value)
    return value[:6] + "*" * (len(value) - 9) + value[-3:]


def mask_phone(value: str) -> str:
    """Mask a phone number for logs: ``138****5678``."""
    if len(value) < 8:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


@dataclass(frozen=True)
class _ReasonCategory:
    name: str
    code: str
    keywords: tuple[str, ...]


@lru_cache(maxsize=1)
def reason_categories() -> tuple[_ReasonCategory, ...]:
    """The reason categories of ``data/reasons.yml``, in priority order."""
    raw = yaml.safe_load(REASONS_FILE.read_text(encoding="utf-8"))
    return tuple(
        _ReasonCategory(
            name=item["name"],
            code=item["code"],
            keywords=tuple(sorted({str(k).lower() for k in item.get("keywords", [])}, key=len)),
        )
        for item in raw["categories"]
    )


def reason_names() -> list[str]:
    """Category names, e.g. for buttons."""
    return [category.name for category in reason_categories()]


def _payload_values(text: str) -> list[str]:
    """Values of a Rasa button payload like ``/inform{"unbind_reason": "更换设备"}``."""
    match = re.fullmatch(r"/\w+(\{.*\})?", text, flags=re.DOTALL)
    if match is None:
        return []
    if not match.group(1):
        return [text[1:]]
    try:
        data = json.loads(match.group(1))
    except ValueError:
        return []
    return [str(v) for v in data.values()] if isinstance(data, dict) else []


def classify_reason(text: str) -> ReasonResult:
    """Map a reason (category name, button payload or free text) to a category."""
    if not isinstance(text, str) or not text.strip():
        return ReasonResult("其他", None)
    stripped = to_halfwidth(text).strip()
    categories = reason_categories()
    for candidate in [stripped, *_payload_values(stripped)]:
        for category in categories:
            if candidate.strip().lower() in (category.name, category.code):
                return ReasonResult(category.name, None)
    detail = text.strip()
    lowered = stripped.lower()
    best, best_score = None, 0
    for category in categories:
        score = _keyword_score(lowered, category.keywords)
        if score > best_score:
            best, best_score = category, score
    return ReasonResult(best.name if best else "其他", detail)


def _keyword_score(text: str, keywords: tuple[str, ...]) -> int:
    """Total length of the keywords found in ``text``; longer keywords count first."""
    score = 0
    for keyword in reversed(keywords):  # longest first, so 换新机 is not counted again as 新机
        if keyword in text:
            score += len(keyword)
            text = text.replace(keyword, "\0")
    return score
