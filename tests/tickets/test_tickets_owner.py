"""Owner check for strangers and its cross-process throttling."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from tickets_support import START, FakeClock, make_request, merchant

from bot.db import make_engine
from bot.tickets import OwnerCheck, OwnerCheckOutcome, TicketService, TicketView
from bot.tickets.models import OwnerCheckFailure

MISMATCH = OwnerCheck(OwnerCheckOutcome.NO_MATCH)


@pytest.fixture
def ticket(service: TicketService) -> TicketView:
    return service.open_ticket(make_request(merchant(7), phone="13812345678")).ticket


def failures(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(OwnerCheckFailure)).scalar_one()


def test_match_returns_the_ticket(service: TicketService, ticket: TicketView) -> None:
    check = service.verify_owner(ticket.ticket_no.lower(), f" {merchant(7)} ", "5678", "wx:abc")
    assert check.outcome is OwnerCheckOutcome.MATCH
    assert check.ticket == ticket


@pytest.mark.parametrize(
    ("number", "merchant_id", "last4"),
    [
        ("UB-20251128-0099", merchant(7), "5678"),  # unknown ticket
        (None, merchant(8), "5678"),  # wrong merchant
        (None, merchant(7), "1234"),  # wrong phone tail
        (None, merchant(7), "45678"),  # not four digits
        (None, "商户号", "５６７８"),  # non-ASCII input
        ("UB-garbage", merchant(7), "5678"),  # malformed number
    ],
)
def test_every_wrong_answer_looks_the_same(
    service: TicketService,
    engine: Engine,
    ticket: TicketView,
    number: str | None,
    merchant_id: str,
    last4: str,
) -> None:
    check = service.verify_owner(number or ticket.ticket_no, merchant_id, last4, "wx:abc")
    assert check == MISMATCH
    assert failures(engine) == 1


def test_five_failures_lock_the_requester_for_fifteen_minutes(
    service: TicketService, engine: Engine, clock: FakeClock, ticket: TicketView
) -> None:
    no = ticket.ticket_no
    for _ in range(5):
        assert service.verify_owner(no, merchant(7), "0000", "wx:attacker") == MISMATCH
        clock.advance(minutes=1)
    locked = service.verify_owner(no, merchant(7), "5678", "wx:attacker")  # right answer
    assert locked.outcome is OwnerCheckOutcome.THROTTLED and locked.ticket is None
    assert locked.locked_until is not None
    assert failures(engine) == 5  # throttled calls are not checked nor recorded
    mine = service.open_ticket(make_request(merchant(9), sender_id="c9", phone="13900009999"))
    other = service.verify_owner(mine.ticket.ticket_no, merchant(9), "9999", "wx:someone-else")
    assert other.outcome is OwnerCheckOutcome.MATCH  # another requester, another ticket
    clock.advance(minutes=13)  # 14 minutes after the fifth failure (at +4 min)
    assert service.verify_owner(no, merchant(7), "5678", "wx:attacker") == locked
    clock.advance(minutes=1)
    again = service.verify_owner(no, merchant(7), "5678", "wx:attacker")
    assert again.outcome is OwnerCheckOutcome.MATCH


def test_a_success_does_not_reset_the_failure_count(
    service: TicketService, clock: FakeClock, ticket: TicketView
) -> None:
    no = ticket.ticket_no
    for _ in range(4):
        service.verify_owner(no, merchant(7), "0000", "r")
    assert service.verify_owner(no, merchant(7), "5678", "r").outcome is OwnerCheckOutcome.MATCH
    service.verify_owner(no, merchant(7), "0000", "r")
    assert service.verify_owner(no, merchant(7), "5678", "r").outcome is OwnerCheckOutcome.THROTTLED


def test_failures_spread_beyond_the_window_do_not_lock(
    service: TicketService, engine: Engine, clock: FakeClock, ticket: TicketView
) -> None:
    no = ticket.ticket_no
    for _ in range(8):
        assert service.verify_owner(no, merchant(7), "0000", "slow") == MISMATCH
        clock.advance(minutes=4)
    assert service.verify_owner(no, merchant(7), "5678", "slow").outcome is OwnerCheckOutcome.MATCH
    assert failures(engine) <= 8  # old rows are pruned


def test_throttle_is_shared_between_processes(
    db_url: str, clock: FakeClock, service: TicketService, ticket: TicketView
) -> None:
    """Two service instances with their own engines see the same failure table."""
    other = TicketService(make_engine(db_url), clock=clock)
    try:
        for i in range(5):
            svc = service if i % 2 else other
            svc.verify_owner(ticket.ticket_no, merchant(7), "0000", "wecom:x")
        check = other.verify_owner(ticket.ticket_no, merchant(7), "5678", "wecom:x")
        assert check.outcome is OwnerCheckOutcome.THROTTLED
    finally:
        other.dispose()


@pytest.mark.parametrize("target", ["existing", "UB-20251128-0099", "ub-garbage"])
def test_five_senders_guessing_one_ticket_lock_that_ticket(
    service: TicketService, engine: Engine, clock: FakeClock, ticket: TicketView, target: str
) -> None:
    """A new sender id per guess does not get past the limit, whether or not the
    ticket exists, and the lock looks the same either way."""
    number = ticket.ticket_no if target == "existing" else target
    for i in range(5):
        assert service.verify_owner(number, merchant(7), "0000", f"rest:guess-{i}") == MISMATCH
        clock.advance(minutes=1)
    right = "5678" if target == "existing" else "0000"
    locked = service.verify_owner(number.lower(), merchant(7), right, "rest:guess-5")
    assert locked.outcome is OwnerCheckOutcome.THROTTLED and locked.ticket is None
    assert locked.locked_until == START + timedelta(minutes=4 + 15)
    assert failures(engine) == 5
    mine = service.open_ticket(make_request(merchant(9), sender_id="c9", phone="13900009999"))
    other = service.verify_owner(mine.ticket.ticket_no, merchant(9), "9999", "rest:guess-5")
    assert other.outcome is OwnerCheckOutcome.MATCH  # other tickets stay reachable
    clock.advance(minutes=15)
    if target == "existing":
        after = service.verify_owner(number, merchant(7), "5678", "rest:guess-6")
        assert after.outcome is OwnerCheckOutcome.MATCH


def test_four_guesses_at_one_ticket_do_not_lock_it(
    service: TicketService, ticket: TicketView
) -> None:
    for i in range(4):
        service.verify_owner(ticket.ticket_no, merchant(7), "0000", f"rest:guess-{i}")
    check = service.verify_owner(ticket.ticket_no, merchant(7), "5678", "rest:owner")
    assert check.outcome is OwnerCheckOutcome.MATCH


def test_proof_by_merchant_number_returns_the_matching_tickets(
    service: TicketService, engine: Engine, ticket: TicketView
) -> None:
    other_phone = service.open_ticket(
        make_request(merchant(7), sender_id="c2", phone="13900001111")
    )  # the same merchant's open ticket blocks it: it returns the existing one
    assert not other_phone.created
    check = service.verify_merchant_owner(f" {merchant(7)} ", "5678", "wx:abc")
    assert check.outcome is OwnerCheckOutcome.MATCH
    assert check.ticket == ticket and check.tickets == (ticket,)
    assert service.verify_merchant_owner(merchant(7), "1111", "wx:abc") == MISMATCH
    assert service.verify_merchant_owner(merchant(8), "5678", "wx:abc") == MISMATCH  # none
    assert failures(engine) == 2


def test_merchant_guesses_from_many_senders_lock_that_merchant_number(
    service: TicketService, ticket: TicketView
) -> None:
    for guess in range(5):
        assert service.verify_merchant_owner(merchant(7), f"{guess:04d}", f"s{guess}") == MISMATCH
    locked = service.verify_merchant_owner(merchant(7), "5678", "late")
    assert locked.outcome is OwnerCheckOutcome.THROTTLED
    # The ticket number is another subject: its own check is not locked by these.
    by_number = service.verify_owner(ticket.ticket_no, merchant(7), "5678", "late-2")
    assert by_number.outcome is OwnerCheckOutcome.MATCH
