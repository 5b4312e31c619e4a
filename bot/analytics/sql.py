"""SQL building blocks shared by the analytics queries (SQLite and PostgreSQL)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from sqlalchemy import Integer, cast, func
from sqlalchemy.sql import ColumnElement

from bot.tickets.values import SHANGHAI

DAY_SECONDS = 86400
SHANGHAI_OFFSET = 8 * 3600
"""Asia/Shanghai has no daylight saving time: a day is [00:00+08:00, 24:00+08:00)."""
CHANNELS: dict[str, tuple[str, ...]] = {
    "web": ("rest", "socketio"),
    "wechat": ("wechat",),
    "wecom": ("wecom",),
}
"""The page's channel filter → the input channels Rasa records."""
EPOCH_DAY = date(1970, 1, 1)


@dataclass(frozen=True)
class Filters:
    """A date range (Beijing days, both ends included) and an optional channel."""

    start: date
    end: date
    channel: str | None = None

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError("end before start")
        if self.channel is not None and self.channel not in CHANNELS:
            raise ValueError(f"channel should be one of {', '.join(CHANNELS)}")

    @property
    def since(self) -> datetime:
        """The first moment of the range (aware UTC)."""
        return datetime.combine(self.start, time(), SHANGHAI).astimezone(timezone.utc)

    @property
    def until(self) -> datetime:
        """The first moment after the range (aware UTC)."""
        end = datetime.combine(self.end + timedelta(days=1), time(), SHANGHAI)
        return end.astimezone(timezone.utc)

    @property
    def input_channels(self) -> tuple[str, ...] | None:
        return CHANNELS[self.channel] if self.channel else None

    def days(self) -> list[date]:
        """Every day of the range, in order."""
        return [self.start + timedelta(days=n) for n in range((self.end - self.start).days + 1)]


def as_date(number: int) -> date:
    """A :func:`day_number` back as a date."""
    return EPOCH_DAY + timedelta(days=int(number))


def percentile_rank(count: Any, share: float, dialect: str) -> ColumnElement:
    """The 1-based row number of the ``share`` quantile among ``count`` sorted rows
    (nearest rank: ceil(share × count))."""
    if dialect == "sqlite":  # CAST truncates there; no ceil() before 3.35
        return cast(count * share + 0.999999, Integer)
    return cast(func.ceil(count * share), Integer)
