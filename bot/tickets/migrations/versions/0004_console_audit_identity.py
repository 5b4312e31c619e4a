"""Console audit: whether the agent's name was verified, and the looked-up subject's HMAC.

``agent_verified`` is true when the name comes from the agent's personal token (not the
self-declared ``X-Agent`` of the shared token); ``subject_hmac`` is a keyed HMAC of the
full merchant or phone number looked up, so lookups of one merchant can be found without
storing the number.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add ``agent_verified`` and ``subject_hmac`` (indexed) to ``console_audit``."""
    with op.batch_alter_table("console_audit") as batch:
        batch.add_column(
            sa.Column("agent_verified", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("subject_hmac", sa.String(64), nullable=True))
        batch.create_index("ix_console_audit_subject_hmac", ["subject_hmac"])


def downgrade() -> None:
    """Drop the two columns."""
    with op.batch_alter_table("console_audit") as batch:
        batch.drop_index("ix_console_audit_subject_hmac")
        batch.drop_column("subject_hmac")
        batch.drop_column("agent_verified")
