"""Owner-check failures also count per ticket number (``subject``).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add ``owner_check_failures.subject`` and its index."""
    with op.batch_alter_table("owner_check_failures") as batch:
        batch.add_column(sa.Column("subject", sa.String(64), nullable=True))
    op.create_index(
        "ix_owner_check_failures_subject_failed_at",
        "owner_check_failures",
        ["subject", "failed_at"],
    )


def downgrade() -> None:
    """Drop the index and the column."""
    op.drop_index("ix_owner_check_failures_subject_failed_at", "owner_check_failures")
    with op.batch_alter_table("owner_check_failures") as batch:
        batch.drop_column("subject")
