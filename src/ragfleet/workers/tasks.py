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
import time
from typing import Any

from celery import Task, shared_task

from ragfleet.backoff import full_jitter
from ragfleet.errors import DependencyError
from ragfleet.telemetry import metrics
from ragfleet.workers.celery_app import RagfleetCelery
from ragfleet.workers.queues import (
    INGEST_QUEUE,
    INGEST_TASK,
    OPTIMIZE_TASK,
    publish_jobs,
    publish_optimize,
)

logger = logging.getLogger(__name__)

OPTIMIZE_DEBOUNCE_S = 60
REQUEUE_DELAY_S = 5.0


def _app(task: Task[Any, Any]) -> RagfleetCelery:
    app = task.app
    if not isinstance(app, RagfleetCelery):
        raise RuntimeError("ragfleet tasks run only on a ragfleet Celery app")
    return app


@shared_task(name=INGEST_TASK, bind=True, max_retries=None)
def ingest_job(self: Task[Any, Any], job_id: str) -> None:
    app = _app(self)
    jobs = app.settings.jobs
    retries = self.request.retries
    began = time.perf_counter()
    delay = full_jitter(retries, jobs.retry_backoff_s, jobs.retry_backoff_max_s)
    try:
        outcome = app.task_context().indexer.process(
            [job_id], worker=app.settings.worker_name, retry_transient=retries < jobs.max_retries
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
        _optimize_when_drained(app, collection)


def _optimize_when_drained(app: RagfleetCelery, collection: str) -> None:
    """Index a collection once no ingest task waits; one optimize pending at a time."""
    try:
        if app.broker.depth(INGEST_QUEUE) == 0 and app.broker.claim(
            f"optimize:{collection}", OPTIMIZE_DEBOUNCE_S
        ):
            publish_optimize(app, collection)
    except DependencyError as exc:
        logger.warning("could not schedule optimizing %s: %s", collection, exc.message)


@shared_task(name=OPTIMIZE_TASK, bind=True)
def optimize_collection(self: Task[Any, Any], collection: str) -> None:
    app = _app(self)
    app.broker.release(f"optimize:{collection}")  # later ingests may schedule another
    began = time.perf_counter()
    app.task_context().store.optimize(collection)
    metrics.INGEST_STAGE_DURATION.labels("optimize").observe(time.perf_counter() - began)
