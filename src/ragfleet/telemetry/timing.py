"""Per-stage timing of a request: one measurement feeds the response, a histogram and a span."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from ragfleet.telemetry import metrics
from ragfleet.telemetry.tracing import span


class Timer:
    """Collects per-stage durations for the response and the stage histogram."""

    def __init__(self, observe: Callable[[str, float], None] | None = None) -> None:
        self.timings_ms: dict[str, float] = {}
        self._observe = observe or (
            lambda stage, seconds: metrics.QUERY_STAGE_DURATION.labels(stage).observe(seconds)
        )

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time a stage, as a metric, a timing in the response and a trace span."""
        began = time.perf_counter()
        try:
            with span(f"query.{name}"):
                yield
        finally:
            seconds = time.perf_counter() - began
            self.timings_ms[name] = round(self.timings_ms.get(name, 0.0) + seconds * 1000, 3)
            self._observe(name, seconds)
