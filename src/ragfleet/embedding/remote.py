"""Any OpenAI-compatible ``/v1/embeddings`` endpoint (vLLM, TEI, OpenAI)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ragfleet.embedding.base import Matrix, Vector
from ragfleet.errors import DependencyError
from ragfleet.http import PROBE_TIMEOUT_S, build_client, post_json
from ragfleet.settings import EmbeddingSettings


class OpenAIEmbedder:
    def __init__(self, settings: EmbeddingSettings) -> None:
        assert settings.base_url is not None
        self._settings = settings
        self._client = build_client(settings.base_url, settings.api_key, settings.timeout_s)
        self.name = settings.model
        self._dimensions = settings.dimensions

    @property
    def dimensions(self) -> int:
        if self._dimensions is None:
            self._dimensions = int(self._request(["dimension probe"]).shape[1])
        return self._dimensions

    def _request(
        self, texts: list[str], retries: int | None = None, timeout_s: float | None = None
    ) -> Matrix:
        body = {"model": self._settings.model, "input": texts}
        retries = self._settings.max_retries if retries is None else retries
        data = post_json(self._client, "embeddings", body, "embeddings", retries, timeout_s)
        try:
            rows = sorted(data["data"], key=lambda row: row["index"])
            matrix = np.asarray([row["embedding"] for row in rows], dtype=np.float32)
        except (KeyError, TypeError, ValueError) as exc:
            raise DependencyError("embeddings", f"malformed response: {exc}") from exc
        if matrix.shape[0] != len(texts):
            raise DependencyError("embeddings", f"{matrix.shape[0]} vectors for {len(texts)} texts")
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        normalized: Matrix = matrix / np.maximum(norms, 1e-12)
        return normalized

    def embed(self, texts: Sequence[str], *, interactive: bool = False) -> Matrix:
        batches = [
            self._request(list(texts[i : i + self._settings.batch_size]))
            for i in range(0, len(texts), self._settings.batch_size)
        ]
        if not batches:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        return np.vstack(batches)

    def embed_query(self, text: str) -> Vector:
        vector: Vector = self._request([text])[0]
        return vector

    def check(self) -> None:
        """One attempt, no retries: a readiness probe must answer quickly."""
        self._request(["readiness probe"], retries=0, timeout_s=PROBE_TIMEOUT_S)

    def close(self) -> None:
        self._client.close()
