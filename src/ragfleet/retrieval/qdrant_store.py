"""A Qdrant server through ``qdrant-client`` (the production shape).

The same code drives qdrant-client's local mode (``QdrantClient(path=...)``), which speaks the
server's client API; the test suite runs the shared store contract against it.
"""

from __future__ import annotations

from collections.abc import Sequence

from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from ragfleet.domain import ChunkPayload, IndexedChunk, SearchHit, SparseVector
from ragfleet.errors import DependencyError
from ragfleet.retrieval.filters import Condition
from ragfleet.retrieval.store import (
    BASE_INDEXES,
    DENSE,
    SPARSE,
    FieldKind,
    FilterDialect,
    SearchMode,
    StoreQuery,
    build_filter,
    document_filter,
    metadata_indexes,
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


class QdrantVectorStore:
    def __init__(self, client: QdrantClient, prefix: str) -> None:
        self._client = client
        self._prefix = prefix
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

    def ensure_collection(self, name: str, dimensions: int) -> None:
        if name in self._indexed:
            return
        full = self._name(name)
        if not self.has_collection(name):
            self._client.create_collection(
                full,
                vectors_config={
                    DENSE: models.VectorParams(size=dimensions, distance=models.Distance.COSINE)
                },
                sparse_vectors_config={
                    SPARSE: models.SparseVectorParams(modifier=models.Modifier.IDF)
                },
            )
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

    def _create_indexes(self, name: str, plan: dict[str, FieldKind]) -> None:
        known = self._indexed.setdefault(name, set())
        for key, kind in plan.items():
            if key not in known:
                self._client.create_payload_index(self._name(name), key, _SCHEMA[kind])
                known.add(key)

    def upsert(self, collection: str, points: Sequence[IndexedChunk]) -> None:
        try:
            self._create_indexes(collection, metadata_indexes(points))
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

    def search(self, collection: str, query: StoreQuery) -> list[SearchHit]:
        selector = build_filter(query.conditions, _DIALECT)
        dense = query.dense
        sparse = _sparse(query.sparse) if query.sparse is not None else None
        try:
            if query.mode is SearchMode.HYBRID:
                response = self._client.query_points(
                    self._name(collection),
                    prefetch=[
                        models.Prefetch(
                            query=dense, using=DENSE, limit=query.candidates, filter=selector
                        ),
                        models.Prefetch(
                            query=sparse, using=SPARSE, limit=query.candidates, filter=selector
                        ),
                    ],
                    query=models.RrfQuery(
                        rrf=models.Rrf(
                            k=query.rrf_k, weights=[query.dense_weight, query.sparse_weight]
                        )
                    ),
                    limit=query.limit,
                    with_payload=True,
                )
            else:
                single = dense if query.mode is SearchMode.DENSE else sparse
                response = self._client.query_points(
                    self._name(collection),
                    query=single,
                    using=DENSE if query.mode is SearchMode.DENSE else SPARSE,
                    query_filter=selector,
                    limit=query.limit,
                    with_payload=True,
                )
        except _ERRORS as exc:
            raise DependencyError("vector_store", str(exc)) from exc
        return [
            SearchHit(float(p.score), str(p.id), ChunkPayload.from_dict(p.payload or {}))
            for p in response.points
        ]

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
