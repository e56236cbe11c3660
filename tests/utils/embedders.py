"""An embedder whose endpoint fails on demand, around the real model."""

from __future__ import annotations

from typing import Any

from ragfleet.embedding import Embedder
from ragfleet.errors import DependencyError


class FaultyEmbedder:
    """Down for the next ``outages`` calls, and for any call with a text containing ``poison``."""

    def __init__(self, inner: Embedder, outages: int = 0, poison: str | None = None) -> None:
        self.inner = inner
        self.outages = outages
        self.poison = poison
        self.name = inner.name
        self.dimensions = inner.dimensions

    def embed(self, texts: list[str]) -> Any:
        poisoned = self.poison is not None and any(self.poison in t for t in texts)
        if self.outages or poisoned:
            self.outages = max(0, self.outages - 1)
            raise DependencyError("embeddings", "connection refused")
        return self.inner.embed(texts)

    def check(self) -> None:
        self.inner.check()

    def close(self) -> None:
        self.inner.close()
