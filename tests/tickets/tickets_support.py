"""Helpers shared by the ticket tests (imported by conftest and test modules)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy.engine import make_url

from bot.tickets import OpenRequest

PG_URL = os.environ.get("DATABASE_URL_TEST", "").strip()
PG_SKIP = (
    "PostgreSQL variant skipped: DATABASE_URL_TEST is not set "
    "(e.g. postgresql://postgres@127.0.0.1:5432/test)"
)
START = datetime(2025, 11, 28, 2, 0, tzinfo=timezone.utc)  # 10:00 in Shanghai
AUDIT_KEY = "tickets-test-audit-key-0123456789"
"""The audit log's HMAC key in these tests (``AUDIT_HMAC_KEY``, set by conftest)."""


class FakeClock:
    """A settable UTC clock for the service."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def schema_url(base: str, schema: str) -> str:
    """``base`` with every connection's ``search_path`` set to ``schema``."""
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


@contextmanager
def pg_schema(prefix: str) -> Iterator[str]:
    """A new, empty PostgreSQL schema in DATABASE_URL_TEST, as a URL; dropped afterwards."""
    from bot.db import make_engine

    if not PG_URL:
        pytest.skip(PG_SKIP)
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = make_engine(PG_URL)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        yield schema_url(PG_URL, schema)
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.dispose()


def make_request(
    merchant_id: str = "849581058120003",
    sender_id: str = "conv-1",
    phone: str = "13812345678",
    channel: str = "rest",
) -> OpenRequest:
    """A valid confirmation as the bot would submit it."""
    return OpenRequest(
        merchant_id=merchant_id,
        reason_category="更换设备",
        reason_detail="旧机器屏幕坏了",
        serial_number="SN00012345",
        contact_phone=phone,
        channel=channel,
        sender_id=sender_id,
    )


def merchant(n: int) -> str:
    """The n-th test merchant number (15 digits)."""
    return f"8495810581{n:05d}"
