"""The handoff table: one row per time a conversation asked for (or was sent to) a person.

A row is ``queued`` (waiting for an agent), ``claimed`` (an agent holds it: the bot stays
silent), ``offline`` (asked outside the duty hours; the merchant may leave a message,
which queues the row) or ``closed``. At most one row per conversation is queued or
claimed (a partial unique index), so the per-turn "is this conversation claimed?" check
is one indexed lookup.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, Column, Index, Integer, String, Text, false, text
from sqlalchemy.orm import Mapped

from bot.tickets.models import Base, UTCDateTime

STATES = ("queued", "claimed", "offline", "closed")
ACTIVE = ("queued", "claimed")
REASONS = ("requested", "failed_attempts", "low_confidence", "left_message")
OUTCOMES = ("handed_back", "closed", "no_agent")
_ACTIVE_SQL = "state IN ('queued', 'claimed')"


class Handoff(Base):
    """A conversation handed (or to be handed) to a call-centre agent."""

    __tablename__ = "handoffs"

    id: Mapped[int] = Column(Integer, primary_key=True)
    channel: Mapped[str] = Column(String(32), nullable=False)
    sender_id: Mapped[str] = Column(String(255), nullable=False)
    state: Mapped[str] = Column(String(16), nullable=False)
    reason: Mapped[str] = Column(String(32), nullable=False)
    """Why: ``requested`` (转人工), ``failed_attempts``, ``low_confidence``…"""
    agent: Mapped[str | None] = Column(String(64), nullable=True)
    agent_verified: Mapped[bool] = Column(Boolean, nullable=False, server_default=false())
    left_message: Mapped[str] = Column(Text, nullable=False, default="")
    """What the merchant left for the agents outside the duty hours (redacted)."""
    created_at: Mapped[datetime] = Column(UTCDateTime(), nullable=False)
    queued_at: Mapped[datetime] = Column(UTCDateTime(), nullable=False)
    claimed_at: Mapped[datetime | None] = Column(UTCDateTime(), nullable=True)
    reply_due_at: Mapped[datetime | None] = Column(UTCDateTime(), nullable=True)
    """While claimed: when the claim lapses unless the agent answers (None: nobody waits)."""
    last_merchant_at: Mapped[datetime | None] = Column(UTCDateTime(), nullable=True)
    last_agent_at: Mapped[datetime | None] = Column(UTCDateTime(), nullable=True)
    closed_at: Mapped[datetime | None] = Column(UTCDateTime(), nullable=True)
    closed_by: Mapped[str | None] = Column(String(64), nullable=True)
    outcome: Mapped[str | None] = Column(String(16), nullable=True)
    requeued: Mapped[int] = Column(Integer, nullable=False, default=0)
    """How often a claim lapsed (no agent reply in time) and the row went back to the queue."""

    __table_args__ = (
        CheckConstraint(f"state IN ({', '.join(repr(s) for s in STATES)})", name="state"),
        Index(
            "uq_handoffs_active_conversation", "channel", "sender_id", unique=True,
            sqlite_where=text(_ACTIVE_SQL), postgresql_where=text(_ACTIVE_SQL),
        ),
        Index(None, "state", "queued_at"),
        Index(None, "channel", "sender_id", "id"),
    )
