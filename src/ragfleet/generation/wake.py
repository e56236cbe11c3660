"""Hold LLM-bound answers while inference wakes from zero instead of answering extractively.

Scaled to zero, the inference Service has no endpoints and connections to it are refused. An
answer that meets a refused connection waits up to ``wake_timeout_s`` for ``GET /models`` to
succeed, counted meanwhile in ``ragfleet_llm_requests_held``: the gauge KEDA activates inference
on (to exactly one replica, whatever the count). Timeouts, 4xx, 5xx and malformed replies fall
back at once, since a new replica would not fix them. A timeout of 0 never holds.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ragfleet.errors import LLMError
from ragfleet.telemetry import metrics

# The failure an endpoint without pods produces; the only one worth waiting out.
WAKE_REASONS = frozenset({"connection"})


class Waker:
    def __init__(self, probe: Callable[[], None], timeout_s: float, poll_s: float) -> None:
        self.probe = probe
        self.timeout_s = timeout_s
        self.poll_s = poll_s

    def applies(self, reason: str) -> bool:
        """Whether a failure ``reason`` means "no inference pod yet" and holding is configured."""
        return self.timeout_s > 0 and reason in WAKE_REASONS

    def wait(self) -> bool:
        """Probe until the endpoint answers (True) or the timeout passes (False)."""
        deadline = time.monotonic() + self.timeout_s
        metrics.LLM_REQUESTS_HELD.inc()
        try:
            while True:
                try:
                    self.probe()
                    return True
                except LLMError:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    time.sleep(min(self.poll_s, remaining))
        finally:
            metrics.LLM_REQUESTS_HELD.dec()
