"""Embedders around the real model that fail or wait on demand."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from ragfleet.embedding import Embedder
from ragfleet.embedding.base import Matrix, Vector
from ragfleet.errors import DependencyError


class FaultyEmbedder:
    """Down for the next ``outages`` calls, and for any call with a text containing ``poison``."""

    def __init__(self, inner: Embedder, outages: int = 0, poison: str | None = None) -> None:
        self.inner = inner
        self.outages = outages
        self.poison = poison
        self.name = inner.name
        self.dimensions = inner.dimensions

    def embed(self, texts: Sequence[str], *, interactive: bool = False) -> Matrix:
        poisoned = self.poison is not None and any(self.poison in t for t in texts)
        if self.outages or poisoned:
            self.outages = max(0, self.outages - 1)
            raise DependencyError("embeddings", "connection refused")
        return self.inner.embed(texts, interactive=interactive)

    def embed_query(self, text: str) -> Vector:
        return self.inner.embed_query(text)

    def check(self) -> None:
        self.inner.check()

    def close(self) -> None:
        self.inner.close()


class GatedEmbedder:
    """Blocks any call with a text containing ``marker`` until ``gate`` is set, so a test can
    act on a job while its run is mid-embedding (``entered`` is set when one blocks)."""

    def __init__(self, inner: Embedder, marker: str) -> None:
        self.inner = inner
        self.marker = marker
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.name = inner.name
        self.dimensions = inner.dimensions

    def _hold(self, texts: Sequence[str]) -> None:
        if any(self.marker in t for t in texts):
            self.entered.set()
            self.gate.wait(timeout=60)

    def embed(self, texts: Sequence[str], *, interactive: bool = False) -> Matrix:
        self._hold(texts)
        return self.inner.embed(texts, interactive=interactive)

    def embed_query(self, text: str) -> Vector:
        self._hold([text])
        return self.inner.embed_query(text)

    def check(self) -> None:
        self.inner.check()

    def close(self) -> None:
        self.inner.close()
