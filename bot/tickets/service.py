"""The ticket service: one API for the Rasa actions, the CLI and the agent console.

Every public method runs in its own transaction and returns frozen dataclasses, never
ORM objects. Database failures surface as :class:`TicketStoreUnavailable`.
"""

from __future__ import annotations

import enum
import hmac
import logging
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, DisconnectionError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import Session

from bot.db import make_engine, writer
from bot.fields import mask_merchant_id
from bot.logmask import mask_personal
from bot.redaction import redact_text
from bot.tickets.models import (
    STEPS,
    OwnerCheckFailure,
    StepStatus,
    Ticket,
    TicketCounter,
    TicketEvent,
    TicketStatus,
    TicketStep,
)

log = logging.getLogger(__name__)

SHANGHAI = ZoneInfo("Asia/Shanghai")
# ASCII digits only, the whole string (``\d`` would take Arabic-Indic digits, ``$`` a
# trailing newline).
TICKET_NO_RE = re.compile(r"UB-([0-9]{8})-([0-9]{4,})")
MERCHANT_RE = re.compile(r"[0-9]{15}")
PHONE_RE = re.compile(r"[0-9]{7,20}")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
OPEN_ATTEMPTS = 3


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
    """Result of :meth:`TicketService.verify_owner`; ``ticket`` only on a match."""

    outcome: OwnerCheckOutcome
    ticket: TicketView | None = None
    locked_until: datetime | None = None


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


# --- service ----------------------------------------------------------------------


