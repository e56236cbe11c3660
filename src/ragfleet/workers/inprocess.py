"""The embedded job runner: a queue and a few threads inside the API process.

Jobs are recorded in the registry before they are queued here, so nothing is lost when the
process stops: on start, every job still ``queued`` or ``running`` is queued again. Workers take
up to ``batch_documents`` jobs at a time and embed them together; when the queue drains, the
collections written are optimized (Qdrant Edge builds its HNSW index only then).

Admission is checked before jobs are recorded (``has_capacity``), never after, so an accepted job
is always queued; the bound is soft when requests race.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Sequence

from ragfleet.domain import utcnow
from ragfleet.errors import RagfleetError, failure_message
from ragfleet.telemetry import metrics
from ragfleet.workers.context import TaskContext

logger = logging.getLogger(__name__)

_WAKE = ""  # put once per thread on stop, so blocked workers notice
STOP_TIMEOUT_S = 30.0


class InProcessRunner:
    def __init__(
        self,
        context: TaskContext,
        *,
        concurrency: int,
        batch_documents: int,
        queue_size: int,
        worker: str,
    ) -> None:
        self._indexer = context.indexer
        self._registry = context.registry
        self._store = context.store
        self._concurrency = concurrency
        self._batch = batch_documents
        self._limit = queue_size
        self._worker = worker
        self._queue: queue.Queue[str] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._touched: set[str] = set()
        self._lock = threading.Lock()

    def start(self) -> None:
        """Start the threads and re-queue the jobs an earlier process left unfinished."""
        self._indexer.stopping.clear()
        self._stopping.clear()
        # Jobs are run by this process alone: any job still running was an earlier process's.
        registry, now = self._registry, utcnow()
        registry.requeue_orphans(self._worker, now, stale_before=now, queued_before=None)
        orphans = registry.queued_job_ids()
        if orphans:
            logger.info("re-queueing %d unfinished job(s) from a previous run", len(orphans))
            self.submit(orphans)
        for number in range(self._concurrency):
            thread = threading.Thread(target=self._loop, name=f"ingest-{number}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def has_capacity(self, jobs: int) -> bool:
        return self.pending() + jobs <= self._limit

    def submit(self, job_ids: Sequence[str]) -> None:
        for job_id in job_ids:
            self._queue.put(job_id)
        metrics.JOBS_QUEUED.set(self._queue.qsize())

    def pending(self) -> int:
        """Jobs queued or being processed."""
        return self._queue.unfinished_tasks

    def pause(self, seconds: float) -> None:
        self.wait_idle(seconds)

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
        """Up to ``batch_documents`` jobs; a stop marker ends the batch so every thread gets one."""
        batch = [self._queue.get()]
        while len(batch) < self._batch and batch[-1] != _WAKE:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def _loop(self) -> None:
        while not self._stopping.is_set():
            batch = self._take()
            jobs = [job_id for job_id in batch if job_id != _WAKE]
            metrics.JOBS_QUEUED.set(self._queue.qsize())
            if jobs and not self._stopping.is_set():
                self._run(jobs)
            for _ in batch:
                self._queue.task_done()

    def _run(self, jobs: list[str]) -> None:
        try:
            outcome = self._indexer.process(jobs, worker=self._worker)
            touched = outcome.collections
            if outcome.requeue and not self._stopping.is_set():
                self.submit(outcome.requeue)
        except Exception as exc:
            # process() fails jobs itself; this is a crash around it (the registry is down, a
            # bug): fail what can be failed so no document stays locked behind a stuck job.
            logger.exception("ingestion batch crashed")
            for job_id in jobs:
                try:
                    self._registry.fail_job(job_id, failure_message(exc))
                except RagfleetError:
                    logger.warning("job %s stays unfinished; it is re-queued on restart", job_id)
            touched = set()
        with self._lock:
            self._touched |= touched
            drained = self._queue.unfinished_tasks <= len(jobs)
            collections, self._touched = (
                (self._touched, set()) if drained else (set(), self._touched)
            )
        for collection in collections:
            began = time.perf_counter()
            try:
                self._store.optimize(collection)
                metrics.INGEST_STAGE_DURATION.labels("optimize").observe(
                    time.perf_counter() - began
                )
            except Exception:
                logger.exception("optimizing %s failed", collection)

    def close(self) -> None:
        self.stop()

    def stop(self) -> None:
        """Interrupt the batches in hand at their next step; their jobs and the queued ones stay
        recorded as queued and run after a restart."""
        self._indexer.stopping.set()
        self._stopping.set()
        for _ in self._threads:
            self._queue.put(_WAKE)
        for thread in self._threads:
            thread.join(timeout=STOP_TIMEOUT_S)
        self._threads.clear()
