"""Qdrant Edge: the Qdrant engine inside this process, one shard directory per collection.

Edge has no background optimizer: segments are indexed (HNSW) only when ``optimize()`` runs,
which the ingestion runner calls after each batch. It is single-process: one ragfleet process owns
``data_dir/qdrant``; writes are serialised by a lock, searches run concurrently.

Every ``CollectionOptions`` field applies except the cluster ones: a shard is one directory in one
process, so ``shard_number``, ``replication_factor`` and ``write_consistency_factor`` are ignored
(logged once). The quantized copy is kept as points arrive; HNSW is built by ``optimize()`` only
for segments holding more than about 10 MB of vectors (some 6,500 of 384 dimensions), and smaller
ones are searched by a full scan (of the quantized copy, then rescored, when quantization is set).
"""

from __future__ import annotations

import logging
import shutil
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import qdrant_edge as qe

from ragfleet.domain import ChunkPayload, IndexedChunk, SearchHit, SparseVector
from ragfleet.errors import DependencyError, NotFoundError
from ragfleet.ownership import FolderLock
from ragfleet.retrieval.filters import Condition
from ragfleet.retrieval.fusion import Scored
from ragfleet.retrieval.store import (
    BASE_INDEXES,
    DEFAULT_OPTIONS,
    DENSE,
    SPARSE,
    CollectionOptions,
    FieldKind,
    FilterDialect,
    SearchMode,
    StoreQuery,
    build_filter,
    document_filter,
    hybrid_search,
    metadata_indexes,
    search_params,
)

logger = logging.getLogger(__name__)

UPSERT_BATCH = 256
_SCHEMA = {
    FieldKind.KEYWORD: qe.PayloadSchemaType.Keyword,
    FieldKind.INTEGER: qe.PayloadSchemaType.Integer,
    FieldKind.FLOAT: qe.PayloadSchemaType.Float,
    FieldKind.BOOL: qe.PayloadSchemaType.Bool,
}


_DIALECT = FilterDialect(qe, qe.RangeFloat)
# Qdrant's HNSW defaults: Edge takes the three together, so an unset one is spelled out.
HNSW_M = 16
HNSW_EF_CONSTRUCT = 100
HNSW_FULL_SCAN_KB = 10_000
CLUSTER_OPTIONS = ("shard_number", "replication_factor", "write_consistency_factor")


def _sparse(vector: SparseVector) -> qe.SparseVector:
    return qe.SparseVector(indices=vector.indices, values=vector.values)


def _nearest(query: StoreQuery, mode: SearchMode) -> Any:
    """The query of one retriever (``mode`` is dense or sparse)."""
    if mode is SearchMode.DENSE:
        assert query.dense is not None
        return qe.Query.Nearest(query.dense, using=DENSE)
    assert query.sparse is not None
    return qe.Query.Nearest(_sparse(query.sparse), using=SPARSE)


def _scored(points: Any) -> list[Scored]:
    return [(str(p.id), float(p.score)) for p in points]


def _quantization(options: CollectionOptions) -> Any | None:
    memory = qe.Memory.Pinned if options.quantization_always_ram else None
    if options.quantization == "scalar":
        return qe.ScalarQuantizationConfig(type=qe.ScalarType.Int8, memory=memory)
    if options.quantization == "binary":
        return qe.BinaryQuantizationConfig(memory=memory)
    return None


def _hnsw(options: CollectionOptions) -> Any | None:
    if options.hnsw_m is None and options.hnsw_ef_construct is None:
        return None
    return qe.HnswIndexConfig(
        m=options.hnsw_m or HNSW_M,
        ef_construct=options.hnsw_ef_construct or HNSW_EF_CONSTRUCT,
        full_scan_threshold=HNSW_FULL_SCAN_KB,
    )


