"""Handoff settings from the environment: duty hours and how long a claim waits.

- ``HANDOFF_HOURS``: when agents are on duty, in Beijing time. ``always`` (the default)
  or ranges separated by ``;``, each days and hours: ``mon-fri 09:00-18:00;
  sat 10:00-16:00``. Days are ``mon`` … ``sun``, a range (``mon-fri``) or a list
  (``sat,sun``); without days a range holds every day. ``never`` turns live handoff off
  (every 转人工 gets the contact and the offer to leave a message).
- ``HANDOFF_IDLE_SECONDS`` (300): a claimed conversation whose merchant waits this long
  without an agent reply goes back to the queue.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_LABELS = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
DEFAULT_IDLE_SECONDS = 300
_RANGE = re.compile(
    r"^(?:(?P<days>[a-z,\-]+)\s+)?(?P<start>\d{1,2}:\d{2})\s*-\s*(?P<end>\d{1,2}:\d{2})$"
)


def idle_timeout() -> timedelta:
    """``HANDOFF_IDLE_SECONDS`` as a timedelta (at least one second)."""
    raw = os.environ.get("HANDOFF_IDLE_SECONDS", "").strip()
    seconds = float(raw) if raw else DEFAULT_IDLE_SECONDS
    return timedelta(seconds=max(1.0, seconds))


def _days(text: str) -> tuple[int, ...]:
    days: list[int] = []
    for part in text.split(","):
        first, _, last = part.partition("-")
        if first not in DAYS or (last and last not in DAYS):
            raise ValueError(f"HANDOFF_HOURS: unknown day in {text!r} (use mon … sun)")
        start, end = DAYS.index(first), DAYS.index(last or first)
        days.extend(range(start, end + 1) if start <= end else [*range(start, 7),
                                                                   *range(0, end + 1)])
    return tuple(sorted(set(days)))


def _time(text: str) -> time:
    hours, minutes = (int(x) for x in text.split(":"))
    if hours == 24 and minutes == 0:
        return time.max
    return time(hours, minutes)


@dataclass(frozen=True)
class Shift:
    """Days of the week (0 = Monday) and the hours agents work on them."""

    days: tuple[int, ...]
    start: time
    end: time

    def label(self) -> str:
        days = self.days
        if days == tuple(range(7)):
            when = "每天"
        elif len(days) > 2 and days == tuple(range(days[0], days[-1] + 1)):
            when = f"{DAY_LABELS[days[0]]}至{DAY_LABELS[days[-1]]}"
        else:
            when = "、".join(DAY_LABELS[d] for d in days)
        end = "24:00" if self.end == time.max else self.end.strftime("%H:%M")
        return f"{when} {self.start.strftime('%H:%M')}–{end}"


@dataclass(frozen=True)
class DutyHours:
    """When a live agent can be reached; ``always`` when ``shifts`` is None."""

    shifts: tuple[Shift, ...] | None = None

    @classmethod
    def parse(cls, text: str) -> DutyHours:
        value = text.strip().lower()
        if value in ("", "always", "24x7"):
            return cls(None)
        if value == "never":
            return cls(())
        shifts = []
        for part in filter(None, (p.strip() for p in value.split(";"))):
            match = _RANGE.match(part)
            if match is None:
                raise ValueError(
                    f"HANDOFF_HOURS: cannot read {part!r} (e.g. 'mon-fri 09:00-18:00')"
                )
            days = _days(match["days"]) if match["days"] else tuple(range(7))
            start, end = _time(match["start"]), _time(match["end"])
            if end <= start:
                raise ValueError(f"HANDOFF_HOURS: {part!r} ends before it starts")
            shifts.append(Shift(days, start, end))
        return cls(tuple(shifts))

    @classmethod
    def from_env(cls) -> DutyHours:
        return cls.parse(os.environ.get("HANDOFF_HOURS", ""))

    def on_duty(self, moment: datetime) -> bool:
        if self.shifts is None:
            return True
        local = moment.astimezone(SHANGHAI)
        now = local.time()
        return any(
            local.weekday() in shift.days and shift.start <= now < shift.end
            for shift in self.shifts
        )

    def label(self) -> str:
        """The hours in Chinese for merchants (empty when always or never)."""
        return "；".join(shift.label() for shift in self.shifts or ())
