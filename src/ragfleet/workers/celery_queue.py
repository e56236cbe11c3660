"""Ingestion through Celery: the API and CLI enqueue, workers process.

The embedded vector store (Qdrant Edge) belongs to one process, so when there is no Qdrant server
the process that opened it also hosts the worker (``EmbeddedWorker``, a thread pool inside it);
with a server, separate ``ragfleet worker`` processes do the work.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from ragfleet.telemetry.queue_metrics import QUEUE_COLLECTOR
from ragfleet.workers.broker import Broker
from ragfleet.workers.celery_app import RagfleetCelery
from ragfleet.workers.queues import INGEST_QUEUE, QUEUES, publish_jobs
from ragfleet.workers.worker import EmbeddedWorker

METRICS_TIMEOUT_S = 1.0


class CeleryQueue:
    def __init__(self, app: RagfleetCelery, *, queue_size: int, host_worker: bool) -> None:
        self.app = app
        self._limit = queue_size
        self._host_worker = host_worker
        self._worker: EmbeddedWorker | None = None
        # Scrapes must answer within Prometheus' timeout even when Redis hangs.
        self._metrics_broker = Broker(app.settings.redis, timeout_s=METRICS_TIMEOUT_S)
        QUEUE_COLLECTOR.watch(self._metrics_broker, QUEUES)

    def start(self) -> None:
        if self._host_worker:
            self._worker = EmbeddedWorker(self.app)
            self._worker.start()

    def stop(self) -> None:
        if self._worker is not None:
            self._worker.stop()
            self._worker = None

    def close(self) -> None:
        self.stop()
        QUEUE_COLLECTOR.watch(None)
        self._metrics_broker.close()
        self.app.broker.close()

    def submit(self, job_ids: Sequence[str]) -> None:
        publish_jobs(self.app, job_ids)

    def has_capacity(self, jobs: int) -> bool:
        return self.pending() + jobs <= self._limit

    def pending(self) -> int:
        return self.app.broker.depth(INGEST_QUEUE)

    def pause(self, seconds: float) -> None:
        time.sleep(seconds)
