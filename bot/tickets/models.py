"""ORM models and domain constants of the unbind ticket store."""

from __future__ import annotations

import enum
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeMeta, Mapped, registry, relationship
from sqlalchemy.types import TypeDecorator


class TicketStatus(str, enum.Enum):
    """Lifecycle of a ticket."""

    OPEN = "open"
    CANCELLED = "cancelled"
    COMPLETED = "completed"

    @classmethod
    def label_of(cls, status: str) -> str:
        """The Chinese label shown to agents and merchants (the raw value if unknown)."""
        return _TICKET_STATUS_LABELS.get(status, status)


_TICKET_STATUS_LABELS = {
    TicketStatus.OPEN.value: "处理中",
    TicketStatus.CANCELLED.value: "已取消",
    TicketStatus.COMPLETED.value: "已完成",
}


class StepStatus(str, enum.Enum):
    """Status of one of the eight process steps."""

    PENDING = "待处理"
    IN_PROGRESS = "进行中"
    DONE = "已完成"
    NEEDS_MATERIALS = "需补充材料"
    CANCELLED = "已取消"


STEPS: tuple[str, ...] = (
    "资料审核",
    "账户冻结",
    "数据迁移",
    "设备注销",
    "新设备安装",
    "测试验证",
    "培训交接",
    "正式解绑",
)
"""The guide's eight steps, in order; the last one completes the ticket."""

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def _in(column: str, values: Any) -> str:
    return f"{column} IN ({', '.join(repr(v.value) for v in values)})"


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime; pass an aware UTC datetime")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


mapper_registry = registry(metadata=MetaData(naming_convention=NAMING))


class Base(metaclass=DeclarativeMeta):
    """Typed declarative base (SQLAlchemy 1.4)."""

    __abstract__ = True
    registry = mapper_registry
    metadata = mapper_registry.metadata
    __init__ = mapper_registry.constructor


class Ticket(Base):
    """One unbind request."""

    __tablename__ = "tickets"

    id: Mapped[int] = Column(Integer, primary_key=True)
    ticket_no: Mapped[str] = Column(String(20), nullable=False, unique=True)
    merchant_id: Mapped[str] = Column(String(15), nullable=False, index=True)
    reason_category: Mapped[str] = Column(String(64), nullable=False)
    reason_detail: Mapped[str] = Column(Text, nullable=False, default="")
    serial_number: Mapped[str] = Column(String(64), nullable=False)
    contact_phone: Mapped[str] = Column(String(20), nullable=False, index=True)
    channel: Mapped[str] = Column(String(32), nullable=False)
    sender_id: Mapped[str] = Column(String(255), nullable=False, index=True)
    status: Mapped[str] = Column(String(16), nullable=False, default=TicketStatus.OPEN.value)
    created_at: Mapped[datetime] = Column(UTCDateTime(), nullable=False)
    updated_at: Mapped[datetime] = Column(UTCDateTime(), nullable=False)

    steps: Mapped[list[TicketStep]] = relationship(
        "TicketStep",
        order_by="TicketStep.position",
        cascade="all, delete-orphan",
        lazy="selectin",
    )

    __table_args__ = (
        CheckConstraint(_in("status", TicketStatus), name="status"),
        Index(None, "created_at"),  # the 统计 page's range (migration 0008)
        Index(
            "uq_tickets_open_merchant",
            "merchant_id",
            unique=True,
            sqlite_where=text("status = 'open'"),
            postgresql_where=text("status = 'open'"),
        ),
    )


class TicketStep(Base):
    """Status of one of the eight steps of a ticket."""

    __tablename__ = "ticket_steps"

    id: Mapped[int] = Column(Integer, primary_key=True)
    ticket_id: Mapped[int] = Column(
        Integer, ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False
    )
    position: Mapped[int] = Column(Integer, nullable=False)
    name: Mapped[str] = Column(String(16), nullable=False)
    status: Mapped[str] = Column(String(16), nullable=False)
    note: Mapped[str] = Column(Text, nullable=False, default="")
    updated_at: Mapped[datetime] = Column(UTCDateTime(), nullable=False)

    __table_args__ = (
        UniqueConstraint("ticket_id", "position"),
        UniqueConstraint("ticket_id", "name"),
        CheckConstraint(_in("status", StepStatus), name="status"),
    )


class TicketEvent(Base):
    """History row: one change of a ticket or of one of its steps."""

    __tablename__ = "ticket_events"

    id: Mapped[int] = Column(Integer, primary_key=True)
    ticket_id: Mapped[int] = Column(
        Integer, ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False, index=True
    )
    step: Mapped[str | None] = Column(String(16), nullable=True)
    old_status: Mapped[str | None] = Column(String(16), nullable=True)
    new_status: Mapped[str] = Column(String(16), nullable=False)
    note: Mapped[str] = Column(Text, nullable=False, default="")
    actor: Mapped[str] = Column(String(64), nullable=False)
    created_at: Mapped[datetime] = Column(UTCDateTime(), nullable=False)

    __table_args__ = (Index(None, "step", "new_status"),)  # step durations (0008)


class TicketCounter(Base):
    """Per-day ticket sequence (day in Asia/Shanghai, ``YYYYMMDD``)."""

    __tablename__ = "ticket_counters"

    day: Mapped[str] = Column(String(8), primary_key=True)
    seq: Mapped[int] = Column(Integer, nullable=False)


class OwnerCheckFailure(Base):
    """A failed owner check, kept for cross-process throttling.

    Failures count against the requester and against the ticket number asked about
    (``subject``, also for numbers that do not exist), so neither a new sender id per
    guess nor many guesses at one ticket get past the limit.
    """

    __tablename__ = "owner_check_failures"

    id: Mapped[int] = Column(Integer, primary_key=True)
    requester: Mapped[str] = Column(String(255), nullable=False)
    subject: Mapped[str | None] = Column(String(64), nullable=True)
    failed_at: Mapped[datetime] = Column(UTCDateTime(), nullable=False)

    __table_args__ = (
        Index(None, "requester", "failed_at"),
        Index(None, "subject", "failed_at"),
    )