@dataclass
class TicketService:
    """Open, query and advance unbind tickets."""

    engine: Engine
    clock: Callable[[], datetime] = utcnow
    throttle: ThrottlePolicy = field(default_factory=ThrottlePolicy)

    @classmethod
    def from_url(cls, url: str | None = None, **kwargs: object) -> TicketService:
        """Service on a new engine for ``url`` (default ``DATABASE_URL``)."""
        return cls(make_engine(url), **kwargs)  # type: ignore[arg-type]

    def dispose(self) -> None:
        """Close pooled connections."""
        self.engine.dispose()

    # queries

    def get_ticket(self, ticket_no: str) -> TicketView | None:
        """The ticket with this number, or None."""
        number = parse_ticket_no(ticket_no)
        if number is None:
            return None
        with self._session() as s:
            ticket = _by_number(s, number)
            return _view(ticket) if ticket else None

    def tickets_for_sender(self, sender_id: str) -> tuple[TicketView, ...]:
        """A conversation's tickets, newest first."""
        return self._list(Ticket.sender_id == sender_id.strip())

    def tickets_for_merchant(self, merchant_id: str) -> tuple[TicketView, ...]:
        """A merchant's tickets, newest first."""
        return self._list(Ticket.merchant_id == merchant_id.strip())

    def tickets_for_phone(self, phone: str) -> tuple[TicketView, ...]:
        """Tickets with this contact phone, newest first."""
        try:
            digits = normalize_phone(phone)
        except InvalidTicketInput:
            return ()
        return self._list(Ticket.contact_phone == digits)

    def open_ticket_for_merchant(self, merchant_id: str) -> TicketView | None:
        """The merchant's open ticket, if any."""
        with self._session() as s:
            ticket = _open_for_merchant(s, merchant_id.strip())
            return _view(ticket) if ticket else None

    def history(self, ticket_no: str) -> tuple[EventView, ...]:
        """The ticket's change history, oldest first."""
        number = self._require_number(ticket_no)
        with self._session() as s:
            ticket = _by_number(s, number)
            if ticket is None:
                raise _not_found(number)
            rows = s.execute(
                select(TicketEvent)
                .where(TicketEvent.ticket_id == ticket.id)
                .order_by(TicketEvent.id)
            ).scalars()
            return tuple(
                EventView(
                    ticket_no=number,
                    step=e.step,
                    old_status=e.old_status,
                    new_status=e.new_status,
                    note=e.note,
                    actor=e.actor,
                    created_at=e.created_at,
                )
                for e in rows
            )

    # commands

    def open_ticket(self, request: OpenRequest, actor: str = "bot") -> OpenResult:
        """Open a ticket, or return the merchant's open one (``created=False``).

        Safe to retry and to race: the partial unique index on open tickets per
        merchant decides, and the loser returns the winner's ticket.
        """
        req = request.normalized()
        actor = _text("actor", actor, 64)
        for _ in range(OPEN_ATTEMPTS):
            try:
                with self._session(write=True) as s:
                    existing = _open_for_merchant(s, req.merchant_id)
                    if existing is not None:
                        return OpenResult(_view(existing), created=False)
                    view = _view(self._insert_ticket(s, req, actor))
                log.info("opened ticket %s via %s", view.ticket_no, view.channel)
                return OpenResult(view, created=True)
            except IntegrityError:
                existing_view = self.open_ticket_for_merchant(req.merchant_id)
                if existing_view is not None:
                    return OpenResult(existing_view, created=False)
                log.warning("ticket insert conflict for a new merchant; retrying")
        raise TicketError("工单号分配失败，请重试 / could not allocate a ticket number")

    def advance_step(
        self,
        ticket_no: str,
        step: str,
        status: str,
        note: str = "",
        actor: str = "system",
        also: Callable[[Session], None] | None = None,
    ) -> TicketView:
        """Set one step's status and note; completing 正式解绑 completes the ticket.

        ``also`` runs inside the same transaction after the change (the console writes
        its audit row there): if it raises, nothing is changed.
        """
        name = validate_step(step)
        new = validate_step_status(status)
        if new is StepStatus.CANCELLED:
            raise InvalidTicketInput(
                "“已取消”只能通过取消工单设置 / use cancel_ticket to cancel steps"
            )
        note = redact_text(_text("note", note, 2000, empty_ok=True))
        actor = _text("actor", actor, 64)
        number = self._require_number(ticket_no)
        with self._session(write=True) as s:
            ticket = _lock_open_ticket(s, number)
            index = STEPS.index(name)
            if new is StepStatus.DONE:
                pending = [x.name for x in ticket.steps[:index] if x.status != new.value]
                if pending:
                    raise StepOrderError(
                        f"请先完成: {'、'.join(pending)} / complete earlier steps first"
                    )
            now = self._now()
            row = ticket.steps[index]
            _record(s, ticket, now, actor, note, row.name, row.status, new.value)
            row.status, row.note, row.updated_at = new.value, note, now
            ticket.updated_at = now
            if name == STEPS[-1] and new is StepStatus.DONE:
                ticket.status = TicketStatus.COMPLETED.value
                _record(s, ticket, now, actor, note, None, "open", ticket.status)
            s.flush()
            if also is not None:
                also(s)
            return _view(ticket)

    def cancel_ticket(self, ticket_no: str, actor: str = "system", note: str = "") -> TicketView:
        """Cancel an open ticket: every step not yet done becomes 已取消."""
        note = redact_text(_text("note", note, 2000, empty_ok=True))
        actor = _text("actor", actor, 64)
        number = self._require_number(ticket_no)
        with self._session(write=True) as s:
            ticket = _lock_open_ticket(s, number)
            now = self._now()
            cancelled = StepStatus.CANCELLED.value
            for row in ticket.steps:
                if row.status != StepStatus.DONE.value:
                    _record(s, ticket, now, actor, note, row.name, row.status, cancelled)
                    row.status, row.updated_at = cancelled, now
            ticket.status = TicketStatus.CANCELLED.value
            ticket.updated_at = now
            _record(s, ticket, now, actor, note, None, "open", ticket.status)
            s.flush()
            return _view(ticket)

    def anonymise_closed(self, before: datetime, actor: str = "privacy") -> int:
        """Blank the personal fields of closed tickets last changed before ``before``.

        Cancelled and completed tickets lose their contact phone, reason detail, serial
        number and conversation id; the merchant number is kept masked
        (``849581******001``) and notes are masked. Statuses and dates stay, for
        statistics. Returns how many tickets were anonymised (already anonymised ones
        are skipped, so running it again changes nothing).
        """
        actor = _text("actor", actor, 64)
        with self._session(write=True) as s:
            rows = s.execute(
                select(Ticket)
                .where(Ticket.status != TicketStatus.OPEN.value)
                .where(Ticket.updated_at < before.astimezone(timezone.utc))
                .where(~Ticket.merchant_id.contains("*"))
                .with_for_update()
            ).scalars().all()
            for ticket in rows:
                ticket.merchant_id = mask_merchant_id(ticket.merchant_id)
                ticket.contact_phone = ticket.reason_detail = ""
                ticket.serial_number = ticket.sender_id = ""
                for step in ticket.steps:
                    step.note = mask_personal(step.note)
                for event in s.execute(
                    select(TicketEvent).where(TicketEvent.ticket_id == ticket.id)
                ).scalars():
                    event.note = mask_personal(event.note)
                _record(s, ticket, self._now(), actor, "个人信息已按保留期限清除", None,
                        ticket.status, ticket.status)
            count = len(rows)
        if count:
            log.info("anonymised %d closed ticket(s) older than %s", count, before.date())
        return count

    def verify_owner(
        self, ticket_no: str, merchant_id: str, phone_last4: str, requester: str
    ) -> OwnerCheck:
        """Return the ticket only if merchant and phone tail both match.

        Mismatches are indistinguishable (unknown ticket, wrong merchant, wrong phone)
        and count against ``requester`` and against the ticket number asked about, also
        when no such ticket exists. Too many failures for either lock it for a while,
        during which calls return THROTTLED without checking anything.
        """
        requester = _text("requester", requester, 255)
        subject = owner_check_subject(ticket_no)
        policy = self.throttle
        now = self._now()
        with self._session(write=True) as s:
            if s.get_bind().dialect.name == "postgresql":
                # One lock per key, always taken in the same order (no deadlocks).
                for key in sorted({f"requester:{requester}", f"subject:{subject}"}):
                    s.execute(select(func.pg_advisory_xact_lock(func.hashtext(key))))
            s.execute(
                delete(OwnerCheckFailure)
                .where(OwnerCheckFailure.failed_at < now - policy.window - policy.lockout)
                .execution_options(synchronize_session=False)
            )
            locks = [
                _locked_until(_failure_times(s, OwnerCheckFailure.requester, requester), policy),
                _locked_until(_failure_times(s, OwnerCheckFailure.subject, subject), policy),
            ]
            until = max((moment for moment in locks if moment is not None), default=None)
            if until is not None and until > now:
                return OwnerCheck(OwnerCheckOutcome.THROTTLED, locked_until=until)
            number = parse_ticket_no(ticket_no)
            ticket = _by_number(s, number) if number else None
            if ticket is not None and _owner_matches(ticket, merchant_id, phone_last4):
                return OwnerCheck(OwnerCheckOutcome.MATCH, ticket=_view(ticket))
            s.add(OwnerCheckFailure(requester=requester, subject=subject, failed_at=now))
            return OwnerCheck(OwnerCheckOutcome.NO_MATCH)

    # internals

    @contextmanager
    def _session(self, write: bool = False) -> Iterator[Session]:
        bind = writer(self.engine) if write else self.engine
        try:
            with Session(bind, future=True) as session, session.begin():
                yield session
        except IntegrityError:
            raise
        except (DBAPIError, DisconnectionError, PoolTimeoutError) as exc:
            log.error("ticket store unavailable: %s", type(exc).__name__)
            raise TicketStoreUnavailable(
                f"工单系统暂时不可用，请稍后再试 / ticket store unavailable ({type(exc).__name__})"
            ) from exc

    def _now(self) -> datetime:
        return self.clock().astimezone(timezone.utc)

    def _require_number(self, ticket_no: str) -> str:
        number = parse_ticket_no(ticket_no)
        if number is None:
            raise _not_found(ticket_no)
        return number

    def _list(self, condition: object) -> tuple[TicketView, ...]:
        with self._session() as s:
            rows = s.execute(
                select(Ticket)
                .where(condition)  # type: ignore[arg-type]
                .order_by(Ticket.created_at.desc(), Ticket.id.desc())
            ).scalars()
            return tuple(_view(t) for t in rows)

    def _insert_ticket(self, s: Session, req: OpenRequest, actor: str) -> Ticket:
        now = self._now()
        ticket = Ticket(
            ticket_no=_next_number(s, shanghai_day(now)),
            merchant_id=req.merchant_id,
            reason_category=req.reason_category,
            reason_detail=req.reason_detail,
            serial_number=req.serial_number,
            contact_phone=req.contact_phone,
            channel=req.channel,
            sender_id=req.sender_id,
            status=TicketStatus.OPEN.value,
            created_at=now,
            updated_at=now,
            steps=[
                TicketStep(
                    position=i,
                    name=name,
                    status=StepStatus.PENDING.value,
                    note="",
                    updated_at=now,
                )
                for i, name in enumerate(STEPS, start=1)
            ],
        )
        s.add(ticket)
        s.flush()
        _record(s, ticket, now, actor, "", None, None, TicketStatus.OPEN.value)
        s.flush()
        return ticket


