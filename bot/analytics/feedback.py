"""👍/👎 on the bot's answers in the web chat, and their rate per topic.

A rating belongs to one bot answer of one conversation: the sender id and the answer's
tracker timestamp (``message_ts``), so a second click on the same answer changes the
rating instead of adding one. ``topic`` is what the bot answered (the intent of the
merchant's message before it). A 👎 also keeps that message as a candidate training
message (reason ``feedback``) through :func:`bot.learning.candidates.record_candidate`.
The table (``answer_feedback``) is in the ticket database (migration ``0008``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import (
    Column,
    Float,
    Index,
    Integer,
    SmallInteger,
    String,
    UniqueConstraint,
    case,
    cast,
    func,
    literal,
    select,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapped, Session

from bot.analytics.conversations import topic_title
from bot.analytics.sql import Filters
from bot.db import writer
from bot.tickets.models import Base, UTCDateTime

UP, DOWN = 1, -1


class AnswerFeedback(Base):
    """A merchant's rating of one bot answer."""

    __tablename__ = "answer_feedback"

    id: Mapped[int] = Column(Integer, primary_key=True)
    created_at: Mapped[datetime] = Column(UTCDateTime(), nullable=False)
    sender_id: Mapped[str] = Column(String(255), nullable=False)
    message_ts: Mapped[float] = Column(Float, nullable=False)
    channel: Mapped[str] = Column(String(32), nullable=False)
    topic: Mapped[str | None] = Column(String(64), nullable=True)
    rating: Mapped[int] = Column(SmallInteger, nullable=False)

    __table_args__ = (
        UniqueConstraint("sender_id", "message_ts"),
        Index(None, "created_at"),
    )


@dataclass(frozen=True)
class TopicFeedback:
    """Ratings of one topic's answers."""

    topic: str
    title: str
    up: int
    down: int

    @property
    def up_rate(self) -> float | None:
        total = self.up + self.down
        return round(self.up / total, 4) if total else None


@dataclass
class FeedbackStore:
    """The feedback table of one database."""

    engine: Engine

    def rate(
        self, sender_id: str, message_ts: float, rating: int, topic: str | None,
        channel: str, at: datetime | None = None,
    ) -> bool:
        """Keep (or change) the rating of one answer; True if it is new or changed."""
        if rating not in (UP, DOWN):
            raise ValueError("rating is 1 or -1")
        now = at or datetime.now(timezone.utc)
        with Session(writer(self.engine), future=True) as session, session.begin():
            row = session.scalars(select(AnswerFeedback).where(
                AnswerFeedback.sender_id == sender_id[:255],
                AnswerFeedback.message_ts == message_ts)).first()
            if row is not None:
                changed = row.rating != rating
                row.rating, row.created_at = rating, now
                return changed
            session.add(AnswerFeedback(
                created_at=now, sender_id=sender_id[:255], message_ts=message_ts,
                channel=(channel or "unknown")[:32], topic=(topic or None) and topic[:64],
                rating=rating,
            ))
            return True

    def per_topic(self, filters: Filters) -> list[TopicFeedback]:
        """👍 and 👎 per topic in the range, most rated first."""
        topic = func.coalesce(AnswerFeedback.topic, "")
        up = func.sum(case((AnswerFeedback.rating == UP, 1), else_=0))
        down = func.sum(case((AnswerFeedback.rating == DOWN, 1), else_=0))
        query = select(topic, up, down).where(
            AnswerFeedback.created_at >= filters.since, AnswerFeedback.created_at < filters.until,
        ).group_by(topic).order_by(func.count().desc(), topic)
        if filters.input_channels:
            query = query.where(AnswerFeedback.channel.in_(filters.input_channels))
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        out = []
        for name, ups, downs in rows:
            title = topic_title(name) if name else "（其他回答）"
            out.append(TopicFeedback(name, title, int(ups or 0), int(downs or 0)))
        return out

    def forget_before(self, before: datetime) -> int:
        """Unlink ratings older than ``before`` from their sender ids (retention); the
        ratings stay for the figures. Returns how many."""
        anonymous = literal("purged-") + cast(AnswerFeedback.id, String)
        with Session(writer(self.engine), future=True) as session, session.begin():
            result = session.execute(
                update(AnswerFeedback).where(
                    AnswerFeedback.created_at < before,
                    AnswerFeedback.sender_id.not_like("purged-%"),
                ).values(sender_id=anonymous).execution_options(synchronize_session=False)
            )
            return int(result.rowcount or 0)
