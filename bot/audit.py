"""Audit log: who looked up, changed or exported what, when, with what result.

Written by the agent console (one row per API call) and by ``python -m bot.privacy
export``. The table (``console_audit``) lives in the ticket database, on the ticket
models' metadata, so the ticket migrations (``0002_console_audit``) create it and
``alembic check`` covers it. Merchant numbers, phone numbers and secrets are masked
before they are stored.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import Column, Index, Integer, String, Text, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapped

from bot.db import writer
from bot.fields import mask_merchant_id, mask_phone
from bot.logmask import mask_personal
from bot.tickets.models import Base, UTCDateTime

_MASKERS = {"merchant": mask_merchant_id, "phone": mask_phone}


class ConsoleAudit(Base):
    """One agent action in the console."""

    __tablename__ = "console_audit"

    id: Mapped[int] = Column(Integer, primary_key=True)
    created_at: Mapped[datetime] = Column(UTCDateTime(), nullable=False)
    agent: Mapped[str] = Column(String(64), nullable=False)
    action: Mapped[str] = Column(String(32), nullable=False)
    params: Mapped[str] = Column(Text, nullable=False)
    status: Mapped[int] = Column(Integer, nullable=False)
    result_count: Mapped[int] = Column(Integer, nullable=False)

    __table_args__ = (Index(None, "agent", "created_at"), Index(None, "created_at"))


@dataclass(frozen=True)
class AuditRow:
    """A stored audit entry."""

    created_at: datetime
    agent: str
    action: str
    params: dict[str, str]
    status: int
    result_count: int


def mask_text(text: str) -> str:
    """Hide secrets, merchant numbers and mobile numbers inside free text."""
    return mask_personal(text)


def mask_params(params: Mapping[str, str]) -> dict[str, str]:
    """Parameters as stored: ``merchant`` and ``phone`` masked, other text scrubbed."""
    masked = {}
    for key, value in params.items():
        value = str(value)[:500]
        masker = _MASKERS.get(key)
        masked[key] = masker(value) if masker else mask_text(value)
    return masked


@dataclass
class AuditLog:
    """Writes and reads ``console_audit`` rows."""

    engine: Engine

    def record(
        self, agent: str, action: str, params: Mapping[str, str], status: int, count: int
    ) -> None:
        """Store one entry (each in its own transaction)."""
        row = {
            "created_at": datetime.now(timezone.utc),
            "agent": agent[:64],
            "action": action[:32],
            "params": json.dumps(mask_params(params), ensure_ascii=False, sort_keys=True),
            "status": status,
            "result_count": count,
        }
        with writer(self.engine).begin() as conn:
            conn.execute(insert(ConsoleAudit).values(**row))

    def recent(self, limit: int = 100) -> list[AuditRow]:
        """The newest entries first."""
        table = ConsoleAudit.__table__
        stmt = select(table).order_by(table.c.id.desc()).limit(limit)
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
        return [
            AuditRow(r.created_at, r.agent, r.action, json.loads(r.params), r.status,
                     r.result_count)
            for r in rows
        ]
