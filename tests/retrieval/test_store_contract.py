"""One contract, two adapters: Qdrant Edge and qdrant-client (local mode, the server's API)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from qdrant_client import QdrantClient

from ragfleet.domain import ChunkPayload, IndexedChunk, SparseVector, chunk_point_id
from ragfleet.embedding import Embedder
from ragfleet.retrieval.edge_store import EdgeVectorStore
from ragfleet.retrieval.filters import parse_filters
from ragfleet.retrieval.fusion import Fusion, FusionMethod
from ragfleet.retrieval.qdrant_store import QdrantVectorStore
from ragfleet.retrieval.sparse import SparseEncoder
from ragfleet.retrieval.store import (
    FieldKind,
    SearchMode,
    StoreQuery,
    VectorStore,
    document_filter,
    metadata_indexes,
)
from tests.utils.hits import chunk_payload

TEXTS = {
    "planets": "Jupiter is the largest planet; Saturn has rings.",
    "qdrant": "Qdrant stores dense and sparse vectors and filters payloads.",
    "python": "Python 3.11 runs ragfleet; install it with pip.",
    "cooking": "Simmer the tomato sauce for twenty minutes.",
    "kubernetes": "Helm charts deploy services to Kubernetes clusters.",
}
LANG = {"planets": "en", "qdrant": "en", "python": "en", "cooking": "it", "kubernetes": "de"}


@pytest.fixture(params=["edge", "qdrant-client"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[VectorStore]:
    built: VectorStore
    if request.param == "edge":
        built = EdgeVectorStore(tmp_path / "edge", "t_")
    else:
        built = QdrantVectorStore(QdrantClient(path=str(tmp_path / "local")), "t_")
    yield built
    built.close()


def points(embedder: Embedder, version: str = "v1") -> list[IndexedChunk]:
    sparse = SparseEncoder()
    vectors = embedder.embed(list(TEXTS.values()))
    return [
        IndexedChunk(
            chunk_point_id(name, version, 0),
            vectors[i].tolist(),
            sparse.encode_document(text),
            ChunkPayload(
                document_id=name,
                chunk_index=0,
                version=version,
                collection="c",
                source=f"{name}.md",
                title=name.title(),
                section="",
                page=None,
                acl=("*",) if name != "cooking" else ("chefs",),
                text=text,
                meta={"lang": LANG[name], "year": 2020 + i},
                indexed_at="2026-01-01T00:00:00+00:00",
            ),
        )
        for i, (name, text) in enumerate(TEXTS.items())
    ]


def query(
    embedder: Embedder, text: str, mode: SearchMode, filters: dict[str, Any] | None = None
) -> StoreQuery:
    return StoreQuery(
        mode=mode,
        limit=5,
        dense=embedder.embed([text])[0].tolist(),
        sparse=SparseEncoder().encode_query(text),
        conditions=parse_filters(filters),
    )


def ids(store: VectorStore, q: StoreQuery) -> list[str]:
    return [hit.payload.document_id for hit in store.search("c", q)]


@pytest.fixture
def filled(store: VectorStore, embedder: Embedder) -> VectorStore:
    store.ensure_collection("c", embedder.dimensions)
    store.upsert("c", points(embedder))
    store.optimize("c")
    return store


@pytest.mark.parametrize("mode", list(SearchMode))
def test_best_match_first(filled: VectorStore, embedder: Embedder, mode: SearchMode) -> None:
    assert ids(filled, query(embedder, "which planet has rings", mode))[0] == "planets"


def test_payload_reads_back_as_written(filled: VectorStore, embedder: Embedder) -> None:
    written = {p.point_id: p.payload for p in points(embedder)}
    hits = filled.search("c", query(embedder, "planet rings", SearchMode.HYBRID))
    assert hits and all(hit.payload == written[hit.point_id] for hit in hits)


def test_a_payload_missing_optional_keys_reads_as_empty() -> None:
    payload = ChunkPayload.from_dict({"document_id": "d", "page": 3, "meta": {"lang": "en"}})
    assert (payload.document_id, payload.page, payload.meta) == ("d", 3, {"lang": "en"})
    assert (payload.title, payload.source, payload.acl, payload.chunk_index) == ("", "", (), 0)
    assert ChunkPayload.from_dict(payload.to_dict()) == payload


def test_filters_apply_inside_the_search(filled: VectorStore, embedder: Embedder) -> None:
    q = query(embedder, "vectors", SearchMode.HYBRID, {"lang": "en", "year": {"gte": 2021}})
    assert sorted(ids(filled, q)) == ["python", "qdrant"]
    q = query(embedder, "sauce", SearchMode.DENSE, {"lang": ["it", "de"]})
    assert ids(filled, q) == ["cooking", "kubernetes"]


def test_acl_groups_exclude_restricted_points(filled: VectorStore, embedder: Embedder) -> None:
    q = query(embedder, "tomato sauce", SearchMode.HYBRID)
    q.conditions.extend(parse_filters(None))
    from ragfleet.retrieval.filters import Match

    q.conditions.append(Match("acl", ("*", "engineers")))
    assert "cooking" not in ids(filled, q)
    q.conditions[-1] = Match("acl", ("*", "chefs"))
    assert ids(filled, q)[0] == "cooking"


def test_delete_and_count(filled: VectorStore, embedder: Embedder) -> None:
    assert filled.count("c") == 5
    filled.upsert("c", [p for p in points(embedder, "v2") if p.payload.document_id == "python"])
    assert filled.count("c", "python") == 2
    filled.delete("c", document_filter("python", except_version="v2"))
    assert filled.count("c", "python") == 1
    filled.delete("c", document_filter("python"))
    assert filled.count("c") == 4
    assert filled.count("missing") == 0


def test_upsert_is_idempotent(filled: VectorStore, embedder: Embedder) -> None:
    filled.upsert("c", points(embedder))
    assert filled.count("c") == 5


@pytest.mark.parametrize("method", list(FusionMethod))
def test_every_fusion_ranks_the_best_match_first(
    filled: VectorStore, embedder: Embedder, method: FusionMethod
) -> None:
    q = query(embedder, "which planet has rings", SearchMode.HYBRID)
    q.fusion = Fusion(method, dense_weight=0.8)
    hits = filled.search("c", q)
    assert [hit.payload.document_id for hit in hits][0] == "planets"
    assert len({hit.point_id for hit in hits}) == len(hits) == 5
    assert hits == sorted(hits, key=lambda hit: hit.score, reverse=True)


def test_both_adapters_rank_identically(tmp_path: Path, embedder: Embedder) -> None:
    stores: list[VectorStore] = [
        EdgeVectorStore(tmp_path / "edge", "t_"),
        QdrantVectorStore(QdrantClient(path=str(tmp_path / "local")), "t_"),
    ]
    rankings = []
    for store in stores:
        store.ensure_collection("c", embedder.dimensions)
        store.upsert("c", points(embedder))
        store.optimize("c")
        rankings.append(
            [
                ids(store, query(embedder, text, mode))
                for text in ("rings of saturn", "install python", "helm kubernetes")
                for mode in SearchMode
            ]
        )
        for method in FusionMethod:
            q = query(embedder, "vectors in a planet cluster", SearchMode.HYBRID)
            q.fusion = Fusion(method)
            rankings[-1].append(ids(store, q))
        store.close()
    assert rankings[0] == rankings[1]


def test_vectors_are_unit_length(embedder: Embedder) -> None:
    vectors = embedder.embed(["a", "a much longer text about vectors " * 20, ""])
    assert vectors.shape == (3, embedder.dimensions)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_collections_lists_what_the_store_holds(store: VectorStore) -> None:
    assert store.collections() == []
    store.ensure_collection("beta", 8)
    store.ensure_collection("alpha", 8)
    assert store.collections() == ["alpha", "beta"]
    store.drop_collection("alpha")
    assert store.collections() == ["beta"]


def test_only_declared_metadata_keys_get_an_index() -> None:
    wide = chunk_payload("d", meta={f"k{n}": n for n in range(2000)} | {"lang": "en"})
    point = IndexedChunk("p", [0.0] * 8, SparseVector([], []), wide)
    assert metadata_indexes([point], {"lang", "absent"}) == {"meta.lang": FieldKind.KEYWORD}
    assert metadata_indexes([point], set()) == {}
