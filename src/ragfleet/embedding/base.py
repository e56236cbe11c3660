"""The embedder protocol and the factory that picks a backend from settings."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt

from ragfleet.settings import EmbeddingSettings

Matrix = npt.NDArray[np.float32]


class Embedder(Protocol):
    """Turns texts into unit-length vectors; rows of the result follow the input order."""

    @property
    def dimensions(self) -> int: ...

    @property
    def name(self) -> str: ...

    def embed(self, texts: Sequence[str]) -> Matrix: ...

    def check(self) -> None:
        """Raise ``DependencyError`` when the backend cannot embed."""

    def close(self) -> None: ...


def build_embedder(settings: EmbeddingSettings) -> Embedder:
    if settings.backend == "openai":
        from ragfleet.embedding.remote import OpenAIEmbedder

        return OpenAIEmbedder(settings)
    from ragfleet.embedding.local import load_local_embedder

    return load_local_embedder(settings.batch_size, settings.threads)
