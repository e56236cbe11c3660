"""A Qdrant server through ``qdrant-client`` (the production shape).

The same code drives qdrant-client's local mode (``QdrantClient(path=...)``), which speaks the
server's client API; the test suite runs the shared store contract against it. Local mode takes
but ignores the collection layout (it searches exactly, in numpy).

Vectors on disk and quantized vectors in RAM are requested with the ``on_disk`` and
``always_ram`` flags, which every server release reads (``memory`` needs Qdrant 1.19).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from ragfleet.domain import ChunkPayload, IndexedChunk, SearchHit, SparseVector
from ragfleet.errors import DependencyError
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

UPSERT_BATCH = 256
_SCHEMA = {
    FieldKind.KEYWORD: models.PayloadSchemaType.KEYWORD,
    FieldKind.INTEGER: models.PayloadSchemaType.INTEGER,
    FieldKind.FLOAT: models.PayloadSchemaType.FLOAT,
    FieldKind.BOOL: models.PayloadSchemaType.BOOL,
}


_DIALECT = FilterDialect(models, models.Range)
_ERRORS = (UnexpectedResponse, ResponseHandlingException, ConnectionError, TimeoutError)


def _sparse(vector: SparseVector) -> models.SparseVector:
    return models.SparseVector(indices=vector.indices, values=vector.values)


def _scored(points: Any) -> list[Scored]:
    return [(str(p.id), float(p.score)) for p in points]


def _quantization(options: CollectionOptions) -> models.QuantizationConfig | None:
    always_ram = options.quantization_always_ram
    if options.quantization == "scalar":
        config = models.ScalarQuantizationConfig(type=models.ScalarType.INT8, always_ram=always_ram)
        return models.ScalarQuantization(scalar=config)
    if options.quantization == "binary":
        return models.BinaryQuantization(
            binary=models.BinaryQuantizationConfig(always_ram=always_ram)
        )
    return None


def _hnsw(options: CollectionOptions) -> models.HnswConfigDiff | None:
    if options.hnsw_m is None and options.hnsw_ef_construct is None:
        return None
    return models.HnswConfigDiff(m=options.hnsw_m, ef_construct=options.hnsw_ef_construct)


class QdrantVectorStore:
    def __init__(
        self,
        client: QdrantClient,
        prefix: str,
        indexed_metadata: Sequence[str] = (),
        options: CollectionOptions = DEFAULT_OPTIONS,
    ) -> None:
        self.indexed_metadata = frozenset(indexed_metadata)
        self._client = client
        self._prefix = prefix
        self._options = options
        self._params = search_params(options, models)
        self._indexed: dict[str, set[str]] = {}

    def _name(self, collection: str) -> str:
        return f"{self._prefix}{collection}"

    def has_collection(self, name: str) -> bool:
        if name in self._indexed:  # created or opened by this process
            return True
        try:
            return bool(self._client.collection_exists(self._name(name)))
        except _ERRORS as exc:
            raise DependencyError("vector_store", str(exc)) from exc

    def collections(self) -> list[str]:
        try:
            listed = self._client.get_collections().collections
        except _ERRORS as exc:
            raise DependencyError("vector_store", str(exc)) from exc
        prefix = self._prefix
        return sorted(c.name.removeprefix(prefix) for c in listed if c.name.startswith(prefix))

    def ensure_collection(self, name: str, dimensions: int) -> None:
        if name in self._indexed:
            return
        full = self._name(name)
        if not self.has_collection(name):
            self._create(full, dimensions)
        else:
            params = self._client.get_collection(full).config.params.vectors
            size = params[DENSE].size if isinstance(params, dict) else None
            if size != dimensions:
                raise DependencyError(
                    "vector_store",
                    f"collection {full} holds {size}-dimensional vectors, the embedder makes "
                    f"{dimensions}; use another collection prefix or re-index",
                )
        info = self._client.get_collection(full)
        self._indexed[name] = set(info.payload_schema or {})
        self._create_indexes(name, BASE_INDEXES)

    def _create(self, full: str, dimensions: int) -> None:
        options = self._options
        dense = models.VectorParams(
            size=dimensions, distance=models.Distance.COSINE, on_disk=options.vectors_on_disk
        )
        self._client.create_collection(
            full,
            vectors_config={DENSE: dense},
            sparse_vectors_config={SPARSE: models.SparseVectorParams(modifier=models.Modifier.IDF)},
            shard_number=options.shard_number,
            replication_factor=options.replication_factor,
            write_consistency_factor=options.write_consistency_factor,
            hnsw_config=_hnsw(options),
            quantization_config=_quantization(options),
        )

    def _create_indexes(self, name: str, plan: dict[str, FieldKind]) -> None:
        known = self._indexed.setdefault(name, set())
        for key, kind in plan.items():
            if key not in known:
                self._client.create_payload_index(self._name(name), key, _SCHEMA[kind])
                known.add(key)

    def upsert(self, collection: str, points: Sequence[IndexedChunk]) -> None:
        try:
            self._create_indexes(collection, metadata_indexes(points, self.indexed_metadata))
            for start in range(0, len(points), UPSERT_BATCH):
                batch = [
                    models.PointStruct(
                        id=p.point_id,
                        vector={DENSE: p.dense, SPARSE: _sparse(p.sparse)},
                        payload=p.payload.to_dict(),
                    )
                    for p in points[start : start + UPSERT_BATCH]
                ]
                self._client.upsert(self._name(collection), batch, wait=True)
        except _ERRORS as exc:
            raise DependencyError("vector_store", str(exc)) from exc

    def delete(self, collection: str, conditions: Sequence[Condition]) -> None:
        if not self.has_collection(collection):
            return
        selector = build_filter(conditions, _DIALECT)
        if selector is None:
            raise ValueError("refusing to delete without conditions")
        try:
            self._client.delete(
                self._name(collection), models.FilterSelector(filter=selector), wait=True
            )
        except _ERRORS as exc:
            raise DependencyError("vector_store", str(exc)) from exc

    def count(self, collection: str, document_id: str | None = None) -> int:
        if not self.has_collection(collection):
            return 0
        conditions = document_filter(document_id) if document_id else []
        result = self._client.count(
            self._name(collection), count_filter=build_filter(conditions, _DIALECT), exact=True
        )
        return int(result.count)

    def _request(
        self, query: StoreQuery, mode: SearchMode, limit: int, payload: bool, selector: Any
    ) -> Any:
        """One retriever's request (``mode`` is dense or sparse) under the built filter."""
        dense = mode is SearchMode.DENSE
        if not dense:
            assert query.sparse is not None
        return models.QueryRequest(
            query=query.dense if dense else _sparse(query.sparse),  # type: ignore[arg-type]
            using=DENSE if dense else SPARSE,
            filter=selector,
            params=self._params if dense else None,
            limit=limit,
            with_payload=payload,
        )

    def _batch(self, collection: str, requests: list[Any]) -> list[Any]:
        try:
            responses = self._client.query_batch_points(self._name(collection), requests)
        except _ERRORS as exc:
            raise DependencyError("vector_store", str(exc)) from exc
        return [response.points for response in responses]

    def search(self, collection: str, query: StoreQuery) -> list[SearchHit]:
        if query.mode is SearchMode.HYBRID:
            return hybrid_search(self, collection, query)
        selector = build_filter(query.conditions, _DIALECT)
        request = self._request(query, query.mode, query.limit, True, selector)
        (points,) = self._batch(collection, [request])
        return [
            SearchHit(float(p.score), str(p.id), ChunkPayload.from_dict(p.payload or {}))
            for p in points
        ]

    def candidates(self, collection: str, query: StoreQuery) -> tuple[list[Scored], list[Scored]]:
        selector = build_filter(query.conditions, _DIALECT)  # one filter for both retrievers
        requests = [
            self._request(query, mode, query.candidates, False, selector)
            for mode in (SearchMode.DENSE, SearchMode.SPARSE)
        ]
        dense, sparse = self._batch(collection, requests)
        return _scored(dense), _scored(sparse)

    def fetch(self, collection: str, point_ids: Sequence[str]) -> dict[str, ChunkPayload]:
        if not point_ids:
            return {}
        try:
            records = self._client.retrieve(
                self._name(collection), list(point_ids), with_payload=True, with_vectors=False
            )
        except _ERRORS as exc:
            raise DependencyError("vector_store", str(exc)) from exc
        return {str(r.id): ChunkPayload.from_dict(r.payload or {}) for r in records}

    def optimize(self, collection: str) -> None:
        """The server's background optimizer indexes on its own."""

    def drop_collection(self, name: str) -> None:
        self._indexed.pop(name, None)
        if self.has_collection(name):
            self._client.delete_collection(self._name(name))

    def check(self) -> None:
        try:
            self._client.get_collections()
        except (*_ERRORS, OSError) as exc:
            raise DependencyError("vector_store", str(exc)) from exc

    def close(self) -> None:
        self._client.close()
