"""Celery queue metrics read from Redis at scrape time, on the API and on every worker.

``ragfleet_queue_depth`` and ``ragfleet_queue_oldest_task_age_seconds`` per queue, and
``ragfleet_broker_up``: alerts and dashboards use these; KEDA reads the list length itself.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Protocol

from prometheus_client import REGISTRY
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from ragfleet.errors import DependencyError

logger = logging.getLogger(__name__)


class QueueReader(Protocol):
    """What the collector reads of a queue; raises ``DependencyError`` when the broker is down."""

    def depth(self, queue: str) -> int: ...

    def oldest_age_s(self, queue: str) -> float: ...


class QueueCollector(Collector):
    def __init__(self) -> None:
        self._broker: QueueReader | None = None
        self._queues: Sequence[str] = ()

    def watch(self, broker: QueueReader | None, queues: Sequence[str] = ()) -> None:
        """Report these queues from now on (None: report nothing)."""
        self._broker, self._queues = broker, queues

    def collect(self) -> Iterable[GaugeMetricFamily]:
        broker = self._broker
        if broker is None:
            return
        up = GaugeMetricFamily("ragfleet_broker_up", "1 when Redis answered this scrape.")
        depth = GaugeMetricFamily(
            "ragfleet_queue_depth", "Tasks waiting per Celery queue.", labels=["queue"]
        )
        age = GaugeMetricFamily(
            "ragfleet_queue_oldest_task_age_seconds",
            "Age of the oldest waiting task per queue (0 when empty).",
            labels=["queue"],
        )
        try:
            for queue in self._queues:
                depth.add_metric([queue], broker.depth(queue))
                age.add_metric([queue], broker.oldest_age_s(queue))
        except DependencyError as exc:
            logger.debug("queue metrics unavailable: %s", exc.message)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield from (up, depth, age)


QUEUE_COLLECTOR = QueueCollector()
REGISTRY.register(QUEUE_COLLECTOR)
