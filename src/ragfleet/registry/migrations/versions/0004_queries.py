"""Who asked each query, and who rated each answer.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    op.create_table(
        "queries",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("key_name", sa.String(64), nullable=False),
        sa.Column("collection", sa.String(63), nullable=False),
        sa.Column("question", sa.Text, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_queries_created_at", "queries", ["created_at"])
    with op.batch_alter_table("feedback") as batch:
        batch.add_column(sa.Column("key_name", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("feedback") as batch:
        batch.drop_column("key_name")
    op.drop_index("ix_queries_created_at", "queries")
    op.drop_table("queries")
