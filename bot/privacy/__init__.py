"""Data retention and export of one merchant's data (``python -m bot.privacy``).

- :func:`purge`: conversations whose last event is older than the retention period are
  deleted from the tracker store, and closed tickets last changed before it lose their
  personal fields (:meth:`TicketService.anonymise_closed`); delivered outbox messages
  (agents' replies, notices) and finished handoffs older than it are deleted
  (:func:`bot.outbox.store.purge_before`). Expired dedup records
  (``wechat_callbacks``: WeChat/WeCom, kept 10 minutes; REST and web chat turns,
  ``bot.channels.once``, kept a day) are deleted on every run. Candidate
  training messages (``bot.learning.candidates``) older than the period are deleted,
  except those an agent labelled, which only lose their sender id. The 统计 page's
  counters of deleted conversations (``bot.analytics.summary``) and answer ratings
  older than the period lose their sender ids; the figures stay.
- :func:`export`: a merchant's tickets (with steps and history) and the conversations
  they were opened from, as one JSON-ready dict; every export writes an audit row.
  Scope: conversations are found through the tickets' ``sender_id``. A conversation
  that never led to a ticket (a merchant who only asked questions, or typed the number
  and left) is not linked to any merchant number in the stores and is not exported;
  it is deleted by :func:`purge` after the retention period like every conversation.

The retention period is ``RETENTION_DAYS`` (default 180 days).
"""

from __future__ import annotations

import dataclasses
import os
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import delete, func, inspect, select
from sqlalchemy.engine import Engine

from bot.analytics import summary
from bot.analytics.feedback import FeedbackStore
from bot.audit import AuditLog
from bot.channels.wechat_sqlstore import purge_expired
from bot.db import make_engine
from bot.learning.candidates import CandidateStore
from bot.outbox.store import purge_before
from bot.tickets import TicketService
from bot.web.console.conversations import DEFAULT_URL as TRACKER_DEFAULT_URL
from bot.web.console.conversations import TranscriptReader, events

DEFAULT_RETENTION_DAYS = 180
EXPORT_ACTION = "privacy.export"


def retention_days() -> int:
    """``RETENTION_DAYS`` (a positive integer), else 180."""
    raw = os.environ.get("RETENTION_DAYS", "").strip()
    days = int(raw) if raw else DEFAULT_RETENTION_DAYS
    if days <= 0:
        raise ValueError("RETENTION_DAYS must be a positive number of days")
    return days


def tracker_engine(url: str | None = None) -> Engine:
    """A writable engine on the tracker store (``TRACKER_STORE_URL``)."""
    return make_engine(url or os.environ.get("TRACKER_STORE_URL") or TRACKER_DEFAULT_URL)


def purge_conversations(engine: Engine, before: datetime) -> tuple[int, int]:
    """Delete every conversation whose last event is older than ``before``.

    Returns ``(conversations, events)`` deleted.
    """
    if not inspect(engine).has_table("events"):
        return 0, 0
    cutoff = before.timestamp()
    stale = (
        select(events.c.sender_id)
        .group_by(events.c.sender_id)
        .having(func.max(events.c.timestamp) < cutoff)
    )
    with engine.begin() as conn:
        senders = conn.execute(stale).scalars().all()
        deleted = 0
        for start in range(0, len(senders), 500):
            chunk = senders[start : start + 500]
            deleted += conn.execute(
                delete(events).where(events.c.sender_id.in_(chunk))
            ).rowcount
            summary.forget(conn, chunk)
    return len(senders), deleted


def purge(
    tickets: TicketService, tracker: Engine, days: int, now: datetime | None = None
) -> dict[str, Any]:
    """Apply the retention period and delete expired dedup records; returns what was done."""
    now = now or datetime.now(timezone.utc)
    cutoff = now - timedelta(days=days)
    conversations, deleted = purge_conversations(tracker, cutoff)
    anonymised = tickets.anonymise_closed(cutoff)
    outbox_rows, handoffs = purge_before(tickets.engine, cutoff)
    return {
        "retention_days": days,
        "cutoff": cutoff.isoformat(),
        "conversations_deleted": conversations,
        "events_deleted": deleted,
        "tickets_anonymised": anonymised,
        "outbox_messages_deleted": outbox_rows,
        "handoffs_deleted": handoffs,
        "wechat_callbacks_deleted": purge_expired(tickets.engine, now),
        "candidates_deleted": CandidateStore(tickets.engine).purge(cutoff),
        "ratings_unlinked": FeedbackStore(tickets.engine).forget_before(cutoff),
    }


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


def export(
    merchant_id: str,
    tickets: TicketService,
    transcripts: TranscriptReader,
    audit: AuditLog,
    actor: str,
) -> dict[str, Any]:
    """Everything stored about ``merchant_id`` (already normalised); audited.

    Conversations are those the merchant's tickets were opened from (see the module
    docstring for what that leaves out)."""
    found = tickets.tickets_for_merchant(merchant_id)
    result_tickets = []
    senders: list[str] = []
    for ticket in found:
        data = dataclasses.asdict(ticket)
        data["history"] = [dataclasses.asdict(e) for e in tickets.history(ticket.ticket_no)]
        result_tickets.append(_plain(data))
        if ticket.sender_id and ticket.sender_id not in senders:
            senders.append(ticket.sender_id)
    conversations = {
        sender: [_plain(dataclasses.asdict(turn)) for turn in transcripts.transcript(sender)]
        for sender in senders
    }
    audit.record(actor, EXPORT_ACTION, {"merchant": merchant_id}, 200, len(found))
    return {
        "merchant_id": merchant_id,
        "exported_at": datetime.now(timezone.utc).isoformat(),
        "tickets": result_tickets,
        "conversations": conversations,
    }
