"""Initial ticket schema: tickets, steps, events, day counters, owner-check failures.

Revision ID: 0001
Revises:
Create Date: 2025-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TICKET_STATUSES = "status IN ('open', 'cancelled', 'completed')"
STEP_STATUSES = "status IN ('待处理', '进行中', '已完成', '需补充材料', '已取消')"


def upgrade() -> None:
    """Create the ticket tables."""
    op.create_table(
        "tickets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_no", sa.String(20), nullable=False),
        sa.Column("merchant_id", sa.String(15), nullable=False),
        sa.Column("reason_category", sa.String(64), nullable=False),
        sa.Column("reason_detail", sa.Text(), nullable=False),
        sa.Column("serial_number", sa.String(64), nullable=False),
        sa.Column("contact_phone", sa.String(20), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("sender_id", sa.String(255), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tickets"),
        sa.UniqueConstraint("ticket_no", name="uq_tickets_ticket_no"),
        sa.CheckConstraint(TICKET_STATUSES, name="ck_tickets_status"),
    )
    op.create_index("ix_tickets_merchant_id", "tickets", ["merchant_id"])
    op.create_index("ix_tickets_sender_id", "tickets", ["sender_id"])
    op.create_index("ix_tickets_contact_phone", "tickets", ["contact_phone"])
    op.create_index(
        "uq_tickets_open_merchant",
        "tickets",
        ["merchant_id"],
        unique=True,
        sqlite_where=sa.text("status = 'open'"),
        postgresql_where=sa.text("status = 'open'"),
    )
    op.create_table(
        "ticket_steps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ticket_steps"),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name="fk_ticket_steps_ticket_id_tickets",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("ticket_id", "position", name="uq_ticket_steps_ticket_id_position"),
        sa.UniqueConstraint("ticket_id", "name", name="uq_ticket_steps_ticket_id_name"),
        sa.CheckConstraint(STEP_STATUSES, name="ck_ticket_steps_status"),
    )
    op.create_table(
        "ticket_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("step", sa.String(16), nullable=True),
        sa.Column("old_status", sa.String(16), nullable=True),
        sa.Column("new_status", sa.String(16), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ticket_events"),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name="fk_ticket_events_ticket_id_tickets",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_ticket_events_ticket_id", "ticket_events", ["ticket_id"])
    op.create_table(
        "ticket_counters",
        sa.Column("day", sa.String(8), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", name="pk_ticket_counters"),
    )
    op.create_table(
        "owner_check_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("requester", sa.String(255), nullable=False),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_owner_check_failures"),
    )
    op.create_index(
        "ix_owner_check_failures_requester_failed_at",
        "owner_check_failures",
        ["requester", "failed_at"],
    )


def downgrade() -> None:
    """Drop the ticket tables."""
    op.drop_table("owner_check_failures")
    op.drop_table("ticket_counters")
    op.drop_table("ticket_events")
    op.drop_table("ticket_steps")
    op.drop_table("tickets")
