"""WeChat/WeCom callbacks: the durable record of retry claims and their outcomes.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``wechat_callbacks`` (see ``bot.channels.wechat_sqlstore``)."""
    op.create_table(
        "wechat_callbacks",
        sa.Column("key", sa.String(512), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_wechat_callbacks"),
    )
    op.create_index("ix_wechat_callbacks_expires_at", "wechat_callbacks", ["expires_at"])


def downgrade() -> None:
    """Drop ``wechat_callbacks``."""
    op.drop_table("wechat_callbacks")
