"""The query lane: concurrent query embeddings gathered into small batches, ahead of ingestion.

One thread owns the query encoder. A query waits at most ``window_s`` for others to join its batch
(at most ``max_batch``); queries that arrive while a batch runs go together into the next one, so
throughput grows with clients while one client pays only the window. Ingestion asks
``wait_idle`` before each of its sub-batches, so it yields to queries in flight.
"""

from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future
from typing import Protocol

from ragfleet.embedding.base import Matrix, Vector


class Encoder(Protocol):
    """One padded batch of texts to unit vectors, in input order."""

    @property
    def dimensions(self) -> int: ...

    @property
    def rows_per_run(self) -> int | None:
        """Most texts one run should hold (None: any number), so callers batch accordingly."""
        ...

    def tokens(self, texts: list[str]) -> list[int]:
        """Token counts after truncation: what each row costs to embed."""
        ...

    def encode(self, texts: list[str]) -> Matrix: ...


class QueryLane:
    def __init__(self, encoder: Encoder, window_s: float, max_batch: int) -> None:
        self._encoder = encoder
        self._window_s = window_s
        self._max_batch = min(max_batch, encoder.rows_per_run or max_batch)
        self._queue: queue.Queue[tuple[str, Future[Vector]]] = queue.Queue()
        self._pending = 0
        self._idle = threading.Condition()
        self._thread: threading.Thread | None = None

    def embed(self, text: str) -> Vector:
        future: Future[Vector] = Future()
        with self._idle:
            self._pending += 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="query-embed", daemon=True)
                self._thread.start()
        self._queue.put((text, future))
        return future.result()

    def wait_idle(self, timeout_s: float) -> None:
        """Return once no query is waiting or running, or after ``timeout_s``."""
        with self._idle:
            self._idle.wait_for(lambda: self._pending == 0, timeout_s)

    def _gather(self) -> list[tuple[str, Future[Vector]]]:
        batch = [self._queue.get()]
        deadline = time.monotonic() + self._window_s
        while len(batch) < self._max_batch:
            remaining = deadline - time.monotonic()
            try:
                item = (
                    self._queue.get(timeout=remaining)
                    if remaining > 0
                    else self._queue.get_nowait()
                )
            except queue.Empty:
                break
            batch.append(item)
        return batch

    def _loop(self) -> None:
        while True:
            batch = self._gather()
            try:
                vectors = self._encoder.encode([text for text, _ in batch])
            except Exception as exc:  # every caller of the batch gets the error
                for _, future in batch:
                    future.set_exception(exc)
            else:
                for (_, future), vector in zip(batch, vectors, strict=True):
                    future.set_result(vector)
            with self._idle:
                self._pending -= len(batch)
                if not self._pending:
                    self._idle.notify_all()
