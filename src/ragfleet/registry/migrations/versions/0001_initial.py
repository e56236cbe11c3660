"""Documents, their ACL groups, jobs and job payloads.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.create_table(
        "documents",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("collection", sa.String(63), nullable=False),
        sa.Column("source", sa.String(2048), nullable=False),
        sa.Column("title", sa.String(1024), nullable=False),
        sa.Column("version", sa.String(64), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("chunk_count", sa.Integer, nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("metadata", sa.JSON, nullable=False),
        sa.Column("acl", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_documents_collection", "documents", ["collection"])
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("document_id", sa.String(36), nullable=False),
        sa.Column("collection", sa.String(63), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("stage", sa.String(32), nullable=False),
        sa.Column("progress", sa.Float, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_jobs_status", "jobs", ["status"])
    op.create_index("ix_jobs_document_status", "jobs", ["document_id", "status"])
    # At most one queued or running job per document, enforced by the database so that two
    # concurrent submissions cannot both pass the in-flight check.
    active = sa.text("status IN ('queued', 'running')")
    op.create_index(
        "uq_jobs_active_document",
        "jobs",
        ["document_id"],
        unique=True,
        postgresql_where=active,
        sqlite_where=active,
    )
    op.create_table(
        "document_groups",
        sa.Column("document_id", sa.String(36), primary_key=True),
        sa.Column("group_name", sa.String(256), primary_key=True),
    )
    op.create_index("ix_document_groups_group_name", "document_groups", ["group_name"])
    op.create_table(
        "job_payloads",
        sa.Column("job_id", sa.String(36), primary_key=True),
        sa.Column("document", sa.LargeBinary, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("job_payloads")
    op.drop_index("ix_document_groups_group_name", "document_groups")
    op.drop_table("document_groups")
    op.drop_index("uq_jobs_active_document", "jobs")
    op.drop_index("ix_jobs_document_status", "jobs")
    op.drop_index("ix_jobs_status", "jobs")
    op.drop_table("jobs")
    op.drop_index("ix_documents_collection", "documents")
    op.drop_table("documents")
