"""Running Celery workers: the standalone ``ragfleet worker`` and the worker embedded in the
process that owns the embedded store.

Both use the threads pool: the embedding model is loaded once per process and releases the GIL
while it computes, so a process scales with ``worker.concurrency`` threads and a deployment with
replicas. Both run ``Upkeep`` beside the consumer:

- reconciliation at start and every ``jobs.stale_after_s / 2``: running jobs this node started
  before this process booted (they died with its previous process), running jobs whose heartbeat
  went stale, and queued jobs idle that long and older than every task still waiting (their task
  was lost, e.g. Redis restarted without persistence) are put back to ``queued`` and published
  again. Claims are atomic, so a job published twice still runs once;
- the heartbeat file read by ``ragfleet worker-probe``, touched while the consumer runs and the
  broker answers.

On shutdown (SIGTERM, or the serving process stopping) running jobs stop at their next embedding
step and are queued again, so a rolling update neither loses nor waits for long documents.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from typing import Any

from celery import bootsteps
from celery.signals import worker_shutting_down
from celery.worker import WorkController
from celery.worker import state as worker_state
from celery.worker.consumer import Consumer
from kombu.asynchronous.timer import Entry

from ragfleet.domain import utcnow
from ragfleet.errors import RagfleetError
from ragfleet.settings import Settings
from ragfleet.telemetry import metrics
from ragfleet.workers.celery_app import RagfleetCelery
from ragfleet.workers.queues import INGEST_QUEUE, QUEUES, publish_jobs

logger = logging.getLogger(__name__)

STOP_TIMEOUT_S = 60.0
# Jobs this node started before this moment died with an earlier process of the node.
BOOTED_AT = utcnow()


def reconcile(app: RagfleetCelery, *, broker_reset: bool = False) -> list[str]:
    """Requeue orphaned jobs (see the module docstring); returns the job ids published again.
    After a ``broker_reset`` every queued job lost its task: all are published again."""
    jobs = app.settings.jobs
    stale_before = utcnow() - timedelta(seconds=jobs.stale_after_s)
    # The ingest list is FIFO: a queued job idle since before its oldest task lost its own.
    oldest = app.broker.oldest_enqueued_at(INGEST_QUEUE)
    queued_before = stale_before if oldest is None else min(stale_before, oldest)
    if broker_reset:
        queued_before = utcnow()
    orphans = app.task_context().registry.requeue_orphans(
        app.settings.worker_name, BOOTED_AT, stale_before, queued_before
    )
    if orphans:
        logger.warning("requeueing %d orphaned job(s): %s", len(orphans), ", ".join(orphans))
        publish_jobs(app, orphans)
        metrics.JOBS_REQUEUED.inc(len(orphans))
    return orphans


def interrupt_jobs(app: RagfleetCelery) -> None:
    """Shutting down: running jobs stop at their next step and go back to the queue. Called
    from a signal handler, so it takes no lock."""
    app.task_context().indexer.stopping.set()


class Upkeep(bootsteps.StartStopStep):
    """Reconciliation, the broker watch and the heartbeat, on the consumer's timer."""

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def __init__(self, parent: Consumer, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self._timers: list[Entry] = []

    def start(self, parent: Consumer) -> None:
        app: RagfleetCelery = parent.app  # type: ignore[assignment]
        settings = app.settings
        self._beat(parent, app)  # marks the broker epoch, so a reset is seen from now on
        self._reconcile(app)
        self._timers.append(
            parent.timer.call_repeatedly(settings.jobs.stale_after_s / 2, self._reconcile, (app,))
        )
        self._timers.append(
            parent.timer.call_repeatedly(
                settings.worker.heartbeat_interval_s, self._beat, (parent, app)
            )
        )
        metrics.WORKER_UP.set(1)

    def stop(self, parent: Consumer) -> None:
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        metrics.WORKER_UP.set(0)
        metrics.WORKER_CONSUMING.set(0)

    @staticmethod
    def _reconcile(app: RagfleetCelery, broker_reset: bool = False) -> None:
        try:
            reconcile(app, broker_reset=broker_reset)
        except RagfleetError as exc:
            logger.warning("reconciliation failed: %s", exc.message)

    @classmethod
    def _beat(cls, parent: Consumer, app: RagfleetCelery) -> None:
        """Every heartbeat interval: notice a broker that lost its data (and publish the
        jobs whose tasks it lost at once, not after ``jobs.stale_after_s``), then record that
        the consumer is alive (gauge, and the file ``worker-probe`` reads)."""
        try:
            reset = app.broker.mark_epoch()
        except RagfleetError as exc:
            logger.warning("heartbeat skipped: %s", exc.message)
            metrics.WORKER_CONSUMING.set(0)
            return
        if reset:
            logger.warning("Redis came back empty; publishing every queued job again")
            metrics.BROKER_RESETS.inc()
            cls._reconcile(app, broker_reset=True)
        alive = parent.blueprint is not None and parent.connection is not None
        metrics.WORKER_CONSUMING.set(1 if alive else 0)
        if alive and app.heartbeat_file is not None:
            app.heartbeat_file.parent.mkdir(parents=True, exist_ok=True)
            app.heartbeat_file.touch()


def _controller(
    app: RagfleetCelery, settings: Settings, queues: list[str], concurrency: int
) -> dict[str, Any]:
    """The worker options shared by both shapes."""
    # Pool threads look tasks up on the default app: make it this one (one per process).
    app.set_default()
    return {
        "hostname": settings.worker_name,
        "pool_cls": "threads",
        "concurrency": concurrency,
        "queues": queues,
        "without_mingle": True,
        "without_gossip": True,
        "without_heartbeat": True,
        "optimization": "fair",
    }


class EmbeddedWorker:
    """A Celery worker in a thread of this process (which owns the embedded store)."""

    def __init__(self, app: RagfleetCelery) -> None:
        self.app = app
        self._thread: threading.Thread | None = None
        self._controller: WorkController | None = None

    def start(self) -> None:
        settings = self.app.settings
        self.app.task_context().indexer.stopping.clear()
        self.app.steps["consumer"].add(Upkeep)
        options = _controller(self.app, settings, list(QUEUES), settings.worker.concurrency)
        self._controller = WorkController(app=self.app, **options)
        self._thread = threading.Thread(
            target=self._controller.start, name="celery-worker", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Warm shutdown: running jobs go back to the queue at their next step, queued tasks
        stay in Redis."""
        if self._thread is None:
            return
        interrupt_jobs(self.app)
        worker_state.should_stop = 0  # type: ignore[assignment]  # Celery's own flag
        self._thread.join(STOP_TIMEOUT_S)
        if self._thread.is_alive():
            logger.warning("the embedded worker did not stop within %.0f s", STOP_TIMEOUT_S)
        worker_state.should_stop = None
        self._thread = None


def run_worker(app: RagfleetCelery, queues: list[str], concurrency: int) -> None:
    """Run a standalone worker in the foreground until SIGTERM (warm shutdown) or SIGINT."""
    settings = app.settings
    app.heartbeat_file = settings.heartbeat_file
    app.steps["consumer"].add(Upkeep)
    worker_shutting_down.connect(lambda **_: interrupt_jobs(app), weak=False)
    options = _controller(app, settings, queues, concurrency)
    worker = app.Worker(**options, loglevel=settings.log.level, redirect_stdouts=False)
    worker.start()
    if worker.exitcode:
        raise SystemExit(worker.exitcode)
