"""Queueing jobs (a submission, a retry) and reading them; what happens to a job once a worker
claims it is in ``runs``."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ragfleet.domain import DocumentStatus, JobStatus, utcnow
from ragfleet.errors import ConflictError, NotFoundError
from ragfleet.registry.access import Groups, set_groups, visible_ids
from ragfleet.registry.codec import PendingIngest, encode_document
from ragfleet.registry.database import Database
from ragfleet.registry.tables import (
    ACTIVE_JOB_STATES,
    RETRYABLE_STATES,
    DocumentRow,
    JobPayloadRow,
    JobRow,
)


class JobStore(Database):
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
                    session.flush()
                    set_groups(session, item.document_id, item.acl)
                _drop_kept_payloads(session, item.document_id)
                payload = encode_document(item.document, item.acl)
                jobs.append(
                    _queue_job(session, item.document_id, item.collection, item.version, payload)
                )
        return jobs

    def record_unchanged(self, document: DocumentRow) -> JobRow:
        """A finished job for a re-submission whose content is already indexed."""
        now = utcnow()
        job = JobRow(
            id=str(uuid.uuid4()),
            document_id=document.id,
            collection=document.collection,
            version=document.version or "",
            status=JobStatus.SUCCEEDED.value,
            stage="unchanged",
            progress=1.0,
            attempts=0,
            created_at=now,
            started_at=now,
            finished_at=now,
        )
        with self.session() as session:
            _drop_kept_payloads(session, document.id)
            session.add(job)
        return job

    def get_job(self, job_id: str, groups: Groups = None) -> JobRow:
        """The job, or ``NotFoundError`` when it is missing or its document is not readable."""
        query = select(JobRow).where(JobRow.id == job_id)
        if groups is not None:
            query = query.where(JobRow.document_id.in_(visible_ids(groups)))
        with self.session() as session:
            row = session.scalars(query).first()
        if row is None:
            raise NotFoundError(f"job {job_id} not found")
        return row

    def list_jobs(
        self, status: str | None, limit: int, offset: int, groups: Groups = None
    ) -> tuple[list[JobRow], int]:
        query = select(JobRow)
        if status:
            query = query.where(JobRow.status == status)
        if groups is not None:
            query = query.where(JobRow.document_id.in_(visible_ids(groups)))
        return self.page(query.order_by(JobRow.created_at, JobRow.id), limit, offset)

    def finished(self, job_ids: Iterable[str]) -> set[str]:
        """The subset of ``job_ids`` that ended (succeeded, failed or cancelled)."""
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

    def queued_job_ids(self) -> list[str]:
        with self.session() as session:
            return list(
                session.scalars(
                    select(JobRow.id)
                    .where(JobRow.status == JobStatus.QUEUED.value)
                    .order_by(JobRow.created_at)
                ).all()
            )

    def retry_job(self, job_id: str, groups: Groups = None) -> JobRow:
        """A new queued job for a failed or cancelled job's document version, from its kept
        payload."""
        failed = self.get_job(job_id, groups)
        if failed.status not in RETRYABLE_STATES:
            raise ConflictError(
                f"job {job_id} is {failed.status}; only failed or cancelled jobs are retried"
            )
        with self.session() as session:
            payload = session.get(JobPayloadRow, job_id)
            latest = session.scalars(
                select(JobRow)
                .where(JobRow.document_id == failed.document_id)
                .order_by(JobRow.created_at.desc(), JobRow.id)
                .limit(1)
            ).first()
            if payload is None or latest is None or latest.id != job_id:
                raise ConflictError(
                    f"job {job_id} was superseded by a later submission of its document"
                )
            job = _queue_job(
                session, failed.document_id, failed.collection, failed.version, payload.document
            )
            session.delete(payload)
        return job


def _drop_kept_payloads(session: Session, document_id: str) -> None:
    """Failed and cancelled jobs keep their payload for a retry until the document is
    submitted again."""
    job_ids = select(JobRow.id).where(
        JobRow.document_id == document_id, JobRow.status.in_(RETRYABLE_STATES)
    )
    session.execute(delete(JobPayloadRow).where(JobPayloadRow.job_id.in_(job_ids)))


def _queue_job(
    session: Session, document_id: str, collection: str, version: str, payload: bytes
) -> JobRow:
    """A new queued job with its payload, in the caller's transaction."""
    job = JobRow(
        id=str(uuid.uuid4()),
        document_id=document_id,
        collection=collection,
        version=version,
        status=JobStatus.QUEUED.value,
        stage="queued",
        progress=0.0,
        attempts=0,
    )
    session.add(job)
    session.add(JobPayloadRow(job_id=job.id, document=payload))
    return job
