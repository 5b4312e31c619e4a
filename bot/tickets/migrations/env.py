"""Alembic environment for the ticket store, driven from :mod:`bot.tickets.migrate`.

The caller passes an open connection in ``config.attributes["connection"]``; otherwise
one is made from ``config.attributes["url"]`` (or ``DATABASE_URL``).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

import bot.analytics.feedback  # noqa: F401  (registers answer_feedback)
import bot.audit  # noqa: F401  (registers console_audit on Base.metadata)
import bot.channels.wechat_sqlstore  # noqa: F401  (registers wechat_callbacks)
import bot.handoff.models  # noqa: F401  (registers handoffs)
import bot.learning.candidates  # noqa: F401  (registers nlu_candidates)
import bot.outbox.models  # noqa: F401  (registers outbox, notice_preferences)
from bot.db import make_engine
from bot.tickets.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run migrations on the given connection or a fresh engine."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(config.attributes.get("url"))
    try:
        with engine.connect() as conn:
            _run(conn)
            conn.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("offline (--sql) migrations are not supported")
run_migrations_online()
