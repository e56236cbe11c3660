"""The embedder protocol every backend implements."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt

Matrix = npt.NDArray[np.float32]
Vector = npt.NDArray[np.float32]


class Embedder(Protocol):
    """Turns texts into unit-length vectors; rows of the result follow the input order."""

    @property
    def dimensions(self) -> int: ...

    @property
    def name(self) -> str: ...

    def embed(self, texts: Sequence[str], *, interactive: bool = False) -> Matrix:
        """Rows in input order. ``interactive`` (answers, grounding: a caller is waiting) skips
        yielding to queries in flight, which ingestion does between its sub-batches."""
        ...

    def embed_query(self, text: str) -> Vector:
        """One search query; backends may batch concurrent queries and run them first."""
        ...

    def check(self) -> None:
        """Raise ``DependencyError`` when the backend cannot embed."""

    def close(self) -> None: ...
