"""Answer feedback (👍/👎 in the web chat) for the console's 统计 page.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``answer_feedback`` and the indexes the statistics use."""
    op.create_table(
        "answer_feedback",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sender_id", sa.String(255), nullable=False),
        sa.Column("message_ts", sa.Float(), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("topic", sa.String(64), nullable=True),
        sa.Column("rating", sa.SmallInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_answer_feedback"),
        sa.UniqueConstraint(
            "sender_id", "message_ts", name="uq_answer_feedback_sender_id_message_ts"
        ),
    )
    op.create_index("ix_answer_feedback_created_at", "answer_feedback", ["created_at"])
    op.create_index("ix_tickets_created_at", "tickets", ["created_at"])
    op.create_index(
        "ix_ticket_events_step_new_status", "ticket_events", ["step", "new_status"]
    )


def downgrade() -> None:
    """Drop ``answer_feedback`` and the statistics' indexes."""
    op.drop_index("ix_ticket_events_step_new_status", table_name="ticket_events")
    op.drop_index("ix_tickets_created_at", table_name="tickets")
    op.drop_table("answer_feedback")
