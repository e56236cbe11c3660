"""The Celery application: Redis broker, late acknowledgement, routes to two queues.

Delivery settings follow from how the Redis transport behaves:

- ``task_acks_late`` with ``task_reject_on_worker_lost``: a task is acknowledged only after it
  ends, and a task whose worker died is requeued rather than marked failed (which would lose the
  document). Tasks only carry a job id and every write is idempotent (point ids derive from the
  document, version and chunk index), so running a task twice is safe.
- ``worker_prefetch_multiplier = 1``: a worker holds no more tasks than it runs, so a crash
  strands at most those.
- ``visibility_timeout`` above ``jobs.time_limit_s``: Redis redelivers an unacknowledged task
  after it, so a shorter timeout would run a long task again while it still runs.
- Redelivery after a ``kill -9`` therefore waits for the visibility timeout; workers shorten that
  by reconciling: a restarted worker requeues the jobs its previous process held, and every worker
  requeues running jobs whose heartbeat went stale (``jobs.stale_after_s``).
- Unacknowledged tasks are swept every ``restore_interval_s`` (throttle 1, so the interval alone
  decides).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from celery import Celery
from kombu.exceptions import OperationalError

from ragfleet.settings import Settings
from ragfleet.telemetry import metrics
from ragfleet.workers.broker import Broker

if TYPE_CHECKING:
    from ragfleet.services import Services

logger = logging.getLogger(__name__)

INGEST_QUEUE = "ingest"
MAINTENANCE_QUEUE = "maintenance"
QUEUES = (INGEST_QUEUE, MAINTENANCE_QUEUE)
INGEST_TASK = "ragfleet.workers.tasks.ingest_job"
OPTIMIZE_TASK = "ragfleet.workers.tasks.optimize_collection"
PUBLISH_RETRY = {"max_retries": 3, "interval_start": 0, "interval_step": 0.5, "interval_max": 2}


class RagfleetCelery(Celery):
    """A Celery app that hands tasks the process's ``Services``, built once, on first use."""

    def __init__(self, settings: Settings) -> None:
        super().__init__("ragfleet", broker=settings.redis.url, set_as_current=False)
        self.settings = settings
        self.broker = Broker(settings.redis)
        self.heartbeat_file: Path | None = None  # set by a standalone worker
        self._factory: Callable[[], Services] | None = None
        self._services: Services | None = None
        self._lock = threading.Lock()

    def bind_services(self, factory: Callable[[], Services]) -> None:
        self._factory = factory

    def built_services(self) -> Services | None:
        """The services if already built; takes no lock (safe in a signal handler)."""
        return self._services

    def services(self) -> Services:
        with self._lock:
            if self._services is None:
                if self._factory is None:
                    raise RuntimeError("no services bound to the Celery app")
                self._services = self._factory()
            return self._services


def create_celery(settings: Settings) -> RagfleetCelery:
    from ragfleet.workers.tasks import register_tasks

    app = RagfleetCelery(settings)
    redis = settings.redis
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        task_routes={
            INGEST_TASK: {"queue": INGEST_QUEUE},
            OPTIMIZE_TASK: {"queue": MAINTENANCE_QUEUE},
        },
        task_default_queue=INGEST_QUEUE,
        broker_transport_options={
            "visibility_timeout": redis.visibility_timeout_s,
            "unacked_restore_interval": redis.restore_interval_s,
            "unacked_restore_throttle": 1,
            "socket_timeout": redis.socket_timeout_s,
            "socket_connect_timeout": redis.socket_timeout_s,
            "health_check_interval": 10,
        },
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        # A task running when the broker connection drops cannot be acknowledged any more and
        # is redelivered; cancelling our copy (where the pool can) avoids running it twice.
        worker_cancel_long_running_tasks_on_connection_loss=True,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        worker_enable_remote_control=False,
    )
    register_tasks(app)
    return app


def publish_jobs(app: Celery, job_ids: Sequence[str], countdown: float | None = None) -> None:
    """One ingest task per job. Jobs are recorded before they are published: if Redis cannot
    take a task, the job stays ``queued`` and reconciliation publishes it again."""
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