def _check_dimensions(shard: Any, path: Path, dimensions: int) -> None:
    """Refuse a shard made for another embedder. Loading with a config would also check, but it
    rewrites the shard's stored config, and an existing collection keeps the one it was made
    with."""
    probe = qe.QueryRequest(
        limit=1, query=qe.Query.Nearest([0.0] * dimensions, using=DENSE), with_payload=False
    )
    try:
        shard.query(probe)
    except Exception as exc:  # the engine raises plain exceptions
        shard.close()
        raise DependencyError(
            "vector_store",
            f"{path} does not hold {dimensions}-dimensional vectors ({exc}); use another "
            "collection prefix or re-index",
        ) from exc


class EdgeVectorStore:
    """Shards under ``root/<prefix><collection>``, opened lazily and kept open."""

    def __init__(
        self,
        root: Path,
        prefix: str,
        indexed_metadata: Sequence[str] = (),
        options: CollectionOptions = DEFAULT_OPTIONS,
    ) -> None:
        self.indexed_metadata = frozenset(indexed_metadata)
        self._owner = FolderLock(root)  # first: never open files another process owns
        self._root = root
        self._prefix = prefix
        self._options = options
        self._params = search_params(options, qe)
        ignored = [
            f"qdrant.{n}={getattr(options, n)}" for n in CLUSTER_OPTIONS if getattr(options, n) != 1
        ]
        if ignored:
            logger.warning(
                "the embedded vector store keeps one copy in one shard; ignoring %s",
                ", ".join(ignored),
            )
        self._shards: dict[str, Any] = {}
        self._indexed: dict[str, set[str]] = {}
        self._lock = threading.RLock()
        self._closed = False
        root.mkdir(parents=True, exist_ok=True)

    def _path(self, name: str) -> Path:
        return self._root / f"{self._prefix}{name}"

    def _config(self, dimensions: int) -> Any:
        """A new collection's layout."""
        options = self._options
        dense = qe.EdgeVectorParams(
            size=dimensions,
            distance=qe.Distance.Cosine,
            memory=qe.Memory.Cold if options.vectors_on_disk else None,
        )
        return qe.EdgeConfig(
            vectors={DENSE: dense},
            sparse_vectors={SPARSE: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)},
            hnsw_config=_hnsw(options),
            quantization_config=_quantization(options),
        )

    def _shard(self, name: str) -> Any:
        shard = self._shards.get(name)
        if shard is not None:
            return shard
        with self._lock:
            if self._closed:
                raise DependencyError("vector_store", "the store is closed")
            if name not in self._shards:
                path = self._path(name)
                if not path.is_dir():
                    raise NotFoundError(f"collection {name!r} does not exist")
                shard = qe.EdgeShard.load(str(path))
                self._indexed[name] = set(shard.info().payload_schema)
                self._shards[name] = shard
            return self._shards[name]

    def has_collection(self, name: str) -> bool:
        return name in self._shards or self._path(name).is_dir()

    def collections(self) -> list[str]:
        found = {p.name.removeprefix(self._prefix) for p in self._root.glob(f"{self._prefix}*")}
        return sorted(found | set(self._shards))

    def ensure_collection(self, name: str, dimensions: int) -> None:
        with self._lock:
            path = self._path(name)
            if name in self._shards:
                return
            existing = path.is_dir()
            try:
                if existing:
                    shard = qe.EdgeShard.load(str(path))
                else:
                    shard = qe.EdgeShard.create(str(path), self._config(dimensions))
            except Exception as exc:  # the engine raises plain exceptions
                raise DependencyError("vector_store", f"cannot open {path}: {exc}") from exc
            if existing:  # a new shard was just made with these dimensions
                _check_dimensions(shard, path, dimensions)
            self._shards[name] = shard
            self._indexed[name] = set(shard.info().payload_schema)
            self._create_indexes(name, BASE_INDEXES)

    def _create_indexes(self, name: str, plan: dict[str, FieldKind]) -> None:
        shard = self._shards[name]
        for key, kind in plan.items():
            if key not in self._indexed[name]:
                shard.update(qe.UpdateOperation.create_field_index(key, _SCHEMA[kind]))
                self._indexed[name].add(key)

    def upsert(self, collection: str, points: Sequence[IndexedChunk]) -> None:
        shard = self._shard(collection)
        with self._lock:
            self._create_indexes(collection, metadata_indexes(points, self.indexed_metadata))
            for start in range(0, len(points), UPSERT_BATCH):
                batch = [
                    qe.Point(
                        id=p.point_id,
                        vector={DENSE: p.dense, SPARSE: _sparse(p.sparse)},
                        payload=p.payload.to_dict(),
                    )
                    for p in points[start : start + UPSERT_BATCH]
                ]
                shard.update(qe.UpdateOperation.upsert_points(batch))

    def delete(self, collection: str, conditions: Sequence[Condition]) -> None:
        if not self.has_collection(collection):
            return
        shard = self._shard(collection)
        selector = build_filter(conditions, _DIALECT)
        if selector is None:
            raise ValueError("refusing to delete without conditions")
        with self._lock:
            shard.update(qe.UpdateOperation.delete_points_by_filter(selector))

    def count(self, collection: str, document_id: str | None = None) -> int:
        if not self.has_collection(collection):
            return 0
        conditions = document_filter(document_id) if document_id else []
        request = qe.CountRequest(filter=build_filter(conditions, _DIALECT), exact=True)
        return int(self._shard(collection).count(request))

    def _run(self, call: Any, *args: Any) -> Any:
        try:
            return call(*args)
        except Exception as exc:  # the engine raises plain exceptions
            raise DependencyError("vector_store", f"search failed: {exc}") from exc

    def _request(
        self, query: StoreQuery, mode: SearchMode, limit: int, payload: bool, selector: Any
    ) -> Any:
        """One retriever's request (``mode`` is dense or sparse) under the built filter."""
        return qe.QueryRequest(
            limit=limit,
            query=_nearest(query, mode),
            filter=selector,
            params=self._params if mode is SearchMode.DENSE else None,
            with_payload=payload,
        )

    def search(self, collection: str, query: StoreQuery) -> list[SearchHit]:
        if query.mode is SearchMode.HYBRID:
            return hybrid_search(self, collection, query)
        shard = self._shard(collection)
        selector = build_filter(query.conditions, _DIALECT)
        request = self._request(query, query.mode, query.limit, True, selector)
        points = self._run(shard.query, request)
        return [
            SearchHit(float(p.score), str(p.id), ChunkPayload.from_dict(p.payload or {}))
            for p in points
        ]

    def candidates(self, collection: str, query: StoreQuery) -> tuple[list[Scored], list[Scored]]:
        shard = self._shard(collection)
        selector = build_filter(query.conditions, _DIALECT)  # one filter for both retrievers
        requests = [
            self._request(query, mode, query.candidates, False, selector)
            for mode in (SearchMode.DENSE, SearchMode.SPARSE)
        ]
        dense, sparse = self._run(shard.query_batch, qe.QueryBatchRequest(queries=requests))
        return _scored(dense), _scored(sparse)

    def fetch(self, collection: str, point_ids: Sequence[str]) -> dict[str, ChunkPayload]:
        if not point_ids:
            return {}
        records = self._run(self._shard(collection).retrieve, list(point_ids), True, False)
        return {str(r.id): ChunkPayload.from_dict(r.payload or {}) for r in records}

    def optimize(self, collection: str) -> None:
        if self.has_collection(collection):
            shard = self._shard(collection)
            with self._lock:
                shard.optimize()
                shard.flush()

    def drop_collection(self, name: str) -> None:
        with self._lock:
            shard = self._shards.pop(name, None)
            self._indexed.pop(name, None)
            if shard is not None:
                shard.close()
            shutil.rmtree(self._path(name), ignore_errors=True)

    def check(self) -> None:
        if not self._root.is_dir():
            raise DependencyError("vector_store", f"{self._root} is missing")

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for shard in self._shards.values():
                shard.flush()
                shard.close()
            self._shards.clear()
            self._owner.release()
