"""Live handoff and step-change notices: ``handoffs``, ``outbox``, ``notice_preferences``.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

ACTIVE = "state IN ('queued', 'claimed')"


def _time(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    """Create the three tables and their indexes."""
    op.create_table(
        "handoffs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("sender_id", sa.String(255), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("agent", sa.String(64), nullable=True),
        sa.Column("agent_verified", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("left_message", sa.Text(), nullable=False),
        _time("created_at"), _time("queued_at"), _time("claimed_at", True),
        _time("reply_due_at", True), _time("last_merchant_at", True),
        _time("last_agent_at", True), _time("closed_at", True),
        sa.Column("closed_by", sa.String(64), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.Column("requeued", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "state IN ('queued', 'claimed', 'offline', 'closed')", name="ck_handoffs_state"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_handoffs"),
    )
    op.create_index(
        "uq_handoffs_active_conversation", "handoffs", ["channel", "sender_id"], unique=True,
        sqlite_where=sa.text(ACTIVE), postgresql_where=sa.text(ACTIVE),
    )
    op.create_index("ix_handoffs_state_queued_at", "handoffs", ["state", "queued_at"])
    op.create_index(
        "ix_handoffs_channel_sender_id_id", "handoffs", ["channel", "sender_id", "id"]
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("sender_id", sa.String(255), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("agent", sa.String(64), nullable=True),
        sa.Column("handoff_id", sa.Integer(), nullable=True),
        sa.Column("ticket_no", sa.String(20), nullable=True),
        sa.Column("step", sa.String(16), nullable=True),
        sa.Column("client_key", sa.String(64), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("parts_sent", sa.Integer(), nullable=False),
        sa.Column("recorded", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("in_flight", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("lease_owner", sa.String(64), nullable=True),
        _time("lease_until", True), _time("next_attempt_at"),
        sa.Column("last_error", sa.Text(), nullable=False),
        _time("created_at"), _time("updated_at"), _time("sent_at", True),
        sa.CheckConstraint(
            "state IN ('pending', 'leased', 'sent', 'failed', 'uncertain', 'held', "
            "'opted_out')", name="ck_outbox_state",
        ),
        sa.CheckConstraint("kind IN ('notice', 'agent', 'handoff')", name="ck_outbox_kind"),
        sa.ForeignKeyConstraint(
            ["handoff_id"], ["handoffs.id"], name="fk_outbox_handoff_id_handoffs",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
        sa.UniqueConstraint("handoff_id", "client_key", name="uq_outbox_handoff_id_client_key"),
    )
    op.create_index("ix_outbox_handoff_id", "outbox", ["handoff_id"])
    op.create_index("ix_outbox_ticket_no", "outbox", ["ticket_no"])
    op.create_index("ix_outbox_state_next_attempt_at", "outbox", ["state", "next_attempt_at"])
    op.create_index(
        "ix_outbox_channel_sender_id_state", "outbox", ["channel", "sender_id", "state"]
    )
    op.create_table(
        "notice_preferences",
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("sender_id", sa.String(255), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        _time("updated_at"),
        sa.PrimaryKeyConstraint("channel", "sender_id", name="pk_notice_preferences"),
    )


def downgrade() -> None:
    """Drop the three tables."""
    op.drop_table("notice_preferences")
    op.drop_table("outbox")
    op.drop_table("handoffs")
