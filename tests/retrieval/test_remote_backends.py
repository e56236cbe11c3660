"""The OpenAI-compatible embeddings and rerank clients against a real loopback server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from ragfleet.api.app import create_app
from ragfleet.embedding.remote import OpenAIEmbedder
from ragfleet.errors import DependencyError
from ragfleet.retrieval.rerank import HttpReranker
from ragfleet.services import build_services
from ragfleet.settings import EmbeddingSettings, RerankerSettings
from tests.utils.config import make_settings
from tests.utils.documents import ASTRONOMY_MD, GUIDE_MD
from tests.utils.hits import search_hit
from tests.utils.jobs import ingest_text
from tests.utils.llm_stub import EMBEDDING_SIZE, StubState, llm_stub


@pytest.fixture
def stub() -> Iterator[tuple[str, StubState]]:
    with llm_stub() as served:
        yield served


def embedder(url: str, **extra: object) -> OpenAIEmbedder:
    return OpenAIEmbedder(EmbeddingSettings(backend="openai", base_url=url, batch_size=2, **extra))


def test_embeddings_batched_ordered_and_normalised(stub: tuple[str, StubState]) -> None:
    url, state = stub
    client = embedder(url)
    assert client.dimensions == EMBEDDING_SIZE  # probed from the endpoint
    vectors = client.embed(["alpha beta", "gamma", "alpha beta", "delta"])
    assert vectors.shape == (4, EMBEDDING_SIZE)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0)
    assert np.allclose(vectors[0], vectors[2]) and not np.allclose(vectors[0], vectors[1])
    assert [len(r["input"]) for r in state.requests[1:]] == [2, 2]


def test_transient_failures_are_retried(stub: tuple[str, StubState]) -> None:
    url, state = stub
    state.failures = 2
    assert embedder(url, max_retries=3).embed(["x"]).shape == (1, EMBEDDING_SIZE)
    assert len(state.requests) == 3


def test_persistent_failure_is_a_dependency_error(stub: tuple[str, StubState]) -> None:
    url, state = stub
    state.behaviour = "error"
    with pytest.raises(DependencyError, match="embeddings: HTTP 500"):
        embedder(url, max_retries=1, dimensions=EMBEDDING_SIZE).embed(["x"])
    assert len(state.requests) == 2


def test_service_runs_on_remote_embeddings_and_reranker(
    stub: tuple[str, StubState], tmp_path: Path
) -> None:
    url, _ = stub
    settings = make_settings(
        tmp_path,
        embeddings={"backend": "openai", "base_url": url},
        reranker={"base_url": url, "candidates": 5},
    )
    services = build_services(settings)
    try:
        with TestClient(create_app(services=services)) as client:
            ingest_text(client, GUIDE_MD, source="guide")
            ingest_text(client, ASTRONOMY_MD, source="astro")
            body = client.post("/v1/search", json={"query": "largest planet", "top_k": 2}).json()
            assert body["data"][0]["title"] == "Astronomy"
            assert "rerank" in body["timings_ms"]
            assert client.get("/readyz").json()["checks"]["embeddings"] == "ok"
    finally:
        services.close()


def test_rerank_reorders_and_falls_back(stub: tuple[str, StubState]) -> None:
    url, state = stub
    reranker = HttpReranker(RerankerSettings(base_url=url))
    hits = [
        search_hit(0.9, "a", "a", text="pasta recipes"),
        search_hit(0.5, "b", "b", text="the largest planet is jupiter"),
    ]
    assert [h.point_id for h in reranker.rerank("largest planet", hits)] == ["b", "a"]
    state.behaviour = "error"
    assert reranker.rerank("largest planet", hits) == hits
    reranker.close()
