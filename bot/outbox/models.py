"""The outbox: every message the bot side sends on its own (agent replies, step-change
notices, handoff notices), and the merchants' notice preferences.

A row is written in the transaction of what caused it (the step change, the agent's
reply) and delivered later by ``python -m bot.outbox`` (:mod:`bot.outbox.worker`):

- ``pending``   waiting to be sent (first try, or a retry at ``next_attempt_at``)
- ``leased``    a worker holds it until ``lease_until``; ``in_flight`` while a request
                to WeChat/WeCom is out (a worker that dies then leaves it ``uncertain``)
- ``sent``      stored in the conversation and delivered
- ``failed``    not delivered and not retried (``last_error`` says why)
- ``uncertain`` may have arrived (a timeout, or the worker died mid-send): not retried
                on its own, an agent decides
- ``held``      WeChat's 48-hour window is closed: sent when the merchant writes again
- ``opted_out`` a notice the merchant turned off (不要再通知我): never sent
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped

from bot.tickets.models import Base, UTCDateTime

STATES = ("pending", "leased", "sent", "failed", "uncertain", "held", "opted_out")
WAITING = ("pending", "leased")
"""States that keep later messages of the same conversation waiting (order is kept).
A ``held`` notice does not: an agent's reply behind it must fail at once, visibly."""
KINDS = ("notice", "agent", "handoff")


class OutboxMessage(Base):
    """One outbound message to one conversation."""

    __tablename__ = "outbox"

    id: Mapped[int] = Column(Integer, primary_key=True)
    kind: Mapped[str] = Column(String(16), nullable=False)
    channel: Mapped[str] = Column(String(32), nullable=False)
    sender_id: Mapped[str] = Column(String(255), nullable=False)
    text: Mapped[str] = Column(Text, nullable=False)
    agent: Mapped[str | None] = Column(String(64), nullable=True)
    handoff_id: Mapped[int | None] = Column(
        Integer, ForeignKey("handoffs.id", ondelete="SET NULL"), nullable=True, index=True
    )
    ticket_no: Mapped[str | None] = Column(String(20), nullable=True, index=True)
    step: Mapped[str | None] = Column(String(16), nullable=True)
    client_key: Mapped[str | None] = Column(String(64), nullable=True)
    """The agent page's id of a reply: a re-sent POST does not queue it twice."""
    state: Mapped[str] = Column(String(16), nullable=False)
    attempts: Mapped[int] = Column(Integer, nullable=False, default=0)
    parts_sent: Mapped[int] = Column(Integer, nullable=False, default=0)
    recorded: Mapped[bool] = Column(Boolean, nullable=False, server_default=false())
    """Stored in the conversation's tracker (Rasa) already."""
    in_flight: Mapped[bool] = Column(Boolean, nullable=False, server_default=false())
    lease_owner: Mapped[str | None] = Column(String(64), nullable=True)
    lease_until: Mapped[datetime | None] = Column(UTCDateTime(), nullable=True)
    next_attempt_at: Mapped[datetime] = Column(UTCDateTime(), nullable=False)
    last_error: Mapped[str] = Column(Text, nullable=False, default="")
    created_at: Mapped[datetime] = Column(UTCDateTime(), nullable=False)
    updated_at: Mapped[datetime] = Column(UTCDateTime(), nullable=False)
    sent_at: Mapped[datetime | None] = Column(UTCDateTime(), nullable=True)

    __table_args__ = (
        CheckConstraint(f"state IN ({', '.join(repr(s) for s in STATES)})", name="state"),
        CheckConstraint(f"kind IN ({', '.join(repr(k) for k in KINDS)})", name="kind"),
        UniqueConstraint("handoff_id", "client_key"),
        Index(None, "state", "next_attempt_at"),
        Index(None, "channel", "sender_id", "state"),
    )


class NoticePreference(Base):
    """Whether a conversation (the identity that opened tickets) gets step-change notices."""

    __tablename__ = "notice_preferences"

    channel: Mapped[str] = Column(String(32), primary_key=True)
    sender_id: Mapped[str] = Column(String(255), primary_key=True)
    enabled: Mapped[bool] = Column(Boolean, nullable=False)
    updated_at: Mapped[datetime] = Column(UTCDateTime(), nullable=False)
