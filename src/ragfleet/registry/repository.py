"""Registry operations: every state change of documents and jobs goes through here."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, cast

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    CursorResult,
    Engine,
    Select,
    Update,
    create_engine,
    delete,
    event,
    false,
    func,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from ragfleet.domain import (
    PUBLIC_GROUP,
    Block,
    BlockKind,
    DocumentStatus,
    JobStatus,
    ParsedDocument,
)
from ragfleet.errors import ClaimLostError, ConflictError, DependencyError, NotFoundError
from ragfleet.registry.tables import (
    DocumentGroupRow,
    DocumentRow,
    FeedbackRow,
    JobPayloadRow,
    JobRow,
    utcnow,
)

logger = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"
ACTIVE_JOB_STATES = (JobStatus.QUEUED.value, JobStatus.RUNNING.value)
Groups = Sequence[str] | None  # a caller's ACL groups; None reads everything


def _visible_ids(groups: Sequence[str]) -> Select[str]:
    """Ids of the documents readable with ``groups`` (public ones included)."""
    return select(DocumentGroupRow.document_id).where(
        DocumentGroupRow.group_name.in_([*groups, PUBLIC_GROUP])
    )


@dataclass(slots=True)
class PendingIngest:
    """A parsed document accepted for indexing."""

    document_id: str
    collection: str
    version: str
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
        except IntegrityError as exc:
            if "uq_jobs_active_document" in str(exc) or "jobs.document_id" in str(exc):
                raise ConflictError("the document already has a queued or running job") from exc
            raise DependencyError("registry", str(exc).splitlines()[0]) from exc
        except SQLAlchemyError as exc:
            raise DependencyError("registry", str(exc).splitlines()[0]) from exc

    def check(self) -> None:
        with self.session() as session:
            session.execute(text("SELECT 1"))

    def close(self) -> None:
        self.engine.dispose()

    # Documents -------------------------------------------------------------------------------

    def get_document(self, document_id: str, groups: Groups = None) -> DocumentRow:
        """The document, or ``NotFoundError`` when it is missing or not readable."""
        query = select(DocumentRow).where(DocumentRow.id == document_id)
        if groups is not None:
            query = query.where(DocumentRow.id.in_(_visible_ids(groups)))
        with self.session() as session:
            row = session.scalars(query).first()
        if row is None:
            raise NotFoundError(f"document {document_id} not found")
        return row

    def find_documents(self, ids: Sequence[str]) -> dict[str, DocumentRow]:
        with self.session() as session:
            rows = session.scalars(select(DocumentRow).where(DocumentRow.id.in_(ids))).all()
        return {row.id: row for row in rows}

    def list_documents(
        self, collection: str | None, limit: int, offset: int, groups: Groups = None
    ) -> tuple[list[DocumentRow], int]:
        query = select(DocumentRow)
        if collection:
            query = query.where(DocumentRow.collection == collection)
        if groups is not None:
            query = query.where(DocumentRow.id.in_(_visible_ids(groups)))
        with self.session() as session:
            total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
            rows = session.scalars(
                query.order_by(DocumentRow.created_at, DocumentRow.id).limit(limit).offset(offset)
            ).all()
        return list(rows), total

    def delete_document(self, document_id: str) -> None:
        """Remove the document with its ACL groups, jobs and job payloads."""
        with self.session() as session:
            if session.get(DocumentRow, document_id) is None:
                raise NotFoundError(f"document {document_id} not found")
            self._purge(session, select(DocumentRow.id).where(DocumentRow.id == document_id))

    def collection_counts(self, groups: Groups = None) -> dict[str, int]:
        """Documents per collection (readable ones only, with ``groups``)."""
        query = select(DocumentRow.collection, func.count()).group_by(DocumentRow.collection)
        if groups is not None:
            query = query.where(DocumentRow.id.in_(_visible_ids(groups)))
        with self.session() as session:
            rows = session.execute(query.order_by(DocumentRow.collection)).all()
            return dict(rows)

    def delete_collection(self, collection: str) -> int:
        """Remove every document of a collection with its jobs; refused while one is in flight.
        Returns the number of documents removed."""
        documents = select(DocumentRow.id).where(DocumentRow.collection == collection)
        jobs = select(JobRow.id).where(JobRow.document_id.in_(documents))
        with self.session() as session:
            active = session.scalars(
                select(JobRow).where(JobRow.id.in_(jobs), JobRow.status.in_(ACTIVE_JOB_STATES))
            ).first()
            if active is not None:
                raise ConflictError(
                    f"collection {collection} has job {active.id} in flight; retry when it ends"
                )
            count = session.scalar(select(func.count()).select_from(documents.subquery())) or 0
            self._purge(session, documents)
        return count

    @staticmethod
    def _purge(session: Session, documents: Select[str]) -> None:
        """Delete these documents with their ACL groups, jobs and job payloads."""
        ids = list(session.scalars(documents))
        jobs = select(JobRow.id).where(JobRow.document_id.in_(ids))
        session.execute(delete(JobPayloadRow).where(JobPayloadRow.job_id.in_(jobs)))
        session.execute(delete(JobRow).where(JobRow.document_id.in_(ids)))
        session.execute(delete(DocumentGroupRow).where(DocumentGroupRow.document_id.in_(ids)))
        session.execute(delete(DocumentRow).where(DocumentRow.id.in_(ids)))

    @staticmethod
    def _set_groups(session: Session, document_id: str, acl: Sequence[str]) -> None:
        session.execute(delete(DocumentGroupRow).where(DocumentGroupRow.document_id == document_id))
        session.add_all(DocumentGroupRow(document_id=document_id, group_name=g) for g in set(acl))

    # Feedback --------------------------------------------------------------------------------

    def add_feedback(self, query_id: str, rating: str, comment: str | None) -> FeedbackRow:
        row = FeedbackRow(id=str(uuid.uuid4()), query_id=query_id, rating=rating, comment=comment)
        with self.session() as session:
            session.add(row)
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
                    session.flush()
                    self._set_groups(session, item.document_id, item.acl)
                self._drop_kept_payloads(session, item.document_id)
                payload = encode_document(item.document, item.acl)
                jobs.append(
                    self._queue_job(
                        session, item.document_id, item.collection, item.version, payload
                    )
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
            self._drop_kept_payloads(session, document.id)
            session.add(job)
        return job

    @staticmethod
    def _drop_kept_payloads(session: Session, document_id: str) -> None:
        """Failed jobs keep their payload for a retry until the document is submitted again."""
        job_ids = select(JobRow.id).where(
            JobRow.document_id == document_id, JobRow.status == JobStatus.FAILED.value
        )
        session.execute(delete(JobPayloadRow).where(JobPayloadRow.job_id.in_(job_ids)))

    def get_job(self, job_id: str, groups: Groups = None) -> JobRow:
        """The job, or ``NotFoundError`` when it is missing or its document is not readable."""
        query = select(JobRow).where(JobRow.id == job_id)
        if groups is not None:
            query = query.where(JobRow.document_id.in_(_visible_ids(groups)))
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
            query = query.where(JobRow.document_id.in_(_visible_ids(groups)))
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

    def queued_job_ids(self) -> list[str]:
        with self.session() as session:
            return list(
                session.scalars(
                    select(JobRow.id)
                    .where(JobRow.status == JobStatus.QUEUED.value)
                    .order_by(JobRow.created_at)
                ).all()
            )

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
                    self._fail(session, job, "the job's document is missing; submit it again")
                elif max_attempts is not None and job.attempts > max_attempts:
                    self._fail(session, job, f"gave up after {max_attempts} attempts")
                else:
                    try:
                        document, acl = decode_document(payload.document)
                    except (ValueError, KeyError, TypeError) as exc:
                        self._fail(session, job, f"the job's stored document is unreadable: {exc}")
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

    def retry_job(self, job_id: str, groups: Groups = None) -> JobRow:
        """A new queued job for a failed job's document version, from its kept payload."""
        failed = self.get_job(job_id, groups)
        if failed.status != JobStatus.FAILED.value:
            raise ConflictError(f"job {job_id} is {failed.status}; only failed jobs are retried")
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
            job = self._queue_job(
                session, failed.document_id, failed.collection, failed.version, payload.document
            )
            session.delete(payload)
        return job

    @staticmethod
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
                    self._set_groups(session, doc.id, acl)
            session.execute(
                delete(JobPayloadRow).where(JobPayloadRow.job_id.in_([j.id for j, *_ in done]))
            )
        return gone

    def fail_job(self, job_id: str, error: str, attempt: int | None = None) -> bool:
        """Fail a queued or running job (only run ``attempt``'s, when given); a document with an
        indexed version keeps serving it. Returns whether the job was failed."""
        with self.session() as session:
            job = session.get(JobRow, job_id, with_for_update=True)
            if job is None or job.status not in ACTIVE_JOB_STATES:
                return False
            if attempt is not None and not _holds(job, attempt):
                return False
            self._fail(session, job, error)
            return True

    @staticmethod
    def _fail(session: Session, job: JobRow, error: str) -> None:
        job.status = JobStatus.FAILED.value
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
