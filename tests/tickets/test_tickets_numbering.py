"""Pure helpers: ticket number format, Shanghai day, phone normalisation, lockout."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.tickets.ownership import lockout_end as _locked_until
from bot.tickets.values import (
    InvalidTicketInput,
    ThrottlePolicy,
    format_ticket_no,
    normalize_phone,
    parse_ticket_no,
    shanghai_day,
)

UTC_MOMENTS = st.datetimes(
    min_value=datetime(2000, 1, 1),
    max_value=datetime(2099, 12, 31),
    timezones=st.just(timezone.utc),
)


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31)), st.integers(1, 99999))
def test_number_format_round_trips(day: date, seq: int) -> None:
    number = format_ticket_no(day, seq)
    assert number.startswith(f"UB-{day:%Y%m%d}-")
    assert len(number.split("-")[2]) == max(4, len(str(seq)))
    assert parse_ticket_no(f"  {number.lower()} ") == number


@given(UTC_MOMENTS)
def test_shanghai_day_is_utc_plus_eight(moment: datetime) -> None:
    assert shanghai_day(moment) == (moment + timedelta(hours=8)).date()


@pytest.mark.parametrize("bad", ["", "UB-2025112-0001", "UB-20251128-001", "XX-20251128-0001"])
def test_malformed_numbers(bad: str) -> None:
    assert parse_ticket_no(bad) is None


@pytest.mark.parametrize(
    ("raw", "digits"),
    [
        ("13812345678", "13812345678"),
        ("+86 138-1234-5678", "13812345678"),
        ("0086 13812345678", "13812345678"),
        ("(010) 6552-1234", "01065521234"),
    ],
)
def test_phone_normalisation(raw: str, digits: str) -> None:
    assert normalize_phone(raw) == digits


@pytest.mark.parametrize("bad", ["", "123", "138abc45678", "1" * 21])
def test_bad_phones(bad: str) -> None:
    with pytest.raises(InvalidTicketInput):
        normalize_phone(bad)


@given(st.lists(st.integers(0, 60 * 60), max_size=12))
def test_lockout_matches_a_brute_force_definition(offsets: list[int]) -> None:
    policy = ThrottlePolicy()
    base = datetime(2025, 1, 1, tzinfo=timezone.utc)
    times = sorted(base + timedelta(seconds=s) for s in offsets)
    # a failure that is the fifth within the window locks until it + lockout
    expected = max(
        (
            f + policy.lockout
            for f in times
            if sum(1 for t in times if f - policy.window <= t <= f) >= policy.max_failures
        ),
        default=None,
    )
    assert _locked_until(times, policy) == expected
