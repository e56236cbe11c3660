"""What the API and CLI need from whichever runner executes ingestion jobs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class JobRunner(Protocol):
    def start(self) -> None:
        """Begin executing jobs (and pick up those an earlier process left)."""

    def stop(self) -> None:
        """Hand the work in hand back at its next step; queued jobs stay recorded."""

    def close(self) -> None:
        """Stop, and release the connections the runner holds."""

    def submit(self, job_ids: Sequence[str]) -> None:
        """Queue jobs already recorded in the registry."""

    def has_capacity(self, jobs: int) -> bool:
        """Whether ``jobs`` more fit under ``jobs.queue_size``."""
        ...

    def pending(self) -> int:
        """Jobs waiting to run."""
        ...

    def pause(self, seconds: float) -> None:
        """Wait up to ``seconds`` for progress (returns early when the runner goes idle)."""
