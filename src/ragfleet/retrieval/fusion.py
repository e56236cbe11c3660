"""Fusing the dense and sparse candidate lists of a hybrid search.

No fixed fusion is safe across corpora, so three are offered and ``ragfleet tune`` picks one per
collection: reciprocal rank fusion (ranks only), distribution-based score fusion (each list's
scores mapped through mean ± 3 standard deviations to [0, 1], as Qdrant's DBSF does) and a
weighted sum of min-max normalised scores. Each takes a weight per list. Fusion runs here rather
than in the engine so Qdrant Edge and a Qdrant server fuse identically, weights included, and
so tuning can replay one retrieval per query under every setting.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

Scored = tuple[str, float]  # point id and score, best first within a list


class FusionMethod(StrEnum):
    RRF = "rrf"
    DBSF = "dbsf"
    WEIGHTED = "weighted"


@dataclass(frozen=True, slots=True)
class Fusion:
    method: FusionMethod = FusionMethod.RRF
    dense_weight: float = 1.0
    sparse_weight: float = 1.0
    rrf_k: int = 60


def _rrf(ranked: Sequence[Scored], k: int) -> list[float]:
    return [1.0 / (k + rank) for rank in range(1, len(ranked) + 1)]


def _dbsf(ranked: Sequence[Scored]) -> list[float]:
    scores = [score for _, score in ranked]
    if len(scores) < 2 or (spread := statistics.pstdev(scores)) == 0:
        return [0.5] * len(scores)
    low = statistics.fmean(scores) - 3 * spread
    return [min(1.0, max(0.0, (s - low) / (6 * spread))) for s in scores]


def _min_max(ranked: Sequence[Scored]) -> list[float]:
    scores = [score for _, score in ranked]
    low, high = min(scores, default=0.0), max(scores, default=0.0)
    if high == low:
        return [1.0] * len(scores)
    return [(s - low) / (high - low) for s in scores]


def normalised(ranked: Sequence[Scored], fusion: Fusion) -> list[float]:
    """Each candidate's contribution before its list's weight."""
    if fusion.method is FusionMethod.RRF:
        return _rrf(ranked, fusion.rrf_k)
    if fusion.method is FusionMethod.DBSF:
        return _dbsf(ranked)
    return _min_max(ranked)


def fuse(
    dense: Sequence[Scored], sparse: Sequence[Scored], fusion: Fusion, limit: int
) -> list[Scored]:
    """The ``limit`` best points by weighted sum of contributions; a point missing from a list
    gets nothing from it. Ties keep dense order first."""
    totals: dict[str, float] = {}
    for ranked, weight in ((dense, fusion.dense_weight), (sparse, fusion.sparse_weight)):
        for (point, _), value in zip(ranked, normalised(ranked, fusion), strict=True):
            totals[point] = totals.get(point, 0.0) + weight * value
    best = sorted(totals.items(), key=lambda item: item[1], reverse=True)
    return best[:limit]
