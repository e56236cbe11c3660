"""Choosing a collection's hybrid fusion on judged queries, and reporting it honestly.

The judged queries are split in two halves (by position in id order: even positions tune, odd
ones are held out). Each query is retrieved once (both candidate lists, with the collection's
current settings); every fusion of the grid is then replayed on those lists in memory. The
best fusion on the tuning half is reported on the held-out half and on the full set: the
held-out figure is the one to quote, since nothing was chosen on it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ragfleet.domain import ChunkPayload, SearchHit
from ragfleet.evaluation.beir import Dataset, rank_documents, score
from ragfleet.retrieval.fusion import Fusion, FusionMethod, Scored, fuse
from ragfleet.retrieval.search import SearchRequest, SearchService
from ragfleet.retrieval.store import SearchMode
from ragfleet.telemetry.timing import Timer

DENSE_WEIGHTS = (0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0, 4.0)  # sparse weight stays 1
RRF_KS = (10, 20, 40, 60, 100)
SPLITS = ("tune", "held_out", "all")


@dataclass(slots=True)
class Retrieved:
    """One query's candidate lists and the payloads of every candidate."""

    dense: list[Scored]
    sparse: list[Scored]
    payloads: dict[str, ChunkPayload]


def grid(default: Fusion) -> list[Fusion]:
    """The fusions tried; the default comes first, so it wins ties."""
    fusions = [default]
    for weight in DENSE_WEIGHTS:
        fusions += [Fusion(FusionMethod.RRF, weight, 1.0, k) for k in RRF_KS]
        fusions += [
            Fusion(method, weight, 1.0) for method in (FusionMethod.DBSF, FusionMethod.WEIGHTED)
        ]
    return list(dict.fromkeys(fusions))


def split(query_ids: Sequence[str]) -> dict[str, list[str]]:
    """Tuning and held-out halves, disjoint, plus the full set."""
    ordered = sorted(query_ids, key=lambda q: (len(q), q))  # numeric ids in numeric order
    return {"tune": ordered[0::2], "held_out": ordered[1::2], "all": ordered}


def retrieve(
    search: SearchService,
    collection: str,
    dataset: Dataset,
    depth: int,
    on_query: Callable[[], None],
) -> dict[str, Retrieved]:
    """Both candidate lists of every judged query, retrieved once."""
    retrieved: dict[str, Retrieved] = {}
    for query_id, text in dataset.queries.items():
        plan = search.plan(SearchRequest(text, collection, depth, SearchMode.HYBRID), Timer())
        dense: list[Scored] = []
        sparse: list[Scored] = []
        if plan is not None and plan.mode is SearchMode.HYBRID:
            dense, sparse = search.store.candidates(collection, plan)
        elif plan is not None:  # a stopword-only query searches dense alone
            dense = [(hit.point_id, hit.score) for hit in search.store.search(collection, plan)]
        ids = list(dict.fromkeys(point for point, _ in dense + sparse))
        retrieved[query_id] = Retrieved(dense, sparse, search.store.fetch(collection, ids))
        on_query()
    return retrieved


def ndcg(
    fusion: Fusion,
    retrieved: dict[str, Retrieved],
    dataset: Dataset,
    queries: list[str],
    depth: int,
) -> float:
    """Mean nDCG@10 of ``fusion`` over ``queries``."""
    total = 0.0
    for query_id in queries:
        got = retrieved[query_id]
        fused = fuse(got.dense, got.sparse, fusion, depth)
        hits = [SearchHit(value, point, got.payloads[point]) for point, value in fused]
        total += score(rank_documents(hits), dataset.qrels[query_id])["ndcg@10"]
    return total / len(queries) if queries else 0.0


@dataclass(slots=True)
class Tuned:
    chosen: Fusion
    default: Fusion
    chosen_ndcg: dict[str, float]
    default_ndcg: dict[str, float]
    tried: int


def tune(retrieved: dict[str, Retrieved], dataset: Dataset, default: Fusion, depth: int) -> Tuned:
    """The fusion with the best tuning-half nDCG@10, and both fusions on every split."""
    halves = split(list(retrieved))
    candidates = grid(default)
    chosen = max(candidates, key=lambda f: ndcg(f, retrieved, dataset, halves["tune"], depth))

    def report(fusion: Fusion) -> dict[str, float]:
        return {
            name: round(ndcg(fusion, retrieved, dataset, halves[name], depth), 4) for name in SPLITS
        }

    return Tuned(chosen, default, report(chosen), report(default), len(candidates))
