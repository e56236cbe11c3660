"""Registry operations: every state change of documents and jobs goes through here."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, delete, event, func, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from ragfleet.domain import Block, BlockKind, DocumentStatus, JobStatus, ParsedDocument
from ragfleet.errors import DependencyError, NotFoundError
from ragfleet.registry.tables import DocumentRow, JobPayloadRow, JobRow, utcnow

logger = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"
ACTIVE_JOB_STATES = (JobStatus.QUEUED.value, JobStatus.RUNNING.value)


@dataclass(slots=True)
class PendingIngest:
    """A parsed document accepted for indexing."""

    document_id: str
    collection: str
    content_hash: str
    document: ParsedDocument
    acl: list[str]


def encode_document(document: ParsedDocument, acl: list[str]) -> bytes:
    blocks = [[b.kind.value, b.text, b.level, b.page] for b in document.blocks]
    body = {
        "title": document.title,
        "source": document.source,
        "blocks": blocks,
        "metadata": document.metadata,
        "acl": acl,
    }
    return json.dumps(body, ensure_ascii=False).encode()


def decode_document(data: bytes) -> tuple[ParsedDocument, list[str]]:
    body = json.loads(data)
    blocks = [
        Block(BlockKind(kind), text, level, page) for kind, text, level, page in body["blocks"]
    ]
    return ParsedDocument(body["title"], body["source"], blocks, body["metadata"]), body["acl"]


def _engine(url: str, pool_size: int) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    return create_engine(url, pool_size=pool_size, pool_pre_ping=True)


class Registry:
    def __init__(self, url: str, pool_size: int = 5) -> None:
        self.engine = _engine(url, pool_size)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def migrate(self) -> None:
        """Apply Alembic migrations up to head (idempotent)."""
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with self.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    @contextmanager
    def session(self) -> Iterator[Session]:
        try:
            with self._sessions.begin() as session:
                yield session
        except SQLAlchemyError as exc:
            raise DependencyError("registry", str(exc).splitlines()[0]) from exc

    def check(self) -> None:
        with self.session() as session:
            session.execute(text("SELECT 1"))

    def close(self) -> None:
        self.engine.dispose()

    # Documents -------------------------------------------------------------------------------

    def get_document(self, document_id: str) -> DocumentRow:
        with self.session() as session:
            row = session.get(DocumentRow, document_id)
        if row is None:
            raise NotFoundError(f"document {document_id} not found")
        return row

    def find_documents(self, ids: Sequence[str]) -> dict[str, DocumentRow]:
        with self.session() as session:
            rows = session.scalars(select(DocumentRow).where(DocumentRow.id.in_(ids))).all()
        return {row.id: row for row in rows}

    def list_documents(
        self, collection: str | None, limit: int, offset: int
    ) -> tuple[list[DocumentRow], int]:
        query = select(DocumentRow)
        if collection:
            query = query.where(DocumentRow.collection == collection)
        with self.session() as session:
            total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
            rows = session.scalars(
                query.order_by(DocumentRow.created_at, DocumentRow.id).limit(limit).offset(offset)
            ).all()
        return list(rows), total

    def delete_document(self, document_id: str) -> DocumentRow:
        with self.session() as session:
            row = session.get(DocumentRow, document_id)
            if row is None:
                raise NotFoundError(f"document {document_id} not found")
            session.delete(row)
        return row

    # Jobs ------------------------------------------------------------------------------------

    def active_jobs(self, document_ids: Sequence[str]) -> dict[str, JobRow]:
        """The queued or running job of each document that has one."""
        with self.session() as session:
            rows = session.scalars(
                select(JobRow).where(
                    JobRow.document_id.in_(document_ids), JobRow.status.in_(ACTIVE_JOB_STATES)
                )
            ).all()
        return {row.document_id: row for row in rows}

    def enqueue(self, items: Sequence[PendingIngest]) -> list[JobRow]:
        """Create or refresh each document row and queue one job per document, atomically."""
        jobs: list[JobRow] = []
        with self.session() as session:
            for item in items:
                doc = session.get(DocumentRow, item.document_id)
                if doc is None:
                    doc = DocumentRow(
                        id=item.document_id,
                        collection=item.collection,
                        source=item.document.source,
                        title=item.document.title,
                        status=DocumentStatus.PENDING.value,
                        chunk_count=0,
                        metadata_=item.document.metadata,
                        acl=item.acl,
                    )
                    session.add(doc)
                job = JobRow(
                    id=str(uuid.uuid4()),
                    document_id=item.document_id,
                    collection=item.collection,
                    content_hash=item.content_hash,
                    status=JobStatus.QUEUED.value,
                    stage="queued",
                    progress=0.0,
                    attempts=0,
                )
                session.add(job)
                session.add(
                    JobPayloadRow(job_id=job.id, document=encode_document(item.document, item.acl))
                )
                jobs.append(job)
        return jobs

    def record_unchanged(self, document: DocumentRow) -> JobRow:
        """A finished job for a re-submission whose content is already indexed."""
        now = utcnow()
        job = JobRow(
            id=str(uuid.uuid4()),
            document_id=document.id,
            collection=document.collection,
            content_hash=document.content_hash or "",
            status=JobStatus.SUCCEEDED.value,
            stage="unchanged",
            progress=1.0,
            attempts=0,
            created_at=now,
            started_at=now,
            finished_at=now,
        )
        with self.session() as session:
            session.add(job)
        return job

    def get_job(self, job_id: str) -> JobRow:
        with self.session() as session:
            row = session.get(JobRow, job_id)
        if row is None:
            raise NotFoundError(f"job {job_id} not found")
        return row

    def list_jobs(self, status: str | None, limit: int, offset: int) -> tuple[list[JobRow], int]:
        query = select(JobRow)
        if status:
            query = query.where(JobRow.status == status)
        with self.session() as session:
            total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
            rows = session.scalars(
                query.order_by(JobRow.created_at, JobRow.id).limit(limit).offset(offset)
            ).all()
        return list(rows), total

    def finished(self, job_ids: Iterable[str]) -> set[str]:
        """The subset of ``job_ids`` that succeeded or failed."""
        ids = list(job_ids)
        done: set[str] = set()
        with self.session() as session:
            for start in range(0, len(ids), 500):
                done.update(
                    session.scalars(
                        select(JobRow.id).where(
                            JobRow.id.in_(ids[start : start + 500]),
                            JobRow.status.not_in(ACTIVE_JOB_STATES),
                        )
                    ).all()
                )
        return done

    def unfinished_job_ids(self) -> list[str]:
        with self.session() as session:
            return list(
                session.scalars(
                    select(JobRow.id)
                    .where(JobRow.status.in_(ACTIVE_JOB_STATES))
                    .order_by(JobRow.created_at)
                ).all()
            )

    def start_jobs(self, job_ids: Sequence[str]) -> list[tuple[JobRow, ParsedDocument, list[str]]]:
        """Mark queued jobs running and load their documents; finished jobs are skipped."""
        started: list[tuple[JobRow, ParsedDocument, list[str]]] = []
        with self.session() as session:
            for job_id in job_ids:
                job = session.get(JobRow, job_id)
                payload = session.get(JobPayloadRow, job_id)
                if job is None or payload is None or job.status not in ACTIVE_JOB_STATES:
                    continue
                job.status = JobStatus.RUNNING.value
                job.stage = "chunking"
                job.attempts += 1
                job.started_at = utcnow()
                document, acl = decode_document(payload.document)
                started.append((job, document, acl))
        return started

    def set_progress(self, job_ids: Sequence[str], stage: str, progress: float) -> None:
        with self.session() as session:
            for job_id in job_ids:
                job = session.get(JobRow, job_id)
                if job is not None:
                    job.stage = stage
                    job.progress = round(progress, 4)

    def finish_job(
        self, job: JobRow, document: ParsedDocument, acl: list[str], chunk_count: int
    ) -> None:
        """The new version is live: record it and drop the payload."""
        with self.session() as session:
            row = session.get(JobRow, job.id)
            doc = session.get(DocumentRow, job.document_id)
            if row is not None:
                row.status = JobStatus.SUCCEEDED.value
                row.stage = "done"
                row.progress = 1.0
                row.error = None
                row.finished_at = utcnow()
            if doc is not None:
                doc.title = document.title
                doc.source = document.source
                doc.metadata_ = document.metadata
                doc.acl = acl
                doc.content_hash = job.content_hash
                doc.status = DocumentStatus.INDEXED.value
                doc.chunk_count = chunk_count
                doc.error = None
            session.execute(delete(JobPayloadRow).where(JobPayloadRow.job_id == job.id))

    def fail_job(self, job_id: str, error: str) -> None:
        """The job failed; a document with an indexed version keeps serving it.

        The payload stays so the job can be retried.
        """
        with self.session() as session:
            job = session.get(JobRow, job_id)
            if job is None:
                return
            job.status = JobStatus.FAILED.value
            job.error = error
            job.finished_at = utcnow()
            doc = session.get(DocumentRow, job.document_id)
            if doc is not None:
                doc.error = error
                if doc.status != DocumentStatus.INDEXED.value:
                    doc.status = DocumentStatus.FAILED.value
