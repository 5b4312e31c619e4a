"""Ownership proof for a merchant's tickets: what matches, and how failures throttle.

A ticket is shown only to someone who names its merchant number and the last four digits
of its contact phone (compared in constant time). Every failed proof is recorded against
the requester and against the subject asked about (a ticket number or a merchant
number); ``ThrottlePolicy.max_failures`` failures within its window lock either key for
``lockout``. :class:`bot.tickets.service.TicketService` runs these inside its transaction.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from bot.tickets.models import OwnerCheckFailure, Ticket
from bot.tickets.values import ThrottlePolicy, parse_ticket_no


def locked_until(s: Session, now: datetime, policy: ThrottlePolicy, requester: str,
                 subject: str) -> datetime | None:
    """When the lock on ``requester`` or ``subject`` ends, if one holds at ``now``.

    Failures too old to matter are deleted first. On PostgreSQL both keys are taken as
    transaction advisory locks, always in the same order, so concurrent checks of the
    same key see each other's failures."""
    if s.get_bind().dialect.name == "postgresql":
        for key in sorted({f"requester:{requester}", f"subject:{subject}"}):
            s.execute(select(func.pg_advisory_xact_lock(func.hashtext(key))))
    s.execute(
        delete(OwnerCheckFailure)
        .where(OwnerCheckFailure.failed_at < now - policy.window - policy.lockout)
        .execution_options(synchronize_session=False)
    )
    ends = [
        lockout_end(_failure_times(s, OwnerCheckFailure.requester, requester), policy),
        lockout_end(_failure_times(s, OwnerCheckFailure.subject, subject), policy),
    ]
    until = max((moment for moment in ends if moment is not None), default=None)
    return until if until is not None and until > now else None


def owner_matches(ticket: Ticket, merchant_id: str, phone_last4: str) -> bool:
    """Merchant number and phone tail both match (constant-time comparisons)."""
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


def merchant_check_subject(merchant_id: str) -> str:
    """The throttling key of a merchant number (cannot look like a ticket number)."""
    return f"M:{(merchant_id or '').strip()}"[:64]


def _failure_times(s: Session, column: Any, value: str) -> list[datetime]:
    return list(
        s.execute(
            select(OwnerCheckFailure.failed_at)
            .where(column == value)
            .order_by(OwnerCheckFailure.failed_at)
        ).scalars()
    )


def lockout_end(failures: Sequence[datetime], policy: ThrottlePolicy) -> datetime | None:
    """End of the latest lockout: ``max_failures`` failures within ``window``."""
    n = policy.max_failures
    until: datetime | None = None
    for i in range(len(failures) - n + 1):
        if failures[i + n - 1] - failures[i] <= policy.window:
            end = failures[i + n - 1] + policy.lockout
            until = end if until is None or end > until else until
    return until
