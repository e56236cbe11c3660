"""The Celery queues and task names, and publishing ingest jobs to them.

Kept apart from the app and the tasks so that everything that only publishes (the API, the CLI,
reconciliation) shares one definition of where a job goes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from celery import Celery
from kombu.exceptions import OperationalError

from ragfleet.telemetry import metrics

logger = logging.getLogger(__name__)

INGEST_QUEUE = "ingest"
MAINTENANCE_QUEUE = "maintenance"
QUEUES = (INGEST_QUEUE, MAINTENANCE_QUEUE)
INGEST_TASK = "ragfleet.workers.tasks.ingest_job"
OPTIMIZE_TASK = "ragfleet.workers.tasks.optimize_collection"
TASK_ROUTES = {INGEST_TASK: {"queue": INGEST_QUEUE}, OPTIMIZE_TASK: {"queue": MAINTENANCE_QUEUE}}
PUBLISH_RETRY = {"max_retries": 3, "interval_start": 0, "interval_step": 0.5, "interval_max": 2}


def publish_jobs(app: Celery, job_ids: Sequence[str], countdown: float | None = None) -> None:
    """One ingest task per job. Jobs are recorded before they are published: if Redis cannot
    take a task, the job stays ``queued`` and reconciliation publishes it again. The
    ``enqueued_at`` header dates the oldest waiting task (see ``Broker.oldest_enqueued_at``)."""
    for job_id in job_ids:
        try:
            app.send_task(
                INGEST_TASK,
                args=[job_id],
                countdown=countdown,
                queue=INGEST_QUEUE,
                headers={"enqueued_at": time.time()},
                retry=True,
                retry_policy=PUBLISH_RETRY,
            )
        except OperationalError as exc:
            metrics.PUBLISH_FAILURES.inc()
            logger.error("could not enqueue job %s (reconciliation will): %s", job_id, exc)


def publish_optimize(app: Celery, collection: str) -> None:
    app.send_task(OPTIMIZE_TASK, args=[collection], queue=MAINTENANCE_QUEUE)
