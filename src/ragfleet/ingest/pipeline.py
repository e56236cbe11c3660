"""Accept documents and index them: chunk, embed (dense + sparse), upsert, retire the old version.

``accept`` runs in the request: it decides per document whether there is anything to do and
records jobs atomically. ``process`` runs in whichever runner owns the jobs (in-process threads
or a worker) and re-reads everything from the registry, so a job can run anywhere, again.

Versions never overwrite each other: chunk ids include the version, a hash of the content, the
ACL, the metadata and the chunking settings. The new version is upserted in full before the old
one is deleted, so a failure at any point leaves the previous version searchable, and a retry
re-writes the same ids.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from ragfleet.domain import (
    PUBLIC_GROUP,
    Chunk,
    DocumentStatus,
    IndexedChunk,
    JobStatus,
    ParsedDocument,
    chunk_point_id,
    document_id,
    heading_path,
)
from ragfleet.embedding import Embedder
from ragfleet.errors import (
    BadInputError,
    ClaimLostError,
    ConflictError,
    DependencyError,
    EmptyDocumentError,
    ForbiddenError,
    JobInterruptedError,
    JobTimeoutError,
    NotFoundError,
    RagfleetError,
    failure_message,
)
from ragfleet.ingest.chunker import Chunker
from ragfleet.registry.repository import PendingIngest, Registry
from ragfleet.registry.tables import DocumentRow, JobRow
from ragfleet.retrieval.sparse import SparseEncoder
from ragfleet.retrieval.store import VectorStore, document_filter
from ragfleet.telemetry import metrics
from ragfleet.telemetry.tracing import span

logger = logging.getLogger(__name__)

MAX_ACL_GROUPS = 64
MAX_GROUP_LENGTH = 256  # the registry's column width


@dataclass(slots=True)
class Accepted:
    document_id: str
    job_id: str
    status: JobStatus


@dataclass(slots=True)
class Processed:
    """What ``process`` did: collections written, jobs to run again and why."""

    collections: set[str] = field(default_factory=set)
    retry: list[str] = field(default_factory=list)  # transient fault: retry with backoff
    requeue: list[str] = field(default_factory=list)  # interrupted or taken over: queue again
    error: str = ""


@dataclass(slots=True)
class _Work:
    job: JobRow
    document: ParsedDocument
    acl: list[str]
    chunks: list[Chunk]


def validate_acl(acl: Sequence[str] | None) -> list[str]:
    """The document's groups, sorted and unique; none given means public."""
    groups = sorted(set(acl)) if acl else [PUBLIC_GROUP]
    if len(groups) > MAX_ACL_GROUPS:
        raise BadInputError(f"acl has {len(groups)} groups; at most {MAX_ACL_GROUPS} are allowed")
    for group in groups:
        if not group.strip() or len(group) > MAX_GROUP_LENGTH:
            raise BadInputError(f"acl group names take 1 to {MAX_GROUP_LENGTH} characters")
    return groups


def _covers(caller_groups: Sequence[str] | None, acl: Sequence[str]) -> bool:
    """Whether a caller may write a document shared with ``acl``: it must belong to every group
    (so a key cannot widen or narrow others' sharing); public documents are writable by all."""
    return caller_groups is None or set(acl) <= {*caller_groups, PUBLIC_GROUP}


def embedding_text(document: ParsedDocument, chunk: Chunk) -> str:
    """What is embedded and BM25-encoded: the chunk with its title and heading path."""
    heading = heading_path(document.title, chunk.section)
    return f"{heading}\n{chunk.text}" if heading else chunk.text


