"""The embedded job runner: a bounded queue and a few threads inside the API process.

Jobs are recorded in the registry before they are queued here, so nothing is lost when the
process stops: on start, every job still ``queued`` or ``running`` is queued again. Workers take
up to ``batch_documents`` jobs at a time and embed them together; when the queue drains, the
collections written are optimized (Qdrant Edge builds its HNSW index only then).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Sequence

from ragfleet.errors import OverloadedError
from ragfleet.ingest.pipeline import IngestionService
from ragfleet.retrieval.store import VectorStore
from ragfleet.telemetry import metrics

logger = logging.getLogger(__name__)

_STOP = ""


class InProcessRunner:
    def __init__(
        self,
        service: IngestionService,
        store: VectorStore,
        concurrency: int,
        batch_documents: int,
        queue_size: int,
    ) -> None:
        self._service = service
        self._store = store
        self._concurrency = concurrency
        self._batch = batch_documents
        self._queue: queue.Queue[str] = queue.Queue(maxsize=queue_size)
        self._threads: list[threading.Thread] = []
        self._touched: set[str] = set()
        self._lock = threading.Lock()

    def start(self) -> None:
        for number in range(self._concurrency):
            thread = threading.Thread(target=self._loop, name=f"ingest-{number}", daemon=True)
            thread.start()
            self._threads.append(thread)
        orphans = self._service.registry.unfinished_job_ids()
        if orphans:
            logger.info("re-queueing %d unfinished job(s) from a previous run", len(orphans))
            for job_id in orphans:
                self._queue.put(job_id)
            metrics.JOBS_QUEUED.set(self._queue.qsize())

    def has_capacity(self, jobs: int) -> bool:
        return self._queue.qsize() + jobs <= self._queue.maxsize

    def submit(self, job_ids: Sequence[str]) -> None:
        for job_id in job_ids:
            try:
                self._queue.put_nowait(job_id)
            except queue.Full as exc:
                raise OverloadedError(
                    "the ingestion queue is full; the job is recorded and runs after a restart"
                ) from exc
        metrics.JOBS_QUEUED.set(self._queue.qsize())

    def pending(self) -> int:
        """Jobs queued or being processed."""
        return self._queue.unfinished_tasks

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until every queued job has finished; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._queue.all_tasks_done:
            while self._queue.unfinished_tasks:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._queue.all_tasks_done.wait(remaining)
        return True

    def _take(self) -> list[str]:
        batch = [self._queue.get()]
        while len(batch) < self._batch and batch[0] != _STOP:
            try:
                job_id = self._queue.get_nowait()
            except queue.Empty:
                break
            batch.append(job_id)
            if job_id == _STOP:
                break
        return batch

    def _loop(self) -> None:
        while True:
            batch = self._take()
            jobs = [job_id for job_id in batch if job_id != _STOP]
            metrics.JOBS_QUEUED.set(self._queue.qsize())
            if jobs:
                self._run(jobs)
            for _ in batch:
                self._queue.task_done()
            if len(jobs) < len(batch):
                return

    def _run(self, jobs: list[str]) -> None:
        try:
            touched = self._service.process(jobs)
        except Exception:
            logger.exception("ingestion batch crashed; its jobs stay queued for a restart")
            touched = set()
        with self._lock:
            self._touched |= touched
            # Items still unfinished besides this batch mean more work is coming.
            drained = self._queue.unfinished_tasks <= len(jobs)
            collections, self._touched = (
                (self._touched, set()) if drained else (set(), self._touched)
            )
        for collection in collections:
            try:
                self._store.optimize(collection)
            except Exception:
                logger.exception("optimizing %s failed", collection)

    def stop(self) -> None:
        for _ in self._threads:
            self._queue.put(_STOP)
        for thread in self._threads:
            thread.join(timeout=30)
        self._threads.clear()
