"""What the ticket service takes and gives: errors, frozen views and input checks.

Kept apart from :mod:`bot.tickets.service` (which imports all of it) so that the values
and their validation can be read, and used by the actions, CLI and console, without the
database code.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from bot.tickets.models import STEPS, StepStatus, TicketStatus

SHANGHAI = ZoneInfo("Asia/Shanghai")
# ASCII digits only, the whole string (``\d`` would take Arabic-Indic digits, ``$`` a
# trailing newline).
TICKET_NO_RE = re.compile(r"UB-([0-9]{8})-([0-9]{4,})")
MERCHANT_RE = re.compile(r"[0-9]{15}")
PHONE_RE = re.compile(r"[0-9]{7,20}")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


# --- errors -----------------------------------------------------------------------


class TicketError(Exception):
    """Base class of every error the ticket service raises."""


class TicketStoreUnavailable(TicketError):
    """The database cannot be reached or used; nothing was written."""


class TicketNotFound(TicketError, LookupError):
    """No ticket has this number."""


class InvalidTicketInput(TicketError, ValueError):
    """A step, status or request field is not acceptable."""


class TicketClosed(TicketError):
    """The ticket is cancelled or completed and can no longer change."""


class StepOrderError(TicketError):
    """A step cannot be completed before the steps that precede it."""


# --- values -----------------------------------------------------------------------


@dataclass(frozen=True)
class StepView:
    """One of the eight steps of a ticket."""

    position: int
    name: str
    status: str
    note: str
    updated_at: datetime


@dataclass(frozen=True)
class TicketView:
    """A detached, immutable snapshot of a ticket."""

    ticket_no: str
    merchant_id: str
    reason_category: str
    reason_detail: str
    serial_number: str
    contact_phone: str
    channel: str
    sender_id: str
    status: str
    created_at: datetime
    updated_at: datetime
    steps: tuple[StepView, ...]

    @property
    def is_open(self) -> bool:
        return self.status == TicketStatus.OPEN.value

    @property
    def masked_phone(self) -> str:
        """The contact phone with the middle hidden, e.g. ``138****5678``."""
        phone = self.contact_phone
        return phone[:3] + "*" * max(len(phone) - 7, 0) + phone[-4:]

    @property
    def current_step(self) -> StepView | None:
        """The first step that is neither done nor cancelled, if any."""
        finished = (StepStatus.DONE.value, StepStatus.CANCELLED.value)
        return next((s for s in self.steps if s.status not in finished), None)


@dataclass(frozen=True)
class EventView:
    """One history row; ``step`` is None for ticket-level changes."""

    ticket_no: str
    step: str | None
    old_status: str | None
    new_status: str
    note: str
    actor: str
    created_at: datetime


@dataclass(frozen=True)
class OpenResult:
    """Result of :meth:`TicketService.open_ticket`; ``created`` is False on reuse."""

    ticket: TicketView
    created: bool


class OwnerCheckOutcome(str, enum.Enum):
    MATCH = "match"
    NO_MATCH = "no_match"
    THROTTLED = "throttled"


@dataclass(frozen=True)
class OwnerCheck:
    """Result of an ownership check; ``ticket`` and ``tickets`` only on a match."""

    outcome: OwnerCheckOutcome
    ticket: TicketView | None = None
    locked_until: datetime | None = None
    tickets: tuple[TicketView, ...] = ()


@dataclass(frozen=True)
class ThrottlePolicy:
    """``max_failures`` within ``window`` lock the requester out for ``lockout``."""

    max_failures: int = 5
    window: timedelta = timedelta(minutes=15)
    lockout: timedelta = timedelta(minutes=15)


@dataclass(frozen=True)
class OpenRequest:
    """What the bot collected before the merchant confirmed the unbind request."""

    merchant_id: str
    reason_category: str
    serial_number: str
    contact_phone: str
    channel: str
    sender_id: str
    reason_detail: str = ""

    def normalized(self) -> OpenRequest:
        """Return a cleaned copy or raise :class:`InvalidTicketInput`."""
        merchant = self.merchant_id.strip()
        if not MERCHANT_RE.fullmatch(merchant):
            raise InvalidTicketInput(
                f"商户号应为15位数字 / merchant_id must be 15 digits: {merchant!r}"
            )
        return OpenRequest(
            merchant_id=merchant,
            reason_category=_text("reason_category", self.reason_category, 64),
            serial_number=_text("serial_number", self.serial_number, 64),
            contact_phone=normalize_phone(self.contact_phone),
            channel=_text("channel", self.channel, 32),
            sender_id=_text("sender_id", self.sender_id, 255),
            reason_detail=_text("reason_detail", self.reason_detail, 2000, True),
        )


def _text(name: str, value: str, limit: int, empty_ok: bool = False) -> str:
    value = (value or "").strip()
    if _CONTROL_RE.search(value):  # PostgreSQL refuses NUL; none belongs in a note
        raise InvalidTicketInput(f"{name} 含有控制字符 / {name} contains control characters")
    if not value and not empty_ok:
        raise InvalidTicketInput(f"{name} 不能为空 / {name} is required")
    if len(value) > limit:
        raise InvalidTicketInput(
            f"{name} 过长(最多{limit}字) / {name} longer than {limit} characters"
        )
    return value


def normalize_phone(phone: str) -> str:
    """Strip separators and a +86/0086 prefix; raise if not 7-20 digits."""
    digits = re.sub(r"[\s\-()]", "", phone or "")
    for prefix in ("+86", "0086"):
        if digits.startswith(prefix) and len(digits) == len(prefix) + 11:
            digits = digits[len(prefix) :]
    if not PHONE_RE.fullmatch(digits):
        raise InvalidTicketInput(f"联系电话格式不正确 / invalid phone number: {phone!r}")
    return digits


def shanghai_day(moment: datetime) -> date:
    """Calendar day of ``moment`` in Asia/Shanghai."""
    return moment.astimezone(SHANGHAI).date()


def format_ticket_no(day: date, seq: int) -> str:
    """``UB-YYYYMMDD-NNNN`` (the sequence widens past 9999)."""
    return f"UB-{day:%Y%m%d}-{seq:04d}"


def parse_ticket_no(text: str) -> str | None:
    """Canonical form of a ticket number, or None if it is malformed."""
    candidate = (text or "").strip().upper()
    return candidate if TICKET_NO_RE.fullmatch(candidate) else None


def validate_step(step: str) -> str:
    """Return the step name or raise with the list of valid names."""
    name = (step or "").strip()
    if name not in STEPS:
        raise InvalidTicketInput(
            f"未知步骤 “{name}”，可选: {'、'.join(STEPS)} / unknown step {name!r}"
        )
    return name


def validate_step_status(status: str) -> StepStatus:
    """Return the step status or raise with the list of valid names."""
    value = (status or "").strip()
    try:
        return StepStatus(value)
    except ValueError:
        valid = "、".join(s.value for s in StepStatus)
        raise InvalidTicketInput(
            f"未知状态 “{value}”，可选: {valid} / unknown step status {value!r}"
        ) from None


def utcnow() -> datetime:
    return datetime.now(timezone.utc)
