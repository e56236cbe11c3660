"""SQLAlchemy tables. Schema changes go through an Alembic migration in ``migrations/``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Float, Index, Integer, LargeBinary, String, Text, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from ragfleet.domain import JobStatus, utcnow

# A job in one of these states is in flight; a document has at most one (uq_jobs_active_document).
ACTIVE_JOB_STATES = (JobStatus.QUEUED.value, JobStatus.RUNNING.value)
# Ended jobs that keep their document payload so they can be run again.
RETRYABLE_STATES = (JobStatus.FAILED.value, JobStatus.CANCELLED.value)


class Base(DeclarativeBase):
    pass


class DocumentRow(Base):
    """One document per (collection, source or content). ``version`` identifies what is indexed."""

    __tablename__ = "documents"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    collection: Mapped[str] = mapped_column(String(63), index=True)
    source: Mapped[str] = mapped_column(String(2048), default="")
    title: Mapped[str] = mapped_column(String(1024), default="")
    version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    status: Mapped[str] = mapped_column(String(16))
    chunk_count: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    acl: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class DocumentGroupRow(Base):
    """One ACL group of a document ("*" = public): lets SQL filter what a caller may see."""

    __tablename__ = "document_groups"

    document_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    group_name: Mapped[str] = mapped_column(String(256), primary_key=True, index=True)


class JobRow(Base):
    """One ingestion of one document version."""

    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_document_status", "document_id", "status"),
        Index(
            "uq_jobs_active_document",
            "document_id",
            unique=True,
            postgresql_where=text("status IN ('queued', 'running')"),
            sqlite_where=text("status IN ('queued', 'running')"),
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    document_id: Mapped[str] = mapped_column(String(36))
    collection: Mapped[str] = mapped_column(String(63))
    version: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), index=True)
    stage: Mapped[str] = mapped_column(String(32), default="queued")
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    worker: Mapped[str | None] = mapped_column(String(255), nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class FeedbackRow(Base):
    """A person's rating of one answer (``query_id`` from the /v1/query response), given with
    the API key named ``key_name`` (null on ratings older than key names)."""

    __tablename__ = "feedback"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    query_id: Mapped[str] = mapped_column(String(36), index=True)
    rating: Mapped[str] = mapped_column(String(8))
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    key_name: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class QueryRow(Base):
    """An answered question: who asked (feedback is accepted from that key only) and, with
    ``security.retain_queries``, the question itself for evaluation."""

    __tablename__ = "queries"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    key_name: Mapped[str] = mapped_column(String(64))
    collection: Mapped[str] = mapped_column(String(63))
    question: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, index=True
    )


class JobPayloadRow(Base):
    """The parsed document a job indexes, kept until the job ends so any worker can run it."""

    __tablename__ = "job_payloads"

    job_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    document: Mapped[bytes] = mapped_column(LargeBinary)
