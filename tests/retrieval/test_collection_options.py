"""Collection layout settings (quantization, vectors on disk, HNSW, shards) reach both engines."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import pytest
from pydantic import ValidationError
from qdrant_client import QdrantClient, models
from typer.testing import CliRunner

from ragfleet.cli.main import app
from ragfleet.domain import IndexedChunk, SparseVector, chunk_point_id
from ragfleet.errors import DependencyError
from ragfleet.retrieval.edge_store import EdgeVectorStore
from ragfleet.retrieval.filters import Match
from ragfleet.retrieval.qdrant_store import QdrantVectorStore
from ragfleet.retrieval.store import (
    DENSE,
    CollectionOptions,
    SearchMode,
    StoreQuery,
    VectorStore,
)
from ragfleet.settings import QdrantSettings, Settings
from tests.utils.hits import chunk_payload

DIMENSIONS = 384
# Local mode searches exactly and says the search parameters change nothing there.
LOCAL_SEARCH_PARAMS = "ignore:Local mode performs exact:UserWarning"


class Recording:
    """A real QdrantClient that also notes each method called, with its arguments."""

    def __init__(self, client: QdrantClient) -> None:
        self._client = client
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if not callable(attribute):
            return attribute

        def record(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((name, args, kwargs))
            return attribute(*args, **kwargs)

        return record

    def called(self, name: str) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
        return [(args, kwargs) for called, args, kwargs in self.calls if called == name]


def unit_vectors(count: int, seed: int = 7) -> npt.NDArray[np.float32]:
    vectors = np.random.default_rng(seed).standard_normal((count, DIMENSIONS)).astype(np.float32)
    normalised: npt.NDArray[np.float32] = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    return normalised


def random_points(vectors: np.ndarray) -> list[IndexedChunk]:
    """One point per vector; every tenth is readable by the ``staff`` group only."""
    return [
        IndexedChunk(
            chunk_point_id(f"doc{i}", "v1", 0),
            vector.tolist(),
            SparseVector([i % 97, 1000 + i % 13], [1.0, 0.5]),
            chunk_payload(f"doc{i}", acl=["staff"] if i % 10 == 0 else ["*"], text=f"point {i}"),
        )
        for i, vector in enumerate(vectors)
    ]


def dense_query(vector: np.ndarray, limit: int = 10) -> StoreQuery:
    return StoreQuery(mode=SearchMode.DENSE, limit=limit, dense=vector.tolist())


def hybrid_query(vector: np.ndarray, term: int) -> StoreQuery:
    return StoreQuery(
        mode=SearchMode.HYBRID,
        limit=5,
        dense=vector.tolist(),
        sparse=SparseVector([term], [1.0]),
        conditions=[Match("acl", ("*",))],
    )


def exact_top(vectors: np.ndarray, query: np.ndarray, k: int = 10) -> list[str]:
    order = np.argsort(-(vectors @ query))[:k]
    return [f"doc{i}" for i in order]


def found(store: VectorStore, query: StoreQuery) -> list[str]:
    return [hit.payload.document_id for hit in store.search("c", query)]


FULL = QdrantSettings(
    quantization="scalar",
    quantization_always_ram=True,
    vectors_on_disk=True,
    hnsw_m=32,
    hnsw_ef_construct=200,
    hnsw_ef=128,
    rescore=False,
    oversampling=2.5,
    shard_number=3,
    replication_factor=2,
    write_consistency_factor=2,
)


@pytest.fixture
def recorded(tmp_path: Path) -> Iterator[tuple[QdrantVectorStore, Recording]]:
    client = Recording(QdrantClient(path=str(tmp_path / "local")))
    store = QdrantVectorStore(
        cast(QdrantClient, client), "t_", options=CollectionOptions.from_settings(FULL)
    )
    yield store, client
    store.close()


@pytest.mark.filterwarnings(LOCAL_SEARCH_PARAMS)
def test_the_server_adapter_creates_and_searches_as_the_settings_say(
    recorded: tuple[QdrantVectorStore, Recording],
) -> None:
    store, client = recorded
    vectors = unit_vectors(50)
    store.ensure_collection("c", DIMENSIONS)
    store.upsert("c", random_points(vectors))

    ((name, *_), created), *others = client.called("create_collection")
    assert name == "t_c" and not others
    assert (
        created["shard_number"],
        created["replication_factor"],
        created["write_consistency_factor"],
    ) == (3, 2, 2)
    assert created["hnsw_config"] == models.HnswConfigDiff(m=32, ef_construct=200)
    assert created["quantization_config"] == models.ScalarQuantization(
        scalar=models.ScalarQuantizationConfig(type=models.ScalarType.INT8, always_ram=True)
    )
    assert created["vectors_config"][DENSE].on_disk is True

    assert found(store, hybrid_query(vectors[3], 3))[0] == "doc3"
    assert found(store, dense_query(vectors[4]))[0] == "doc4"
    requests = [r for (_, batch), _ in client.called("query_batch_points") for r in batch]
    wanted = models.SearchParams(
        hnsw_ef=128, quantization=models.QuantizationSearchParams(rescore=False, oversampling=2.5)
    )
    assert [(r.using, r.params) for r in requests] == [
        (DENSE, wanted),
        ("sparse", None),
        (DENSE, wanted),
    ]


def test_default_settings_create_todays_collections(tmp_path: Path) -> None:
    client = Recording(QdrantClient(path=str(tmp_path / "local")))
    store = QdrantVectorStore(cast(QdrantClient, client), "t_")
    vectors = unit_vectors(20)
    store.ensure_collection("c", DIMENSIONS)
    store.upsert("c", random_points(vectors))
    assert found(store, hybrid_query(vectors[5], 5))[0] == "doc5"
    store.close()

    ((_, created),) = client.called("create_collection")
    assert (created["hnsw_config"], created["quantization_config"]) == (None, None)
    assert created["vectors_config"][DENSE].on_disk is False
    assert (
        created["shard_number"],
        created["replication_factor"],
        created["write_consistency_factor"],
    ) == (1, 1, 1)
    requests = [r for (_, batch), _ in client.called("query_batch_points") for r in batch]
    assert requests and all(r.params is None for r in requests)


def test_an_existing_server_collection_is_not_recreated(tmp_path: Path) -> None:
    client = Recording(QdrantClient(path=str(tmp_path / "local")))
    QdrantVectorStore(cast(QdrantClient, client), "t_").ensure_collection("c", DIMENSIONS)
    options = CollectionOptions.from_settings(FULL)
    QdrantVectorStore(cast(QdrantClient, client), "t_", options=options).ensure_collection(
        "c", DIMENSIONS
    )
    assert len(client.called("create_collection")) == 1
    client.close()


@pytest.mark.filterwarnings(LOCAL_SEARCH_PARAMS)
@pytest.mark.parametrize("quantization", ["scalar", "binary"])
def test_quantized_server_collections_find_the_nearest_neighbours(
    tmp_path: Path, quantization: str
) -> None:
    client = Recording(QdrantClient(path=str(tmp_path / "local")))
    options = CollectionOptions.from_settings(
        QdrantSettings(quantization=quantization, oversampling=2.0)
    )
    store = QdrantVectorStore(cast(QdrantClient, client), "t_", options=options)
    vectors = unit_vectors(300)
    store.ensure_collection("c", DIMENSIONS)
    store.upsert("c", random_points(vectors))
    for query in unit_vectors(5, seed=11):
        assert found(store, dense_query(query)) == exact_top(vectors, query)
    ((_, created),) = client.called("create_collection")
    expected = (
        models.ScalarQuantization(
            scalar=models.ScalarQuantizationConfig(type=models.ScalarType.INT8, always_ram=False)
        )
        if quantization == "scalar"
        else models.BinaryQuantization(binary=models.BinaryQuantizationConfig(always_ram=False))
    )
    assert created["quantization_config"] == expected
    store.close()


# Above Edge's indexing threshold (10 MB of vectors): optimize() builds an HNSW segment.
INDEXED = 7000


@pytest.fixture(scope="module")
def indexed_vectors() -> np.ndarray:
    return unit_vectors(INDEXED)


def edge_config(root: Path) -> dict[str, Any]:
    """The layout the engine stored for collection ``c``."""
    config: dict[str, Any] = json.loads((root / "t_c" / "edge_config.json").read_text())
    return config


def test_edge_builds_a_quantized_on_disk_collection_and_searches_it(
    tmp_path: Path, indexed_vectors: np.ndarray
) -> None:
    options = CollectionOptions.from_settings(
        QdrantSettings(
            quantization="scalar",
            quantization_always_ram=True,
            vectors_on_disk=True,
            hnsw_m=24,
            hnsw_ef=64,
            oversampling=2.0,
        )
    )
    store = EdgeVectorStore(tmp_path, "t_", options=options)
    store.ensure_collection("c", DIMENSIONS)
    store.upsert("c", random_points(indexed_vectors))
    store.optimize("c")

    config = edge_config(tmp_path)
    assert config["vectors"][DENSE]["memory"] == "cold"
    assert config["quantization_config"] == {"scalar": {"type": "int8", "memory": "pinned"}}
    assert config["hnsw_config"]["m"] == 24 and config["hnsw_config"]["ef_construct"] == 100
    assert list((tmp_path / "t_c" / "segments").glob("*/vector_storage-dense/quantized.data"))

    noise = unit_vectors(20, seed=3) * 0.3
    overlaps = []
    for i, offset in zip(range(0, INDEXED, INDEXED // 20), noise, strict=False):
        query = indexed_vectors[i] + offset
        query /= np.linalg.norm(query)
        ranked = found(store, dense_query(query))
        assert ranked[0] == f"doc{i}"
        overlaps.append(len(set(ranked) & set(exact_top(indexed_vectors, query))) / 10)
    assert np.mean(overlaps) >= 0.8
    hits = store.search("c", hybrid_query(indexed_vectors[21], 21))
    assert hits[0].payload.document_id == "doc21" and hits[0].payload.text == "point 21"
    assert all(hit.payload.acl == ("*",) for hit in hits)
    store.close()


def test_an_existing_edge_collection_keeps_its_layout(tmp_path: Path) -> None:
    quantized = CollectionOptions(quantization="binary", vectors_on_disk=True)
    store = EdgeVectorStore(tmp_path, "t_", options=quantized)
    store.ensure_collection("c", DIMENSIONS)
    store.upsert("c", random_points(unit_vectors(20)))
    store.close()
    before = edge_config(tmp_path)

    store = EdgeVectorStore(tmp_path, "t_")  # the settings now say: no quantization, in RAM
    store.ensure_collection("c", DIMENSIONS)
    assert store.count("c") == 20
    store.close()
    after = edge_config(tmp_path)
    assert (after["vectors"], after["quantization_config"]) == (
        before["vectors"],
        before["quantization_config"],
    )
    assert before["quantization_config"] == {"binary": {}}
    assert before["vectors"][DENSE]["memory"] == "cold"

    store = EdgeVectorStore(tmp_path, "t_")
    with pytest.raises(DependencyError, match="does not hold 8-dimensional vectors"):
        store.ensure_collection("c", 8)
    store.close()


def test_edge_logs_the_cluster_settings_it_ignores_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    options = CollectionOptions(shard_number=4, replication_factor=2, write_consistency_factor=1)
    with caplog.at_level(logging.INFO, logger="ragfleet.retrieval.edge_store"):
        store = EdgeVectorStore(tmp_path, "t_", options=options)
        vectors = unit_vectors(30)
        store.ensure_collection("c", DIMENSIONS)
        store.ensure_collection("d", DIMENSIONS)
        store.upsert("c", random_points(vectors))
        store.optimize("c")
        assert found(store, hybrid_query(vectors[7], 7))[0] == "doc7"
        store.close()
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert "qdrant.shard_number=4" in record.getMessage()
    assert "qdrant.replication_factor=2" in record.getMessage()
    assert "write_consistency_factor" not in record.getMessage()


def test_edge_logs_nothing_on_default_cluster_settings(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="ragfleet.retrieval.edge_store"):
        EdgeVectorStore(tmp_path, "t_").close()
    assert not caplog.records


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"RAGFLEET_QDRANT__OVERSAMPLING": "0.5"}, "greater than or equal to 1"),
        ({"RAGFLEET_QDRANT__QUANTIZATION": "int4"}, "'none', 'scalar' or 'binary'"),
        ({"RAGFLEET_QDRANT__HNSW_M": "0"}, "greater than or equal to 4"),
        ({"RAGFLEET_QDRANT__HNSW_EF_CONSTRUCT": "2001"}, "less than or equal to 2000"),
        ({"RAGFLEET_QDRANT__HNSW_EF": "0"}, "greater than or equal to 1"),
        ({"RAGFLEET_QDRANT__OVERSAMPLING": "101"}, "less than or equal to 100"),
        ({"RAGFLEET_QDRANT__REPLICATION_FACTOR": "101"}, "less than or equal to 100"),
        ({"RAGFLEET_QDRANT__SHARD_NUMBER": "0"}, "greater than or equal to 1"),
        (
            {
                "RAGFLEET_QDRANT__REPLICATION_FACTOR": "2",
                "RAGFLEET_QDRANT__WRITE_CONSISTENCY_FACTOR": "3",
            },
            "write_consistency_factor cannot exceed qdrant.replication_factor",
        ),
    ],
)
def test_invalid_collection_settings_are_refused(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ValidationError, match=message) as raised:
        Settings(_env_file=None)
    assert "qdrant" in str(raised.value)
    result = CliRunner().invoke(app, ["search", "anything"])
    assert result.exit_code == 2
    assert "invalid setting" in result.output
