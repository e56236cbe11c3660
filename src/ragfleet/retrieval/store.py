"""The vector store protocol shared by Qdrant Edge (embedded) and a Qdrant server.

Each ragfleet collection is one Qdrant collection (``<prefix><name>``) holding a named dense vector
``dense`` (cosine) and a named sparse vector ``sparse`` (BM25 weights, IDF modifier). Filters and
ACL groups are applied inside the vector search, as a pre-filter of every retriever. How the dense
vectors are stored (quantization, RAM or disk, HNSW, shards) is fixed when a collection is
created, from ``CollectionOptions``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any, Literal, Protocol

from ragfleet.domain import ChunkPayload, IndexedChunk, MetadataValue, SearchHit, SparseVector
from ragfleet.retrieval.filters import Condition, Exclude, Match, Range
from ragfleet.retrieval.fusion import Fusion, Scored, fuse
from ragfleet.settings import QdrantSettings

DENSE = "dense"
SPARSE = "sparse"


class SearchMode(StrEnum):
    HYBRID = "hybrid"
    DENSE = "dense"
    SPARSE = "sparse"


class FieldKind(StrEnum):
    KEYWORD = "keyword"
    INTEGER = "integer"
    FLOAT = "float"
    BOOL = "bool"


# Payload fields indexed in every collection; metadata fields are indexed on first sight.
BASE_INDEXES: dict[str, FieldKind] = {
    "document_id": FieldKind.KEYWORD,
    "version": FieldKind.KEYWORD,
    "source": FieldKind.KEYWORD,
    "section": FieldKind.KEYWORD,
    "acl": FieldKind.KEYWORD,
    "page": FieldKind.INTEGER,
}


@dataclass(frozen=True, slots=True)
class CollectionOptions:
    """The ``qdrant.*`` settings on the dense vectors' layout and search. The layout applies to
    collections created from now on (existing ones keep theirs). ``hnsw_ef`` applies to every
    dense search, ``rescore`` and ``oversampling`` to those made while ``quantization`` is set."""

    quantization: Literal["none", "scalar", "binary"] = "none"
    quantization_always_ram: bool = False
    vectors_on_disk: bool = False
    hnsw_m: int | None = None
    hnsw_ef_construct: int | None = None
    hnsw_ef: int | None = None
    rescore: bool = True
    oversampling: float = 1.0
    shard_number: int = 1
    replication_factor: int = 1
    write_consistency_factor: int = 1

    @classmethod
    def from_settings(cls, qdrant: QdrantSettings) -> CollectionOptions:
        return cls(**qdrant.model_dump(include={f.name for f in fields(cls)}))


DEFAULT_OPTIONS = CollectionOptions()  # float vectors in RAM, the engine's HNSW, one shard


def search_params(options: CollectionOptions, module: Any) -> Any | None:
    """The dense retriever's search parameters in one Qdrant library's classes (Qdrant Edge and
    qdrant-client name them alike), or None to keep the engine's defaults."""
    quantization = None
    if options.quantization != "none":
        quantization = module.QuantizationSearchParams(
            rescore=options.rescore, oversampling=options.oversampling
        )
    if options.hnsw_ef is None and quantization is None:
        return None
    return module.SearchParams(hnsw_ef=options.hnsw_ef, quantization=quantization)


@dataclass(slots=True)
class StoreQuery:
    mode: SearchMode
    limit: int
    dense: list[float] | None = None
    sparse: SparseVector | None = None
    candidates: int = 100
    fusion: Fusion = Fusion()
    conditions: list[Condition] = field(default_factory=list)


class VectorStore(Protocol):
    """What ragfleet needs from a vector database."""

    def ensure_collection(self, name: str, dimensions: int) -> None: ...

    def has_collection(self, name: str) -> bool: ...

    def collections(self) -> list[str]:
        """The ragfleet collections the store holds (under this deployment's prefix), sorted."""
        ...

    def upsert(self, collection: str, points: Sequence[IndexedChunk]) -> None: ...

    def delete(self, collection: str, conditions: Sequence[Condition]) -> None:
        """Remove the points matching every condition (a no-op for a missing collection)."""

    def count(self, collection: str, document_id: str | None = None) -> int: ...

    def search(self, collection: str, query: StoreQuery) -> list[SearchHit]: ...

    def candidates(self, collection: str, query: StoreQuery) -> tuple[list[Scored], list[Scored]]:
        """The dense and the sparse retriever's best ``query.candidates`` ids, without payloads."""

    def fetch(self, collection: str, point_ids: Sequence[str]) -> dict[str, ChunkPayload]:
        """Payloads of these points (missing ones are left out)."""

    def optimize(self, collection: str) -> None:
        """Build indexes after a batch of writes (a no-op where the server does it)."""

    def drop_collection(self, name: str) -> None: ...

    def check(self) -> None:
        """Raise ``DependencyError`` when the store cannot serve."""

    def close(self) -> None: ...