def _next_number(s: Session, day: date) -> str:
    """Allocate the day's next sequence inside the caller's transaction."""
    key = f"{day:%Y%m%d}"
    bump = (
        update(TicketCounter)
        .where(TicketCounter.day == key)
        .values(seq=TicketCounter.seq + 1)
        .execution_options(synchronize_session=False)
    )
    if s.execute(bump).rowcount == 0:
        try:
            with s.begin_nested():
                s.execute(insert(TicketCounter).values(day=key, seq=0))
        except IntegrityError:
            pass  # a concurrent transaction created the day's row first
        s.execute(bump)
    seq = s.execute(select(TicketCounter.seq).where(TicketCounter.day == key))
    return format_ticket_no(day, seq.scalar_one())


def _by_number(s: Session, number: str, lock: bool = False) -> Ticket | None:
    stmt = select(Ticket).where(Ticket.ticket_no == number)
    if lock:
        stmt = stmt.with_for_update()
    return s.execute(stmt).scalar_one_or_none()


def _open_for_merchant(s: Session, merchant_id: str) -> Ticket | None:
    return s.execute(
        select(Ticket)
        .where(Ticket.merchant_id == merchant_id)
        .where(Ticket.status == TicketStatus.OPEN.value)
    ).scalar_one_or_none()


