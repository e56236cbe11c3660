"""Celery tasks. They carry ids only and re-read everything from the registry.

``ingest_job`` runs one ingestion job (queue ``ingest``). Bad input, bugs and the time limit fail
the job at once; a transient fault (vector store, embeddings or registry unreachable) puts it back
to ``queued`` and retries with exponential backoff and full jitter, up to ``jobs.max_retries``,
after which the job fails with the reason and the previous version stays searchable.

``optimize_collection`` (queue ``maintenance``) builds the embedded store's index once the ingest
queue has drained; a Qdrant server indexes on its own, so there it does nothing.
"""

from __future__ import annotations

import logging
import random
import time
from typing import Any

from celery import Task

from ragfleet.errors import DependencyError
from ragfleet.telemetry import metrics
from ragfleet.workers.celery_app import (
    INGEST_QUEUE,
    INGEST_TASK,
    MAINTENANCE_QUEUE,
    OPTIMIZE_TASK,
    RagfleetCelery,
    publish_jobs,
)

logger = logging.getLogger(__name__)

OPTIMIZE_DEBOUNCE_S = 60
REQUEUE_DELAY_S = 5.0


def backoff_s(retries: int, base: float, cap: float) -> float:
    """Full jitter: uniform in [0, min(cap, base * 2**retries)]."""
    return random.uniform(0, min(cap, base * 2**retries))


def register_tasks(app: RagfleetCelery) -> None:
    jobs = app.settings.jobs
    worker = app.settings.worker_name

    @app.task(name=INGEST_TASK, bind=True, max_retries=None, shared=False)
    def ingest_job(self: Task[Any, Any], job_id: str) -> None:
        services = app.services()
        retries = self.request.retries
        began = time.perf_counter()
        delay = backoff_s(retries, jobs.retry_backoff_s, jobs.retry_backoff_max_s)
        try:
            outcome = services.ingestion.process(
                [job_id], worker=worker, retry_transient=retries < jobs.max_retries
            )
        except DependencyError as exc:
            # The registry itself failed (claiming or recording); the job is untouched or
            # left to reconciliation. Try the task again later.
            if retries >= jobs.max_retries:
                raise
            logger.warning("job %s: %s; retrying the task", job_id, exc.message)
            raise self.retry(countdown=delay) from exc
        metrics.WORKER_TASK_DURATION.labels("ingest").observe(time.perf_counter() - began)
        if outcome.requeue:
            # Delayed, so a worker that is stopping does not take its own jobs straight back;
            # a delayed task it already holds returns to Redis as it shuts down.
            publish_jobs(app, outcome.requeue, countdown=REQUEUE_DELAY_S)
        if outcome.retry:
            logger.warning(
                "job %s: transient fault (%s); retry %d of %d in %.1f s",
                job_id,
                outcome.error,
                retries + 1,
                jobs.max_retries,
                delay,
            )
            raise self.retry(countdown=delay)
        for collection in outcome.collections:
            optimize_when_drained(collection)

    def optimize_when_drained(collection: str) -> None:
        """Index a collection once no ingest task waits; one optimize pending at a time."""
        try:
            if app.broker.depth(INGEST_QUEUE) == 0 and app.broker.claim(
                f"optimize:{collection}", OPTIMIZE_DEBOUNCE_S
            ):
                optimize_collection.apply_async((collection,), queue=MAINTENANCE_QUEUE)
        except DependencyError as exc:
            logger.warning("could not schedule optimizing %s: %s", collection, exc.message)

    @app.task(name=OPTIMIZE_TASK, shared=False)
    def optimize_collection(collection: str) -> None:
        app.broker.release(f"optimize:{collection}")  # later ingests may schedule another
        began = time.perf_counter()
        app.services().store.optimize(collection)
        metrics.INGEST_STAGE_DURATION.labels("optimize").observe(time.perf_counter() - began)