class IngestionService:
    def __init__(
        self,
        registry: Registry,
        store: VectorStore,
        embedder: Embedder,
        sparse: SparseEncoder,
        chunker: Chunker,
        embed_batch: int = 512,
        time_limit_s: float = 1800.0,
        max_attempts: int | None = None,
    ) -> None:
        self.registry = registry
        self.store = store
        self.embedder = embedder
        self.sparse = sparse
        self.chunker = chunker
        self.embed_batch = embed_batch
        self.time_limit_s = time_limit_s
        self.max_attempts = max_attempts
        self.stopping = threading.Event()  # set on shutdown: running jobs go back to the queue

    def version(self, document: ParsedDocument, acl: list[str]) -> str:
        """Everything that shapes the indexed points: a change to any of it is a new version."""
        digest = hashlib.sha256(document.content_hash().encode())
        shape = [acl, document.metadata, self.chunker.target, self.chunker.overlap]
        digest.update(json.dumps(shape, sort_keys=True, default=str).encode())
        return digest.hexdigest()

    def accept(
        self,
        documents: Sequence[ParsedDocument],
        collection: str,
        acl: list[str] | None,
        caller_groups: Sequence[str] | None = None,
    ) -> list[Accepted]:
        """Record a job per changed document; an identical version already indexed is a no-op.

        ``caller_groups`` (None: unrestricted) must cover the requested ACL and every existing
        document being replaced. Raises ``ConflictError`` (nothing recorded) when any document
        has a job in flight.
        """
        groups = validate_acl(acl)
        if not _covers(caller_groups, groups):
            raise ForbiddenError("the acl names groups this API key does not belong to")
        pending: list[PendingIngest] = []
        for doc in documents:
            if not doc.text.strip():
                raise EmptyDocumentError(f"document {doc.source or doc.title!r} has no text")
            doc_id = document_id(collection, doc.source or None, doc.content_hash())
            pending.append(
                PendingIngest(doc_id, collection, self.version(doc, groups), doc, groups)
            )
        ids = [p.document_id for p in pending]
        if len(set(ids)) != len(ids):
            raise BadInputError("the request holds the same document twice (same source)")
        existing = self.registry.find_documents(ids)
        locked = [row.id for row in existing.values() if not _covers(caller_groups, row.acl)]
        if locked:
            raise ForbiddenError(
                f"document {locked[0]} exists and this API key cannot replace it: "
                "it is shared with groups the key does not belong to"
            )
        in_flight = self.registry.active_jobs(ids)
        if in_flight:
            doc_id, job = next(iter(in_flight.items()))
            raise ConflictError(f"document {doc_id} is already being ingested by job {job.id}")
        results: dict[str, Accepted] = {}
        changed: list[PendingIngest] = []
        for item in pending:
            row = existing.get(item.document_id)
            unchanged = (
                row is not None
                and row.status == DocumentStatus.INDEXED.value
                and row.version == item.version
            )
            if unchanged and row is not None:
                # Old versions a failed clean-up left behind go now (a no-op when there are none).
                self._retire(row.collection, row.id, keep=row.version)
                job = self.registry.record_unchanged(row)
                results[item.document_id] = Accepted(row.id, job.id, JobStatus.SUCCEEDED)
            else:
                changed.append(item)
        for job in self.registry.enqueue(changed):
            results[job.document_id] = Accepted(job.document_id, job.id, JobStatus.QUEUED)
        return [results[i] for i in ids]

    def process(
        self,
        job_ids: Sequence[str],
        *,
        worker: str | None = None,
        retry_transient: bool = False,
    ) -> Processed:
        """Index the documents of these jobs together.

        A job fails on bad input, on a bug and on the time limit. A transient fault (a backing
        service down) fails it too, unless ``retry_transient``: then the job goes back to
        ``queued`` and is listed in ``Processed.retry`` for the caller to schedule again. On
        shutdown, jobs go back to ``queued`` and are listed in ``Processed.requeue``.
        """
        with span("ingest.process"):
            return self._process(job_ids, worker, retry_transient)

    def _process(
        self, job_ids: Sequence[str], worker: str | None, retry_transient: bool
    ) -> Processed:
        outcome = Processed()
        if self.stopping.is_set():  # shutting down: claim nothing, hand the jobs back
            outcome.requeue = list(job_ids)
            return outcome
        work: list[_Work] = []
        started = time.perf_counter()
        overdue = datetime.now(UTC) - timedelta(seconds=self.time_limit_s)
        claimed = self.registry.start_jobs(job_ids, worker, self.max_attempts, overdue)
        for job, document, acl in claimed:
            try:
                chunks = self.chunker.chunk(document)
                if not chunks:
                    raise EmptyDocumentError("the document produced no chunks")
            except Exception as exc:  # one bad document must not fail the batch
                if not isinstance(exc, RagfleetError):
                    logger.exception("chunking job %s crashed", job.id)
                self._fail([job], failure_message(exc))
                continue
            work.append(_Work(job, document, acl, chunks))
        metrics.INGEST_STAGE_DURATION.labels("chunk").observe(time.perf_counter() - started)
        collections: dict[str, list[_Work]] = {}
        for item in work:
            collections.setdefault(item.job.collection, []).append(item)
        deadline = time.monotonic() + self.time_limit_s
        for collection, items in collections.items():
            finished: set[str] = set()
            try:
                self._index(collection, items, finished, deadline)
            except Exception as exc:
                if not isinstance(exc, RagfleetError):
                    logger.exception("indexing failed in collection %s", collection)
                unfinished = [item for item in items if item.job.id not in finished]
                self._give_up(collection, unfinished, exc, retry_transient, outcome)
        outcome.collections = set(collections)
        return outcome

    def _give_up(
        self,
        collection: str,
        items: list[_Work],
        exc: Exception,
        retry_transient: bool,
        outcome: Processed,
    ) -> None:
        """After a failure part-way: remove what this run wrote, then fail its jobs, or put them
        back to ``queued`` (shutdown, a lost claim, a transient fault being retried). Jobs this
        run no longer holds belong to another run and are left alone."""
        lost = self.registry.set_progress([item.job for item in items], "cleaning up", 0.0)
        held = [item for item in items if item.job.id not in lost]
        self._discard_new_versions(collection, held)
        jobs = [item.job for item in held]
        # While stopping, any failure (the store closing under the run) is an interruption.
        if isinstance(exc, JobInterruptedError | ClaimLostError) or self.stopping.is_set():
            reason = exc.message if isinstance(exc, RagfleetError) else "interrupted by a shutdown"
            outcome.requeue += self.registry.release_jobs(jobs, reason, "requeued")
        elif retry_transient and isinstance(exc, DependencyError):
            released = self.registry.release_jobs(jobs, exc.message, "retrying")
            metrics.INGEST_JOBS.labels("retried").inc(len(released))
            outcome.retry += released
            outcome.error = exc.message
        else:
            self._fail(jobs, failure_message(exc))

    def _index(
        self, collection: str, items: list[_Work], finished: set[str], deadline: float
    ) -> None:
        """Embed and upsert every item, then make each version live; ``finished`` collects
        the jobs done, so a failure part-way fails only the others."""
        self.store.ensure_collection(collection, self.embedder.dimensions)
        previous = self.registry.find_documents([item.job.document_id for item in items])
        flat = [(item, chunk) for item in items for chunk in item.chunks]
        now = datetime.now(UTC).isoformat()
        jobs = [item.job for item in items]
        self._heartbeat(jobs, "embedding", 0.05)
        step = self.embed_batch
        for start in range(0, len(flat), step):
            if self.stopping.is_set():
                raise JobInterruptedError("interrupted by a shutdown; queued again")
            if time.monotonic() > deadline:
                raise JobTimeoutError(
                    f"the job ran over its {self.time_limit_s:g} s time limit "
                    "(RAGFLEET_JOBS__TIME_LIMIT_S)"
                )
            part = flat[start : start + step]
            texts = [embedding_text(item.document, chunk) for item, chunk in part]
            began = time.perf_counter()
            with span("ingest.embed"):
                dense = self.embedder.embed(texts)
            metrics.INGEST_STAGE_DURATION.labels("embed").observe(time.perf_counter() - began)
            # The claim is checked (and the heartbeat written) before every write to the store.
            self._heartbeat(jobs, "indexing", 0.05 + 0.9 * start / len(flat))
            began = time.perf_counter()
            points = [
                IndexedChunk(
                    point_id=chunk_point_id(item.job.document_id, item.job.version, chunk.index),
                    dense=dense[row].tolist(),
                    sparse=self.sparse.encode_document(text),
                    payload=self._payload(item, chunk, now),
                )
                for row, ((item, chunk), text) in enumerate(zip(part, texts, strict=True))
            ]
            with span("ingest.upsert"):
                self.store.upsert(collection, points)
            metrics.INGEST_STAGE_DURATION.labels("upsert").observe(time.perf_counter() - began)
        gone = self.registry.finish_jobs(
            [(item.job, item.document, item.acl, len(item.chunks)) for item in items]
        )
        finished.update(job.id for job in jobs)
        # The new versions are live; retire what they replace. A failure here leaves old points
        # beside the new ones (logged; search shows one copy of each chunk, and the next ingest
        # of the document, changed or not, removes them), never a document without any.
        for item in items:
            doc_id, version = item.job.document_id, item.job.version
            row = previous.get(doc_id)
            first_ingest = (
                row is not None
                and row.version is None
                and row.status == DocumentStatus.PENDING.value
            )
            if doc_id in gone:  # deleted while it was being indexed
                self._retire(collection, doc_id, keep=None)
            elif not first_ingest:
                self._retire(collection, doc_id, keep=version)
        metrics.INGEST_CHUNKS.inc(len(flat))
        metrics.INGEST_JOBS.labels("succeeded").inc(len(items))

    @staticmethod
    def _payload(item: _Work, chunk: Chunk, now: str) -> dict[str, object]:
        return {
            "document_id": item.job.document_id,
            "chunk_index": chunk.index,
            "version": item.job.version,
            "collection": item.job.collection,
            "source": item.document.source,
            "title": item.document.title,
            "section": chunk.section,
            "page": chunk.page,
            "acl": item.acl,
            "text": chunk.text,
            "meta": item.document.metadata,
            "indexed_at": now,
        }

    def _retire(self, collection: str, doc_id: str, keep: str | None) -> None:
        """Best effort: delete the document's points other than version ``keep`` (all if None)."""
        try:
            self.store.delete(collection, document_filter(doc_id, except_version=keep))
        except RagfleetError as exc:
            logger.warning("could not retire old chunks of %s: %s", doc_id, exc.message)

    def _discard_new_versions(self, collection: str, items: list[_Work]) -> None:
        """Best effort: remove the points a failed job wrote, unless that version is live."""
        live = self.registry.find_documents([item.job.document_id for item in items])
        for item in items:
            row = live.get(item.job.document_id)
            if row is not None and row.version == item.job.version:
                continue
            doc_id, version = item.job.document_id, item.job.version
            try:
                self.store.delete(collection, document_filter(doc_id, version=version))
            except RagfleetError:
                logger.warning("could not discard the partial version of %s", doc_id)

    def _heartbeat(self, jobs: list[JobRow], stage: str, progress: float) -> None:
        if lost := self.registry.set_progress(jobs, stage, progress):
            raise ClaimLostError(f"job(s) {', '.join(sorted(lost))} taken over by another run")

    def _fail(self, jobs: list[JobRow], message: str) -> None:
        failed = sum(self.registry.fail_job(job.id, message, job.attempts) for job in jobs)
        metrics.INGEST_JOBS.labels("failed").inc(failed)
        logger.warning("ingestion failed for %d job(s): %s", failed, message)

    def retry(self, job_id: str, caller_groups: Sequence[str] | None = None) -> JobRow:
        """A new queued job for a failed one; the caller must be allowed to write the document."""
        failed = self.registry.get_job(job_id, caller_groups)
        self._writable(failed.document_id, caller_groups)
        return self.registry.retry_job(job_id)

    def _writable(self, doc_id: str, caller_groups: Sequence[str] | None) -> DocumentRow:
        """The document if the caller may change it: 404 when unreadable, 403 when shared with
        groups the caller lacks."""
        row = self.registry.get_document(doc_id, caller_groups)
        if not _covers(caller_groups, row.acl):
            raise ForbiddenError(
                f"document {doc_id} is shared with groups this API key does not belong to"
            )
        return row

    def drop_collection(self, name: str, caller_groups: Sequence[str] | None = None) -> int:
        """Remove a collection's documents and its index; returns the documents removed.

        The registry goes first: if the store then fails, calling again finishes the drop
        (the reverse order could leave documents listed as indexed with no points).
        """
        if caller_groups is not None:
            raise ForbiddenError("only an API key without groups may drop a collection")
        removed = self.registry.delete_collection(name)
        if not removed and not self.store.has_collection(name):
            raise NotFoundError(f"collection {name} not found")
        self.store.drop_collection(name)
        return removed

    def delete(self, doc_id: str, caller_groups: Sequence[str] | None = None) -> None:
        """Remove a document from the registry and its chunks from the index."""
        row = self._writable(doc_id, caller_groups)
        in_flight = self.registry.active_jobs([doc_id])
        if in_flight:
            raise ConflictError(
                f"document {doc_id} is being ingested by job {in_flight[doc_id].id}"
            )
        self.store.delete(row.collection, document_filter(doc_id))
        self.registry.delete_document(doc_id)
