"""The ticket service: one API for the Rasa actions, the CLI and the agent console.

Every public method runs in its own transaction and returns frozen dataclasses, never
ORM objects. Database failures surface as :class:`TicketStoreUnavailable`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

from sqlalchemy import insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, DisconnectionError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import Session

from bot.db import make_engine, writer
from bot.fields import mask_merchant_id
from bot.logmask import mask_personal
from bot.redaction import redact_text
from bot.tickets import ownership, rows
from bot.tickets.models import (
    STEPS,
    OwnerCheckFailure,
    StepStatus,
    Ticket,
    TicketEvent,
    TicketStatus,
    TicketStep,
)
from bot.tickets.values import (
    EventView,
    InvalidTicketInput,
    OpenRequest,
    OpenResult,
    OwnerCheck,
    OwnerCheckOutcome,
    StepOrderError,
    StepView,
    ThrottlePolicy,
    TicketError,
    TicketStoreUnavailable,
    TicketView,
    _text,
    normalize_phone,
    parse_ticket_no,
    shanghai_day,
    utcnow,
    validate_step,
    validate_step_status,
)

log = logging.getLogger(__name__)

OPEN_ATTEMPTS = 3


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
            ticket = rows.by_number(s, number)
            return rows.view(ticket) if ticket else None

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
            ticket = rows.open_for_merchant(s, merchant_id.strip())
            return rows.view(ticket) if ticket else None

    def history(self, ticket_no: str) -> tuple[EventView, ...]:
        """The ticket's change history, oldest first."""
        number = self._require_number(ticket_no)
        with self._session() as s:
            ticket = rows.by_number(s, number)
            if ticket is None:
                raise rows.not_found(number)
            events = s.execute(
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
                for e in events
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
                    existing = rows.open_for_merchant(s, req.merchant_id)
                    if existing is not None:
                        return OpenResult(rows.view(existing), created=False)
                    view = self._insert_ticket(s, req, actor)
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

        A change of status or note queues a notice to the conversation that opened the
        ticket (an outbox row in this transaction: no change without its notice).

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
            ticket = rows.lock_open_ticket(s, number)
            index = STEPS.index(name)
            if new is StepStatus.DONE:
                pending = [x.name for x in ticket.steps[:index] if x.status != new.value]
                if pending:
                    raise StepOrderError(
                        f"请先完成: {'、'.join(pending)} / complete earlier steps first"
                    )
            now = self._now()
            row = ticket.steps[index]
            changed = (row.status, row.note) != (new.value, note)
            rows.record(s, ticket.id, now, actor, note, row.name, row.status, new.value)
            row.status, row.note, row.updated_at = new.value, note, now
            ticket.updated_at = now
            if name == STEPS[-1] and new is StepStatus.DONE:
                ticket.status = TicketStatus.COMPLETED.value
                rows.record(s, ticket.id, now, actor, note, None, "open", ticket.status)
            s.flush()
            if changed:  # the merchant is told, in this same transaction
                from bot.outbox.notices import write_step_notice  # (imports bot.tickets)

                write_step_notice(s, ticket, name, new.value, note, now)
            if also is not None:
                also(s)
            return rows.view(ticket)

    def cancel_ticket(self, ticket_no: str, actor: str = "system", note: str = "") -> TicketView:
        """Cancel an open ticket: every step not yet done becomes 已取消."""
        note = redact_text(_text("note", note, 2000, empty_ok=True))
        actor = _text("actor", actor, 64)
        number = self._require_number(ticket_no)
        with self._session(write=True) as s:
            ticket = rows.lock_open_ticket(s, number)
            now = self._now()
            cancelled = StepStatus.CANCELLED.value
            for row in ticket.steps:
                if row.status != StepStatus.DONE.value:
                    rows.record(s, ticket.id, now, actor, note, row.name, row.status, cancelled)
                    row.status, row.updated_at = cancelled, now
            ticket.status = TicketStatus.CANCELLED.value
            ticket.updated_at = now
            rows.record(s, ticket.id, now, actor, note, None, "open", ticket.status)
            s.flush()
            return rows.view(ticket)

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
            closed = s.execute(
                select(Ticket)
                .where(Ticket.status != TicketStatus.OPEN.value)
                .where(Ticket.updated_at < before.astimezone(timezone.utc))
                .where(~Ticket.merchant_id.contains("*"))
                .with_for_update()
            ).scalars().all()
            for ticket in closed:
                ticket.merchant_id = mask_merchant_id(ticket.merchant_id)
                ticket.contact_phone = ticket.reason_detail = ""
                ticket.serial_number = ticket.sender_id = ""
                for step in ticket.steps:
                    step.note = mask_personal(step.note)
                for event in s.execute(
                    select(TicketEvent).where(TicketEvent.ticket_id == ticket.id)
                ).scalars():
                    event.note = mask_personal(event.note)
                rows.record(s, ticket.id, self._now(), actor, "个人信息已按保留期限清除", None,
                            ticket.status, ticket.status)
            count = len(closed)
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

        def find(s: Session) -> tuple[Ticket, ...]:
            number = parse_ticket_no(ticket_no)
            ticket = rows.by_number(s, number) if number else None
            return (ticket,) if ticket is not None else ()

        return self._check_owner(
            requester, ownership.owner_check_subject(ticket_no), find, merchant_id, phone_last4
        )

    def verify_merchant_owner(
        self, merchant_id: str, phone_last4: str, requester: str
    ) -> OwnerCheck:
        """The merchant's tickets whose contact phone ends in ``phone_last4``.

        The same proof and throttling as :meth:`verify_owner`, keyed by the merchant
        number: a merchant with no tickets, a wrong phone tail and a wrong merchant
        number look alike and each counts as a failure. On a match ``ticket`` is the
        open ticket (else the newest) and ``tickets`` all matching ones, newest first.
        """

        def find(s: Session) -> tuple[Ticket, ...]:
            return tuple(
                s.execute(
                    select(Ticket)
                    .where(Ticket.merchant_id == (merchant_id or "").strip())
                    .order_by(Ticket.created_at.desc(), Ticket.id.desc())
                ).scalars()
            )

        return self._check_owner(
            requester, ownership.merchant_check_subject(merchant_id), find, merchant_id, phone_last4
        )

    def _check_owner(
        self,
        requester: str,
        subject: str,
        find: Callable[[Session], Sequence[Ticket]],
        merchant_id: str,
        phone_last4: str,
    ) -> OwnerCheck:
        requester = _text("requester", requester, 255)
        now = self._now()
        with self._session(write=True) as s:
            until = ownership.locked_until(s, now, self.throttle, requester, subject)
            if until is not None:
                return OwnerCheck(OwnerCheckOutcome.THROTTLED, locked_until=until)
            matches = [t for t in find(s) if ownership.owner_matches(t, merchant_id,
                                                                     phone_last4)]
            if matches:
                views = tuple(rows.view(t) for t in matches)
                first = next((v for v in views if v.is_open), views[0])
                return OwnerCheck(OwnerCheckOutcome.MATCH, ticket=first, tickets=views)
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
            raise rows.not_found(ticket_no)
        return number

    def _list(self, condition: object) -> tuple[TicketView, ...]:
        with self._session() as s:
            found = s.execute(
                select(Ticket)
                .where(condition)  # type: ignore[arg-type]
                .order_by(Ticket.created_at.desc(), Ticket.id.desc())
            ).scalars()
            return tuple(rows.view(t) for t in found)

    def _insert_ticket(self, s: Session, req: OpenRequest, actor: str) -> TicketView:
        """Insert the ticket, its eight pending steps (one executemany) and its first
        history row as three statements, and return its view without reading it back."""
        now = self._now()
        values = {
            "ticket_no": rows.next_number(s, shanghai_day(now)),
            "merchant_id": req.merchant_id,
            "reason_category": req.reason_category,
            "reason_detail": req.reason_detail,
            "serial_number": req.serial_number,
            "contact_phone": req.contact_phone,
            "channel": req.channel,
            "sender_id": req.sender_id,
            "status": TicketStatus.OPEN.value,
            "created_at": now,
            "updated_at": now,
        }
        ticket_id = s.execute(insert(Ticket).values(**values)).inserted_primary_key[0]
        steps = [
            StepView(i, name, StepStatus.PENDING.value, note="", updated_at=now)
            for i, name in enumerate(STEPS, start=1)
        ]
        s.execute(insert(TicketStep), [{"ticket_id": ticket_id, **asdict(x)} for x in steps])
        rows.record(s, ticket_id, now, actor, "", None, None, TicketStatus.OPEN.value)
        return TicketView(**values, steps=tuple(steps))
