"""Candidate training messages mined from real traffic.

Every turn the bot was unsure of (fallback, a low-confidence or grounded answer), every
hand-off to a person and every "没用" is kept here as a candidate: the merchant's text
with secrets hidden and merchant and phone numbers masked (``bot.logmask.mask_personal``),
why it was kept, what the bot understood, the channel and the time. An agent groups them
by similar text in the console (``/api/candidates``), labels one or a whole group with an
intent, and ``python -m bot.nlu export-candidates`` writes the labelled ones as Rasa NLU
YAML for review. Nothing reaches ``data/nlu`` without a person's label and review.

- :func:`record_candidate` is what other code calls (the actions; 👎 feedback later);
  it never raises, so a database problem never costs the merchant an answer.
- :func:`group_similar` groups any texts by similar wording (character bigrams); the
  console and an analytics page ("top unanswered messages") use it through
  :meth:`CandidateStore.groups`.

The table (``nlu_candidates``) lives in the ticket database on the ticket models'
metadata (migration ``0007``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from typing import TypeVar

from sqlalchemy import Column, Float, Index, Integer, String, Text, delete, func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Mapped, Session

from bot.db import make_engine, writer
from bot.logmask import mask_personal
from bot.tickets.models import Base, UTCDateTime

logger = logging.getLogger(__name__)

REASONS = ("fallback", "low_confidence", "handoff", "unhelpful", "feedback")
"""Why a message was kept: no answer, an unsure answer, a hand-off, "没用", a 👎."""
OPEN, LABELLED, DISMISSED = "open", "labelled", "dismissed"
MAX_TEXT = 500
SIMILARITY = 0.5
"""Two texts are similar when this share of their character bigrams is common (Jaccard)."""
T = TypeVar("T")


class Candidate(Base):
    """One message that the bot handled badly or unsurely."""

    __tablename__ = "nlu_candidates"

    id: Mapped[int] = Column(Integer, primary_key=True)
    created_at: Mapped[datetime] = Column(UTCDateTime(), nullable=False)
    sender_id: Mapped[str] = Column(String(255), nullable=False)
    channel: Mapped[str] = Column(String(32), nullable=False)
    text: Mapped[str] = Column(Text, nullable=False)
    """Redacted: secrets hidden, merchant and phone numbers masked."""
    reason: Mapped[str] = Column(String(16), nullable=False)
    intent: Mapped[str | None] = Column(String(64), nullable=True)
    """What the bot understood (its top intent, or the topic it answered)."""
    confidence: Mapped[float | None] = Column(Float, nullable=True)
    status: Mapped[str] = Column(String(16), nullable=False, default=OPEN)
    label: Mapped[str | None] = Column(String(64), nullable=True)
    """The intent an agent gave it."""
    labelled_by: Mapped[str | None] = Column(String(64), nullable=True)
    labelled_at: Mapped[datetime | None] = Column(UTCDateTime(), nullable=True)

    __table_args__ = (
        Index(None, "status", "created_at"),
        Index(None, "created_at"),
    )


@dataclass(frozen=True)
class CandidateView:
    """A candidate as the console and the export see it."""

    id: int
    created_at: datetime
    sender_id: str
    channel: str
    text: str
    reason: str
    intent: str | None
    confidence: float | None
    status: str
    label: str | None
    labelled_by: str | None


@dataclass(frozen=True)
class Group:
    """Candidates with similar text: the first one (newest) stands for the group."""

    members: tuple[CandidateView, ...]

    @property
    def text(self) -> str:
        return self.members[0].text

    @property
    def count(self) -> int:
        return len(self.members)

    @property
    def reasons(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for member in self.members:
            counts[member.reason] = counts.get(member.reason, 0) + 1
        return counts


def redact_candidate(text: str) -> str:
    """The text as it may be stored: secrets hidden, personal numbers masked, trimmed."""
    return mask_personal(text or "").strip()[:MAX_TEXT]


_NOT_WORD = re.compile(r"[\W_]+")


def bigrams(text: str) -> frozenset[str]:
    """Character bigrams of ``text`` without case, spaces or punctuation."""
    plain = _NOT_WORD.sub("", text.lower())
    if len(plain) < 2:
        return frozenset({plain}) if plain else frozenset()
    return frozenset(plain[i:i + 2] for i in range(len(plain) - 1))


def similarity(a: frozenset[str], b: frozenset[str]) -> float:
    """Jaccard similarity of two bigram sets."""
    if not a or not b:
        return 1.0 if a == b else 0.0
    return len(a & b) / len(a | b)


def group_similar(
    items: Iterable[T], text: Callable[[T], str] = str, threshold: float = SIMILARITY,
) -> list[list[T]]:
    """Group ``items`` whose ``text`` is similar, biggest group first.

    Each item joins the first group whose first item it is similar to (or starts a new
    one); groups keep the items' order, and equal sizes keep the order of their first
    items. Linear in items × groups: fine for the few thousand open candidates.
    """
    groups: list[tuple[frozenset[str], list[T]]] = []
    for item in items:
        grams = bigrams(text(item))
        for head, members in groups:
            if similarity(grams, head) >= threshold:
                members.append(item)
                break
        else:
            groups.append((grams, [item]))
    ordered = sorted(enumerate(groups), key=lambda g: (-len(g[1][1]), g[0]))
    return [members for _, (_, members) in ordered]


def _view(row: Candidate) -> CandidateView:
    return CandidateView(
        id=row.id, created_at=row.created_at, sender_id=row.sender_id, channel=row.channel,
        text=row.text, reason=row.reason, intent=row.intent, confidence=row.confidence,
        status=row.status, label=row.label, labelled_by=row.labelled_by,
    )


class CandidateError(ValueError):
    """Bad input for a candidate operation (unknown reason, status or ids)."""


@dataclass
class CandidateStore:
    """The candidates table of one database."""

    engine: Engine

    def record(
        self, sender_id: str, text: str, reason: str, intent: str | None = None,
        confidence: float | None = None, channel: str = "unknown",
        at: datetime | None = None,
    ) -> int | None:
        """Keep one candidate; returns its id, or None for nothing worth keeping."""
        if reason not in REASONS:
            raise CandidateError(f"unknown reason {reason!r}; one of {REASONS}")
        stored = redact_candidate(text)
        if not _NOT_WORD.sub("", stored) or stored.startswith("/"):
            return None  # empty, punctuation only, or a button payload
        row = Candidate(
            created_at=at or datetime.now(timezone.utc), sender_id=sender_id[:255],
            channel=(channel or "unknown")[:32], text=stored, reason=reason,
            intent=(intent or None) and intent[:64], confidence=confidence, status=OPEN,
        )
        with Session(writer(self.engine), future=True) as session, session.begin():
            session.add(row)
            session.flush()
            return row.id

    def candidates(
        self, status: str | None = OPEN, reasons: Sequence[str] | None = None,
        since: datetime | None = None, limit: int = 2000, until: datetime | None = None,
        channels: Sequence[str] | None = None,
    ) -> list[CandidateView]:
        """Candidates, newest first (``since`` ≤ created < ``until``, in ``channels``)."""
        query = select(Candidate).order_by(Candidate.created_at.desc(), Candidate.id.desc())
        if status is not None:
            query = query.where(Candidate.status == status)
        if reasons:
            query = query.where(Candidate.reason.in_(list(reasons)))
        if since is not None:
            query = query.where(Candidate.created_at >= since)
        if until is not None:
            query = query.where(Candidate.created_at < until)
        if channels:
            query = query.where(Candidate.channel.in_(list(channels)))
        with Session(self.engine, future=True) as session:
            return [_view(r) for r in session.scalars(query.limit(limit))]

    def groups(
        self, status: str | None = OPEN, reasons: Sequence[str] | None = None,
        since: datetime | None = None, limit: int = 2000, until: datetime | None = None,
        channels: Sequence[str] | None = None,
    ) -> list[Group]:
        """The newest ``limit`` candidates grouped by similar text, biggest group first.

        This is the "top unanswered messages" view: ``reasons=("fallback",)``.
        """
        found = self.candidates(status, reasons, since, limit, until, channels)
        return [Group(tuple(g)) for g in group_similar(found, text=lambda c: c.text)]

    def counts(self) -> dict[str, int]:
        """How many candidates there are in each status."""
        with Session(self.engine, future=True) as session:
            rows = session.execute(
                select(Candidate.status, func.count()).group_by(Candidate.status)
            )
            return {status: n for status, n in rows}

    def label(self, ids: Sequence[int], intent: str | None, agent: str) -> int:
        """Label candidates with ``intent`` (``None``: dismiss them); returns how many."""
        if not ids:
            raise CandidateError("no candidates given")
        status = LABELLED if intent else DISMISSED
        with Session(writer(self.engine), future=True) as session, session.begin():
            result = session.execute(
                update(Candidate).where(Candidate.id.in_(list(ids))).values(
                    status=status, label=intent, labelled_by=agent[:64],
                    labelled_at=datetime.now(timezone.utc),
                )
            )
            return int(result.rowcount or 0)

    def labelled(self) -> list[CandidateView]:
        """Every labelled candidate, oldest first (for the export)."""
        query = select(Candidate).where(Candidate.status == LABELLED).order_by(Candidate.id)
        with Session(self.engine, future=True) as session:
            return [_view(r) for r in session.scalars(query)]

    def purge(self, before: datetime) -> int:
        """Delete open and dismissed candidates older than ``before``; labelled ones lose
        their sender id (their text is training material, already redacted)."""
        with Session(writer(self.engine), future=True) as session, session.begin():
            deleted = session.execute(
                delete(Candidate).where(Candidate.created_at < before,
                                        Candidate.status != LABELLED)
            ).rowcount
            session.execute(
                update(Candidate).where(Candidate.created_at < before,
                                        Candidate.status == LABELLED).values(sender_id="")
            )
            return int(deleted or 0)


@lru_cache(maxsize=1)
def default_store() -> CandidateStore:
    """The store on ``DATABASE_URL`` (SQLite under var/ by default), one per process."""
    return CandidateStore(make_engine())


def record_candidate(
    sender_id: str, text: str, reason: str, intent: str | None = None,
    confidence: float | None = None, channel: str = "unknown",
    store: CandidateStore | None = None,
) -> int | None:
    """Keep a candidate in the default store; logs and returns None instead of raising."""
    try:
        return (store or default_store()).record(
            sender_id, text, reason, intent, confidence, channel
        )
    except (SQLAlchemyError, OSError, CandidateError) as error:
        logger.warning("candidate not kept (%s): %s", reason, type(error).__name__)
        return None
