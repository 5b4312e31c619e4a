"""Audit log: who looked up, changed or exported what, when, with what result.

Written by the agent console (one row per API call) and by ``python -m bot.privacy
export``. The table (``console_audit``) lives in the ticket database, on the ticket
models' metadata, so the ticket migrations (``0002_console_audit``, ``0004``) create it
and ``alembic check`` covers it. Merchant numbers, phone numbers and secrets are masked
before they are stored; next to the masked value, a keyed HMAC of the full merchant or
phone number looked up (``subject_hmac``) answers "who looked up merchant X" without
storing X. The key is ``AUDIT_HMAC_KEY``, else a random key generated once into
``var/audit-key`` (``AUDIT_HMAC_KEY_FILE``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import Boolean, Column, Index, Integer, String, Text, false, insert, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Mapped, Session

from bot.db import writer
from bot.fields import mask_merchant_id, mask_phone
from bot.logmask import mask_personal
from bot.paths import VAR
from bot.secretfile import read_or_create
from bot.tickets.models import Base, UTCDateTime

_MASKERS = {"merchant": mask_merchant_id, "phone": mask_phone}
SUBJECTS = ("merchant", "phone")
"""Parameters whose full value is kept as a keyed HMAC (the first one present)."""
KEY_ENV = "AUDIT_HMAC_KEY"
KEY_FILE = VAR / "audit-key"


def audit_key(env: Mapping[str, str] | None = None) -> bytes:
    """``AUDIT_HMAC_KEY``, else the key kept in ``var/audit-key`` (created if missing)."""
    env = os.environ if env is None else env
    value = env.get(KEY_ENV, "").strip()
    if not value:
        value = read_or_create(Path(env.get(f"{KEY_ENV}_FILE", "").strip() or KEY_FILE))
    return value.encode()


def subject_hmac(key: bytes, kind: str, value: str) -> str:
    """HMAC-SHA256 of a full merchant or phone number, separated by kind."""
    return hmac.new(key, f"{kind}:{value.strip()}".encode(), hashlib.sha256).hexdigest()


class ConsoleAudit(Base):
    """One agent action in the console."""

    __tablename__ = "console_audit"

    id: Mapped[int] = Column(Integer, primary_key=True)
    created_at: Mapped[datetime] = Column(UTCDateTime(), nullable=False)
    agent: Mapped[str] = Column(String(64), nullable=False)
    agent_verified: Mapped[bool] = Column(Boolean, nullable=False, server_default=false())
    """True if the name comes from the agent's personal token, not from ``X-Agent``."""
    action: Mapped[str] = Column(String(32), nullable=False)
    params: Mapped[str] = Column(Text, nullable=False)
    subject_hmac: Mapped[str | None] = Column(String(64), nullable=True)
    status: Mapped[int] = Column(Integer, nullable=False)
    result_count: Mapped[int] = Column(Integer, nullable=False)

    __table_args__ = (
        Index(None, "agent", "created_at"),
        Index(None, "created_at"),
        Index(None, "subject_hmac"),
    )


@dataclass(frozen=True)
class AuditRow:
    """A stored audit entry."""

    created_at: datetime
    agent: str
    action: str
    params: dict[str, str]
    status: int
    result_count: int
    agent_verified: bool = False
    subject_hmac: str | None = None


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
    key: bytes | None = field(default=None, repr=False)
    """The HMAC key; ``audit_key()`` when first needed if None."""

    def _key(self) -> bytes:
        if self.key is None:
            self.key = audit_key()
        return self.key

    def row(
        self, agent: str, action: str, params: Mapping[str, str], status: int, count: int,
        verified: bool = False,
    ) -> dict[str, Any]:
        """The values of one entry: masked parameters, the subject's HMAC, the time."""
        kind = next((k for k in SUBJECTS if str(params.get(k) or "").strip()), None)
        return {
            "created_at": datetime.now(timezone.utc),
            "agent": agent[:64],
            "agent_verified": verified,
            "action": action[:32],
            "params": json.dumps(mask_params(params), ensure_ascii=False, sort_keys=True),
            "subject_hmac": subject_hmac(self._key(), kind, str(params[kind])) if kind else None,
            "status": status,
            "result_count": count,
        }

    def record(
        self, agent: str, action: str, params: Mapping[str, str], status: int, count: int,
        verified: bool = False,
    ) -> None:
        """Store one entry in its own transaction."""
        values = self.row(agent, action, params, status, count, verified)
        with writer(self.engine).begin() as conn:
            conn.execute(insert(ConsoleAudit).values(**values))

    def record_in(
        self, session: Session | Connection, agent: str, action: str,
        params: Mapping[str, str], status: int, count: int, verified: bool = False,
    ) -> None:
        """Store one entry inside the caller's transaction (it commits or rolls back)."""
        session.execute(
            insert(ConsoleAudit).values(**self.row(agent, action, params, status, count, verified))
        )

    def recent(self, limit: int = 100) -> list[AuditRow]:
        """The newest entries first."""
        table = ConsoleAudit.__table__
        return self._rows(select(table).order_by(table.c.id.desc()).limit(limit))

    def lookups_of(self, kind: str, value: str, limit: int = 1000) -> list[AuditRow]:
        """Entries about one full merchant (``kind="merchant"``) or phone number, newest first."""
        if kind not in SUBJECTS:
            raise ValueError(f"kind must be one of {SUBJECTS}")
        table = ConsoleAudit.__table__
        wanted = subject_hmac(self._key(), kind, value)
        stmt = (select(table).where(table.c.subject_hmac == wanted)
                .order_by(table.c.id.desc()).limit(limit))
        return self._rows(stmt)

    def _rows(self, stmt: Any) -> list[AuditRow]:
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
        return [
            AuditRow(r.created_at, r.agent, r.action, json.loads(r.params), r.status,
                     r.result_count, bool(r.agent_verified), r.subject_hmac)
            for r in rows
        ]
