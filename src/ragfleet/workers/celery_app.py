"""The Celery application: Redis broker, late acknowledgement, routes to two queues.

With a ``sentinel://`` URL kombu's Sentinel transport asks the Sentinels for the master on every
(re)connection; ``celery_transport_options`` adds the master's name and the Sentinels' password.

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

from pathlib import Path

from celery import Celery

from ragfleet.settings import Settings
from ragfleet.telemetry.redis_client import HEALTH_CHECK_INTERVAL_S, celery_transport_options
from ragfleet.workers.broker import Broker
from ragfleet.workers.context import TaskContext
from ragfleet.workers.queues import INGEST_QUEUE, TASK_ROUTES

TASKS_MODULE = "ragfleet.workers.tasks"


class RagfleetCelery(Celery):
    """A Celery app that carries what its tasks need. An app without a context only publishes
    (the API and CLI beside separate workers)."""

    def __init__(self, settings: Settings, context: TaskContext | None = None) -> None:
        # Workers import the task module at start (``include``); publishers need only names.
        super().__init__(
            "ragfleet", broker=settings.redis.url, include=[TASKS_MODULE], set_as_current=False
        )
        self.settings = settings
        self.context = context
        self.broker = Broker(settings.redis)
        self.heartbeat_file: Path | None = None  # set by a standalone worker

    def task_context(self) -> TaskContext:
        if self.context is None:
            raise RuntimeError("this Celery app only publishes; it has no task context")
        return self.context


def create_celery(settings: Settings, context: TaskContext | None = None) -> RagfleetCelery:
    app = RagfleetCelery(settings, context)
    redis = settings.redis
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        task_routes=TASK_ROUTES,
        task_default_queue=INGEST_QUEUE,
        broker_transport_options={
            "visibility_timeout": redis.visibility_timeout_s,
            "unacked_restore_interval": redis.restore_interval_s,
            "unacked_restore_throttle": 1,
            "socket_timeout": redis.socket_timeout_s,
            "socket_connect_timeout": redis.socket_timeout_s,
            "health_check_interval": HEALTH_CHECK_INTERVAL_S,
            **celery_transport_options(redis),
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
    return app
