"""A worker's run of a job: the atomic claim, progress as a lease, reconciliation of abandoned
runs, and the end of the run. Every write after the claim checks the run still holds the job."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Update, delete, false, func, select, update
from sqlalchemy.orm import Session

from ragfleet.domain import DocumentStatus, JobStatus, ParsedDocument, utcnow
from ragfleet.errors import ClaimLostError
from ragfleet.registry.access import set_groups
from ragfleet.registry.codec import decode_document
from ragfleet.registry.database import Database
from ragfleet.registry.tables import ACTIVE_JOB_STATES, DocumentRow, JobPayloadRow, JobRow


class JobRuns(Database):
    def start_jobs(
        self,
        job_ids: Sequence[str],
        worker: str | None = None,
        max_attempts: int | None = None,
        overdue_before: datetime | None = None,
    ) -> list[tuple[JobRow, ParsedDocument, list[str]]]:
        """Claim queued jobs for ``worker`` and load their documents.

        The claim is atomic (``queued`` to ``running``), so of two deliveries of one job only one
        runs it; the returned row's ``attempts`` is that run's token, which every later write
        checks. A job still ``running`` since before ``overdue_before`` (past its time limit: its
        run is dead) is claimed too, which is how a task Redis redelivers takes over. A job over
        ``max_attempts`` or without its payload fails here.
        """
        claimable = JobRow.status == JobStatus.QUEUED.value
        if overdue_before is not None:
            claimable = claimable | (
                (JobRow.status == JobStatus.RUNNING.value) & (JobRow.started_at < overdue_before)
            )
        started: list[tuple[JobRow, ParsedDocument, list[str]]] = []
        with self.session() as session:
            for job_id in job_ids:
                now = utcnow()
                claimed = _changed(
                    session,
                    update(JobRow)
                    .where(JobRow.id == job_id, claimable)
                    .values(
                        status=JobStatus.RUNNING.value,
                        stage="chunking",
                        attempts=JobRow.attempts + 1,
                        started_at=now,
                        heartbeat_at=now,
                        worker=worker,
                    ),
                )
                if not claimed:
                    continue  # finished, or another run holds it
                job = session.get(JobRow, job_id, populate_existing=True)
                payload = session.get(JobPayloadRow, job_id)
                if job is None:
                    continue
                if payload is None:
                    _fail(session, job, "the job's document is missing; submit it again")
                elif max_attempts is not None and job.attempts > max_attempts:
                    _fail(session, job, f"gave up after {max_attempts} attempts")
                else:
                    try:
                        document, acl = decode_document(payload.document)
                    except (ValueError, KeyError, TypeError) as exc:
                        _fail(session, job, f"the job's stored document is unreadable: {exc}")
                        continue
                    started.append((job, document, acl))
        return started

    def set_progress(self, jobs: Sequence[JobRow], stage: str, progress: float) -> set[str]:
        """Record progress (it doubles as the heartbeat); returns the ids of jobs this run no
        longer holds (reconciliation gave them to another run)."""
        lost: set[str] = set()
        with self.session() as session:
            for job in jobs:
                result = _changed(
                    session,
                    update(JobRow)
                    .where(*_held(job))
                    .values(stage=stage, progress=round(progress, 4), heartbeat_at=utcnow()),
                )
                if not result:
                    lost.add(job.id)
        return lost

    def release_jobs(self, jobs: Sequence[JobRow], error: str, stage: str) -> list[str]:
        """Put this run's jobs back to ``queued`` (a retry, or a shutdown); returns those that
        were still held."""
        released: list[str] = []
        with self.session() as session:
            for job in jobs:
                result = _changed(
                    session,
                    update(JobRow).where(*_held(job)).values(_requeued(stage, error)),
                )
                if result:
                    released.append(job.id)
        return released

    def requeue_orphans(
        self,
        worker: str | None,
        booted_at: datetime,
        stale_before: datetime,
        queued_before: datetime | None,
    ) -> list[str]:
        """Take back jobs nobody works on and return their ids (to publish again):

        - running on ``worker`` and started before ``booted_at``: the node restarted, so they
          died with its previous process;
        - running with a heartbeat older than ``stale_before``;
        - queued and idle since before ``queued_before`` (their task was lost).

        Each is re-checked as it is updated, so concurrent reconcilers take a job once.
        """
        last_seen = func.coalesce(JobRow.heartbeat_at, JobRow.created_at)
        mine = (JobRow.worker == worker) & (JobRow.started_at < booted_at) if worker else false()
        orphan = (JobRow.status == JobStatus.RUNNING.value) & ((last_seen < stale_before) | mine)
        if queued_before is not None:
            orphan = orphan | (
                (JobRow.status == JobStatus.QUEUED.value) & (last_seen < queued_before)
            )
        taken: list[str] = []
        with self.session() as session:
            candidates = session.scalars(
                select(JobRow.id).where(orphan).order_by(JobRow.created_at)
            ).all()
            for job_id in candidates:
                result = _changed(
                    session,
                    update(JobRow)
                    .where(JobRow.id == job_id, orphan)
                    .values(_requeued("requeued", "requeued: its worker stopped")),
                )
                if result:
                    taken.append(job_id)
        return taken

    def finish_jobs(
        self, done: Sequence[tuple[JobRow, ParsedDocument, list[str], int]]
    ) -> set[str]:
        """Make new versions live, in one transaction: (job, document, acl, chunk count) each.

        Returns the ids of documents deleted meanwhile (their new points must go too).
        """
        gone: set[str] = set()
        with self.session() as session:
            for job, document, acl, chunk_count in done:
                row = session.get(JobRow, job.id, with_for_update=True)
                if row is None or not _holds(row, job.attempts):
                    raise ClaimLostError(f"job {job.id} was taken over by another run")
                row.status = JobStatus.SUCCEEDED.value
                row.stage = "done"
                row.progress = 1.0
                row.error = None
                row.finished_at = utcnow()
                doc = session.get(DocumentRow, job.document_id)
                if doc is None:
                    gone.add(job.document_id)
                else:
                    doc.title = document.title
                    doc.source = document.source
                    doc.metadata_ = document.metadata
                    doc.acl = acl
                    doc.version = job.version
                    doc.status = DocumentStatus.INDEXED.value
                    doc.chunk_count = chunk_count
                    doc.error = None
                    set_groups(session, doc.id, acl)
            session.execute(
                delete(JobPayloadRow).where(JobPayloadRow.job_id.in_([j.id for j, *_ in done]))
            )
        return gone

    def cancel_job(self, job_id: str) -> bool:
        """End a queued or running job as ``cancelled``; a run holding it loses its claim and
        stops at its next step. Returns whether the job was active."""
        return self._end(job_id, JobStatus.CANCELLED, "cancelled", stage="cancelled")

    def withdrawn(self, job_ids: Sequence[str]) -> set[str]:
        """The subset of ``job_ids`` that were cancelled or deleted with their document: no
        other run will finish them."""
        with self.session() as session:
            others = session.scalars(
                select(JobRow.id).where(
                    JobRow.id.in_(list(job_ids)), JobRow.status != JobStatus.CANCELLED.value
                )
            ).all()
        return set(job_ids) - set(others)

    def fail_job(self, job_id: str, error: str, attempt: int | None = None) -> bool:
        """Fail a queued or running job (only run ``attempt``'s, when given); a document with an
        indexed version keeps serving it. Returns whether the job was failed."""
        return self._end(job_id, JobStatus.FAILED, error, attempt)

    def _end(
        self,
        job_id: str,
        status: JobStatus,
        error: str,
        attempt: int | None = None,
        stage: str | None = None,
    ) -> bool:
        with self.session() as session:
            job = session.get(JobRow, job_id, with_for_update=True)
            if job is None or job.status not in ACTIVE_JOB_STATES:
                return False
            if attempt is not None and not _holds(job, attempt):
                return False
            _fail(session, job, error, status)
            job.stage = stage or job.stage
            return True


def _fail(session: Session, job: JobRow, error: str, status: JobStatus = JobStatus.FAILED) -> None:
    job.status = status.value
    job.error = error
    job.finished_at = utcnow()
    doc = session.get(DocumentRow, job.document_id)
    if doc is not None:
        doc.error = error
        if doc.status != DocumentStatus.INDEXED.value:
            doc.status = DocumentStatus.FAILED.value
    # The payload stays so the job can be retried; a later submission of the document
    # or its deletion removes it.


def _held(job: JobRow) -> tuple[Any, ...]:
    """SQL conditions: the job is still running as the run that claimed it."""
    return (
        JobRow.id == job.id,
        JobRow.status == JobStatus.RUNNING.value,
        JobRow.attempts == job.attempts,
    )


def _holds(row: JobRow, attempt: int) -> bool:
    return row.status == JobStatus.RUNNING.value and row.attempts == attempt


def _requeued(stage: str, error: str) -> dict[str, Any]:
    return {
        "status": JobStatus.QUEUED.value,
        "stage": stage,
        "progress": 0.0,
        "error": error,
        "worker": None,
        "heartbeat_at": utcnow(),
    }


def _changed(session: Session, statement: Update) -> bool:
    """Run a guarded UPDATE; whether it changed a row (a claim or a held job)."""
    result = session.execute(statement.execution_options(synchronize_session=False))
    return bool(cast(CursorResult[Any], result).rowcount)
