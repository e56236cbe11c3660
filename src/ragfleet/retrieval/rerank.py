"""Optional rerank stage through an OpenAI-compatible ``/v1/rerank`` endpoint (vLLM, TEI)."""

from __future__ import annotations

import logging
from typing import Protocol

from ragfleet.domain import SearchHit
from ragfleet.errors import DependencyError
from ragfleet.http import build_client, post_json
from ragfleet.settings import RerankerSettings
from ragfleet.telemetry import metrics

logger = logging.getLogger(__name__)


class Reranker(Protocol):
    def rerank(self, query: str, hits: list[SearchHit]) -> list[SearchHit]:
        """Hits reordered by relevance; on failure the input order, never an error."""


class HttpReranker:
    def __init__(self, settings: RerankerSettings) -> None:
        assert settings.base_url is not None
        self._settings = settings
        self._client = build_client(settings.base_url, settings.api_key, settings.timeout_s)

    def rerank(self, query: str, hits: list[SearchHit]) -> list[SearchHit]:
        if len(hits) < 2:
            return hits
        body = {"model": self._settings.model, "query": query, "documents": [h.text for h in hits]}
        try:
            data = post_json(self._client, "rerank", body, "reranker", retries=0)
            order = sorted(data["results"], key=lambda r: -float(r["relevance_score"]))
            ranked = [
                SearchHit(
                    float(r["relevance_score"]), hits[r["index"]].point_id, hits[r["index"]].payload
                )
                for r in order
                if 0 <= int(r["index"]) < len(hits)
            ]
        except (DependencyError, KeyError, TypeError, ValueError) as exc:
            metrics.RERANK_FAILURES.inc()
            logger.warning("rerank skipped: %s", exc)
            return hits
        return ranked

    def close(self) -> None:
        self._client.close()
