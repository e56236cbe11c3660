"""The search service: embed the query, search the store with filters and ACL, rerank."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ragfleet.domain import PUBLIC_GROUP, SearchHit
from ragfleet.embedding import Embedder
from ragfleet.errors import BadInputError
from ragfleet.retrieval.filters import Condition, Match, parse_filters
from ragfleet.retrieval.rerank import Reranker
from ragfleet.retrieval.sparse import SparseEncoder
from ragfleet.retrieval.store import SearchMode, StoreQuery, VectorStore
from ragfleet.retrieval.tuning import FusionTable
from ragfleet.settings import RetrievalSettings
from ragfleet.telemetry.timing import Timer


@dataclass(slots=True)
class SearchRequest:
    query: str
    collection: str
    top_k: int
    mode: SearchMode
    filters: dict[str, Any] | None = None
    groups: list[str] | None = None  # None: the caller may read every document


@dataclass(slots=True)
class SearchResult:
    hits: list[SearchHit]
    timings_ms: dict[str, float] = field(default_factory=dict)


class SearchService:
    def __init__(
        self,
        *,
        store: VectorStore,
        embedder: Embedder,
        sparse: SparseEncoder,
        settings: RetrievalSettings,
        fusions: FusionTable,
        reranker: Reranker | None = None,
        rerank_candidates: int = 30,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.sparse = sparse
        self.settings = settings
        self.fusions = fusions
        self.reranker = reranker
        self.rerank_candidates = rerank_candidates

    def validate(self, request: SearchRequest) -> list[Condition]:
        """Bad requests fail here, before any work is done."""
        if not request.query.strip():
            raise BadInputError("the query is empty")
        if len(request.query) > self.settings.max_query_chars:
            raise BadInputError(
                f"the query has {len(request.query)} characters; "
                f"the limit is {self.settings.max_query_chars}"
            )
        if not 1 <= request.top_k <= self.settings.max_top_k:
            raise BadInputError(f"top_k must be between 1 and {self.settings.max_top_k}")
        conditions = parse_filters(request.filters)
        if request.groups is not None:
            conditions.append(Match("acl", (*request.groups, PUBLIC_GROUP)))
        return conditions

    def plan(self, request: SearchRequest, timer: Timer) -> StoreQuery | None:
        """The store query for ``request`` (query embedded and encoded), or None when nothing
        can match. Tuning replays these plans under other fusions."""
        conditions = self.validate(request)
        if not self.store.has_collection(request.collection):
            return None
        limit = request.top_k
        if self.reranker is not None:
            limit = max(limit, self.rerank_candidates)
        query = StoreQuery(
            mode=request.mode,
            limit=limit,
            candidates=max(self.settings.candidates, limit),
            fusion=self.fusions.get(request.collection),
            conditions=conditions,
        )
        if request.mode is not SearchMode.SPARSE:
            with timer.stage("embed"):
                query.dense = self.embedder.embed_query(request.query).tolist()
        if request.mode is not SearchMode.DENSE:
            with timer.stage("sparse_encode"):
                query.sparse = self.sparse.encode_query(request.query)
            if not query.sparse.indices:
                # Only stopwords: nothing for BM25 to match, so hybrid becomes dense.
                if request.mode is SearchMode.SPARSE:
                    return None
                query.mode = SearchMode.DENSE
        return query

    def search(self, request: SearchRequest, timer: Timer | None = None) -> SearchResult:
        timer = timer or Timer()
        query = self.plan(request, timer)
        if query is None:
            return SearchResult([], timer.timings_ms)
        with timer.stage("search"):
            hits = _one_copy_per_chunk(self.store.search(request.collection, query))
        if self.reranker is not None and hits:
            with timer.stage("rerank"):
                hits = self.reranker.rerank(request.query, hits)
        return SearchResult(hits[: request.top_k], timer.timings_ms)


def _one_copy_per_chunk(hits: list[SearchHit]) -> list[SearchHit]:
    """While a new version replaces an old one, both may match; keep the best-ranked copy."""
    seen: set[tuple[str, int]] = set()
    unique: list[SearchHit] = []
    for hit in hits:
        key = (hit.payload.document_id, hit.payload.chunk_index)
        if key not in seen:
            seen.add(key)
            unique.append(hit)
    return unique