def hybrid_search(store: VectorStore, collection: str, query: StoreQuery) -> list[SearchHit]:
    """Both retrievers in one round trip, fused here, payloads read for the winners only."""
    dense, sparse = store.candidates(collection, query)
    fused = fuse(dense, sparse, query.fusion, query.limit)
    payloads = store.fetch(collection, [point for point, _ in fused])
    return [SearchHit(score, point, payloads[point]) for point, score in fused if point in payloads]


def field_kind(value: MetadataValue) -> FieldKind | None:
    """The payload index type for a metadata value, or None when it cannot be indexed."""
    if isinstance(value, bool):
        return FieldKind.BOOL
    if isinstance(value, int):
        return FieldKind.INTEGER
    if isinstance(value, float):
        return FieldKind.FLOAT
    if isinstance(value, str) or (isinstance(value, list) and value and isinstance(value[0], str)):
        return FieldKind.KEYWORD
    if isinstance(value, list) and value and isinstance(value[0], int):
        return FieldKind.INTEGER
    return None


def metadata_indexes(
    points: Iterable[IndexedChunk], declared: Collection[str]
) -> dict[str, FieldKind]:
    """Index types for the ``declared`` metadata keys found in a batch of points. Only declared
    keys get an index: each new index is built in place, so indexing whatever keys uploads
    carry would let one document with thousands of keys stall the store. Filters on other
    keys still work, without an index."""
    plan: dict[str, FieldKind] = {}
    for point in points:
        for key, value in point.payload.meta.items():
            kind = field_kind(value) if key in declared else None
            if kind is not None:
                plan.setdefault(f"meta.{key}", kind)
    return plan


class FilterDialect:
    """Builds filters with one Qdrant library's classes: Qdrant Edge and qdrant-client name
    them alike and take the same keywords, except for the range class."""

    def __init__(self, module: Any, range_type: Any) -> None:
        self._m = module
        self._range = range_type

    def match_any(self, key: str, values: list[Any]) -> Any:
        return self._m.FieldCondition(key=key, match=self._m.MatchAny(any=values))

    def match_value(self, key: str, value: Any) -> Any:
        return self._m.FieldCondition(key=key, match=self._m.MatchValue(value=value))

    def range(self, key: str, condition: Range) -> Any:
        bounds = self._range(gt=condition.gt, gte=condition.gte, lt=condition.lt, lte=condition.lte)
        return self._m.FieldCondition(key=key, range=bounds)

    def filter(self, must: list[Any], must_not: list[Any]) -> Any:
        return self._m.Filter(must=must or None, must_not=must_not or None)


def build_filter(conditions: Sequence[Condition], dialect: FilterDialect) -> Any | None:
    must: list[Any] = []
    must_not: list[Any] = []
    for condition in conditions:
        match condition:
            case Match(key, values) if len(values) == 1:
                must.append(dialect.match_value(key, values[0]))
            case Match(key, values):
                must.append(dialect.match_any(key, list(values)))
            case Exclude(key, values):
                must_not.extend(dialect.match_value(key, v) for v in values)
            case Range():
                must.append(dialect.range(condition.key, condition))
    if not must and not must_not:
        return None
    return dialect.filter(must, must_not)


def document_filter(
    document_id: str, *, version: str | None = None, except_version: str | None = None
) -> list[Condition]:
    """Conditions selecting a document's points, optionally one version or all but one."""
    conditions: list[Condition] = [Match("document_id", (document_id,))]
    if version is not None:
        conditions.append(Match("version", (version,)))
    if except_version is not None:
        conditions.append(Exclude("version", (except_version,)))
    return conditions