def _lock_open_ticket(s: Session, number: str) -> Ticket:
    ticket = _by_number(s, number, lock=True)
    if ticket is None:
        raise _not_found(number)
    if ticket.status != TicketStatus.OPEN.value:
        label = {"cancelled": "已取消", "completed": "已完成"}.get(ticket.status, "")
        raise TicketClosed(
            f"工单 {number} {label}，不能再修改 / ticket {number} is {ticket.status}"
        )
    return ticket


def _not_found(ticket_no: str) -> TicketNotFound:
    return TicketNotFound(f"找不到工单 {ticket_no} / no ticket {ticket_no!r}")


def _record(
    s: Session,
    ticket: Ticket,
    now: datetime,
    actor: str,
    note: str,
    step: str | None,
    old: str | None,
    new: str,
) -> None:
    s.add(
        TicketEvent(
            ticket_id=ticket.id,
            step=step,
            old_status=old,
            new_status=new,
            note=note,
            actor=actor,
            created_at=now,
        )
    )


def _owner_matches(ticket: Ticket, merchant_id: str, phone_last4: str) -> bool:
    merchant_ok = hmac.compare_digest(
        ticket.merchant_id.encode(), (merchant_id or "").strip().encode()
    )
    tail = (phone_last4 or "").strip()
    phone_ok = len(tail) == 4 and hmac.compare_digest(
        ticket.contact_phone[-4:].encode(), tail.encode()
    )
    return merchant_ok and phone_ok


def owner_check_subject(ticket_no: str) -> str:
    """The throttling key of a ticket number: canonical when well formed, else as typed."""
    return parse_ticket_no(ticket_no) or (ticket_no or "").strip().upper()[:64]


def _failure_times(s: Session, column: Any, value: str) -> list[datetime]:
    return list(
        s.execute(
            select(OwnerCheckFailure.failed_at)
            .where(column == value)
            .order_by(OwnerCheckFailure.failed_at)
        ).scalars()
    )


def _locked_until(failures: Sequence[datetime], policy: ThrottlePolicy) -> datetime | None:
    """End of the latest lockout: ``max_failures`` failures within ``window``."""
    n = policy.max_failures
    until: datetime | None = None
    for i in range(len(failures) - n + 1):
        if failures[i + n - 1] - failures[i] <= policy.window:
            end = failures[i + n - 1] + policy.lockout
            until = end if until is None or end > until else until
    return until


def _view(t: Ticket) -> TicketView:
    return TicketView(
        ticket_no=t.ticket_no,
        merchant_id=t.merchant_id,
        reason_category=t.reason_category,
        reason_detail=t.reason_detail,
        serial_number=t.serial_number,
        contact_phone=t.contact_phone,
        channel=t.channel,
        sender_id=t.sender_id,
        status=t.status,
        created_at=t.created_at,
        updated_at=t.updated_at,
        steps=tuple(
            StepView(
                position=x.position,
                name=x.name,
                status=x.status,
                note=x.note,
                updated_at=x.updated_at,
            )
            for x in t.steps
        ),
    )
