"""The indexer: chunk, embed (dense + sparse), upsert, then make the new version live.

It runs in whichever runner owns the jobs (in-process threads or a worker) and re-reads
everything from the registry, so a job can run anywhere, again. Documents of a batch are
embedded together; each job's claim is checked before every write to the store, so a run whose
job was taken over stops without touching what the other run writes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np

from ragfleet.domain import (
    Chunk,
    ChunkPayload,
    DocumentStatus,
    IndexedChunk,
    ParsedDocument,
    chunk_point_id,
    heading_path,
)
from ragfleet.embedding import Embedder
from ragfleet.embedding.base import Matrix
from ragfleet.errors import (
    ClaimLostError,
    DependencyError,
    EmptyDocumentError,
    JobInterruptedError,
    JobTimeoutError,
    RagfleetError,
    failure_message,
)
from ragfleet.ingest.chunker import Chunker
from ragfleet.ingest.versions import retire
from ragfleet.registry.repository import Registry
from ragfleet.registry.tables import DocumentRow, JobRow
from ragfleet.retrieval.sparse import SparseEncoder
from ragfleet.retrieval.store import VectorStore, document_filter
from ragfleet.security.injection import looks_like_injection
from ragfleet.telemetry import metrics
from ragfleet.telemetry.tracing import span

logger = logging.getLogger(__name__)

EMBED_SLICE = 64  # texts per embed call; a stop or the time limit is noticed between calls
# Faults that hit every document of a batch alike: no point retrying them one by one.
_SHARED_FAULTS = (JobInterruptedError, ClaimLostError, JobTimeoutError, DependencyError)


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


@contextmanager
def _stage(name: str) -> Iterator[None]:
    """Time one ingestion stage into ``ragfleet_ingest_stage_duration_seconds``."""
    began = time.perf_counter()
    try:
        yield
    finally:
        metrics.INGEST_STAGE_DURATION.labels(name).observe(time.perf_counter() - began)


def embedding_text(document: ParsedDocument, chunk: Chunk) -> str:
    """What is embedded and BM25-encoded: the chunk with its title and heading path."""
    heading = heading_path(document.title, chunk.section)
    return f"{heading}\n{chunk.text}" if heading else chunk.text


def rounds(items: list[_Work], chunks: int) -> list[list[_Work]]:
    """Documents packed, smallest first, into rounds of at most ``chunks`` chunks (a larger
    document is a round of its own). Each round goes live when it is written, so small documents
    queued beside a huge one are searchable in seconds instead of after it."""
    packed: list[list[_Work]] = []
    size = 0
    for item in sorted(items, key=lambda item: len(item.chunks)):
        if not packed or size + len(item.chunks) > chunks:
            packed.append([])
            size = 0
        packed[-1].append(item)
        size += len(item.chunks)
    return packed


class Indexer:
    def __init__(
        self,
        *,
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
        overdue = datetime.now(UTC) - timedelta(seconds=self.time_limit_s)
        with _stage("registry"):
            claimed = self.registry.start_jobs(job_ids, worker, self.max_attempts, overdue)
        started = time.perf_counter()
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
            for part in rounds(items, self.embed_batch):
                self._index_isolating(collection, part, deadline, retry_transient, outcome)
        outcome.collections = set(collections)
        return outcome

    def _index_isolating(
        self,
        collection: str,
        items: list[_Work],
        deadline: float,
        retry_transient: bool,
        outcome: Processed,
    ) -> None:
        """Index the documents together; when that fails for a reason one document can cause
        (not a shutdown, a lost claim, the time limit or a service down), index the rest one
        by one, so only the culprit fails and the others (other tenants' too) go ahead."""
        finished: set[str] = set()
        try:
            self._index(collection, items, finished, deadline)
            return
        except Exception as exc:
            if not isinstance(exc, RagfleetError):
                logger.exception("indexing failed in collection %s", collection)
            unfinished = [item for item in items if item.job.id not in finished]
            shared = isinstance(exc, _SHARED_FAULTS) or self.stopping.is_set()
            if shared or len(unfinished) < 2:
                self._give_up(collection, unfinished, exc, retry_transient, outcome)
                return
        logger.warning("a batch failed in %s; indexing its documents one by one", collection)
        for item in unfinished:
            self._index_isolating(collection, [item], deadline, retry_transient, outcome)

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
        run no longer holds belong to another run and are left alone, unless they were
        withdrawn (cancelled, or deleted with their document): nobody else cleans up those."""
        lost = self.registry.set_progress([item.job for item in items], "cleaning up", 0.0)
        held = [item for item in items if item.job.id not in lost]
        withdrawn = self.registry.withdrawn(list(lost)) if lost else set()
        self._discard_new_versions(
            collection, held + [item for item in items if item.job.id in withdrawn]
        )
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
        jobs = [item.job for item in items]
        self._heartbeat(jobs, "embedding", 0.05)
        chunks = self._write_points(collection, items, deadline)
        with _stage("registry"):
            gone = self.registry.finish_jobs(
                [(item.job, item.document, item.acl, len(item.chunks)) for item in items]
            )
        finished.update(job.id for job in jobs)
        self._make_live(collection, items, previous, gone)
        metrics.INGEST_CHUNKS.inc(chunks)
        metrics.INGEST_JOBS.labels("succeeded").inc(len(items))

    def _write_points(self, collection: str, items: list[_Work], deadline: float) -> int:
        """Embed the chunks in steps of ``embed_batch``, shortest texts first (less padding);
        each step is BM25-encoded and upserted in a second thread while the next one embeds.
        Returns how many chunks were written."""
        flat = sorted(
            (
                (item, chunk, embedding_text(item.document, chunk))
                for item in items
                for chunk in item.chunks
            ),
            key=lambda row: len(row[2]),
        )
        now = datetime.now(UTC).isoformat()
        jobs = [item.job for item in items]
        with ThreadPoolExecutor(1, thread_name_prefix="ingest-write") as writer:
            pending: Future[None] | None = None
            for start in range(0, len(flat), self.embed_batch):
                self._check_running(deadline)
                part = flat[start : start + self.embed_batch]
                with _stage("embed"), span("ingest.embed"):
                    dense = self._embed([text for _, _, text in part], deadline)
                if pending is not None:
                    pending.result()
                # The claim is checked (and the heartbeat written) before every write to the store.
                self._heartbeat(jobs, "indexing", 0.05 + 0.9 * start / len(flat))
                pending = writer.submit(self._upsert, collection, part, dense, now)
            if pending is not None:
                pending.result()
        return len(flat)

    def _embed(self, texts: list[str], deadline: float) -> Matrix:
        """Embed in slices of ``EMBED_SLICE``, checking between them for a shutdown or the time
        limit: one embed call cannot be interrupted, so a slice bounds how long a stop waits
        (a whole step on two cores can take half a minute)."""
        parts: list[Matrix] = []
        for start in range(0, len(texts), EMBED_SLICE):
            if start:
                self._check_running(deadline)
            parts.append(self.embedder.embed(texts[start : start + EMBED_SLICE]))
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def _check_running(self, deadline: float) -> None:
        if self.stopping.is_set():
            raise JobInterruptedError("interrupted by a shutdown; queued again")
        if time.monotonic() > deadline:
            raise JobTimeoutError(
                f"the job ran over its {self.time_limit_s:g} s time limit "
                "(RAGFLEET_JOBS__TIME_LIMIT_S)"
            )

    def _upsert(
        self, collection: str, part: list[tuple[_Work, Chunk, str]], dense: Matrix, now: str
    ) -> None:
        with _stage("sparse_encode"):
            sparse = [self.sparse.encode_document(text) for _, _, text in part]
        with _stage("upsert"), span("ingest.upsert"):
            points = [
                IndexedChunk(
                    point_id=chunk_point_id(item.job.document_id, item.job.version, chunk.index),
                    dense=dense[row].tolist(),
                    sparse=sparse[row],
                    payload=self._payload(item, chunk, now),
                )
                for row, (item, chunk, _) in enumerate(part)
            ]
            self.store.upsert(collection, points)

    def _make_live(
        self,
        collection: str,
        items: list[_Work],
        previous: dict[str, DocumentRow],
        gone: set[str],
    ) -> None:
        """The new versions are live; retire what they replace. A failure here leaves old
        points beside the new ones (logged; search shows one copy of each chunk, and the next
        ingest of the document, changed or not, removes them), never a document without any."""
        for item in items:
            doc_id, version = item.job.document_id, item.job.version
            row = previous.get(doc_id)
            first_ingest = (
                row is not None
                and row.version is None
                and row.status == DocumentStatus.PENDING.value
            )
            if doc_id in gone:  # deleted while it was being indexed
                retire(self.store, collection, doc_id, keep=None)
            elif not first_ingest:
                retire(self.store, collection, doc_id, keep=version)

    @staticmethod
    def _payload(item: _Work, chunk: Chunk, now: str) -> ChunkPayload:
        suspected = looks_like_injection(f"{chunk.section}\n{chunk.text}")
        if suspected:
            metrics.INJECTION_FLAGGED_CHUNKS.inc()
        return ChunkPayload(
            document_id=item.job.document_id,
            chunk_index=chunk.index,
            version=item.job.version,
            collection=item.job.collection,
            source=item.document.source,
            title=item.document.title,
            section=chunk.section,
            page=chunk.page,
            acl=tuple(item.acl),
            text=chunk.text,
            meta=item.document.metadata,
            indexed_at=now,
            injection_suspected=suspected,
        )

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
        with _stage("registry"):
            lost = self.registry.set_progress(jobs, stage, progress)
        if lost:
            raise ClaimLostError(f"job(s) {', '.join(sorted(lost))} taken over by another run")

    def _fail(self, jobs: list[JobRow], message: str) -> None:
        failed = sum(self.registry.fail_job(job.id, message, job.attempts) for job in jobs)
        metrics.INGEST_JOBS.labels("failed").inc(failed)
        logger.warning("ingestion failed for %d job(s): %s", failed, message)
