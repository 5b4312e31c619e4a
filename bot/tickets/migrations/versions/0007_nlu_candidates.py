"""Candidate training messages mined from traffic (``nlu_candidates``).

Revision ID: 0007
Revises: 0005
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``nlu_candidates`` and its indexes."""
    op.create_table(
        "nlu_candidates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sender_id", sa.String(255), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("intent", sa.String(64), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("label", sa.String(64), nullable=True),
        sa.Column("labelled_by", sa.String(64), nullable=True),
        sa.Column("labelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_nlu_candidates"),
    )
    op.create_index(
        "ix_nlu_candidates_status_created_at", "nlu_candidates", ["status", "created_at"]
    )
    op.create_index("ix_nlu_candidates_created_at", "nlu_candidates", ["created_at"])


def downgrade() -> None:
    """Drop ``nlu_candidates``."""
    op.drop_table("nlu_candidates")
