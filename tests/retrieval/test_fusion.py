"""Hybrid fusion methods and the per-collection table ``ragfleet tune`` writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ragfleet.retrieval.fusion import Fusion, FusionMethod, fuse
from ragfleet.retrieval.tuning import FusionTable, fusion_from_dict

DENSE = [("a", 0.90), ("b", 0.85), ("c", 0.30)]
SPARSE = [("c", 30.0), ("d", 4.0), ("a", 3.0), ("e", 2.0)]


def order(fusion: Fusion, limit: int = 10) -> list[str]:
    return [point for point, _ in fuse(DENSE, SPARSE, fusion, limit)]


def test_rrf_sums_reciprocal_ranks_with_weights() -> None:
    fused = dict(fuse(DENSE, SPARSE, Fusion(FusionMethod.RRF, rrf_k=60), 10))
    assert fused["a"] == pytest.approx(1 / 61 + 1 / 63)
    assert fused["d"] == pytest.approx(1 / 62)
    assert order(Fusion(FusionMethod.RRF))[:2] == ["a", "c"]
    # All weight on sparse: the sparse order, dense-only points last.
    assert order(Fusion(FusionMethod.RRF, dense_weight=0.0))[:4] == ["c", "d", "a", "e"]


def test_dbsf_maps_each_list_through_three_standard_deviations() -> None:
    fused = dict(fuse(DENSE, [("x", 5.0)], Fusion(FusionMethod.DBSF), 10))
    mean, spread = (0.90 + 0.85 + 0.30) / 3, 0.2718251
    assert fused["a"] == pytest.approx((0.90 - (mean - 3 * spread)) / (6 * spread), rel=1e-5)
    assert fused["x"] == 0.5  # one candidate: no spread to normalise by


def test_score_fusions_reward_a_large_score_margin_that_ranks_ignore() -> None:
    # c is a close second in dense and far ahead in sparse: score fusions put it first.
    dense = [("a", 0.62), ("c", 0.61), ("b", 0.30), ("f", 0.10)]
    sparse = [("c", 30.0), ("d", 4.0), ("a", 3.0), ("e", 2.0)]

    def top(method: FusionMethod) -> str:
        return fuse(dense, sparse, Fusion(method), 1)[0][0]

    assert top(FusionMethod.WEIGHTED) == top(FusionMethod.DBSF) == "c"
    assert fuse(dense, sparse, Fusion(FusionMethod.RRF, sparse_weight=0.5), 1)[0][0] == "a"


def test_weighted_fusion_with_one_list_only_follows_that_list() -> None:
    assert order(Fusion(FusionMethod.WEIGHTED, sparse_weight=0.0), 3) == ["a", "b", "c"]
    assert order(Fusion(FusionMethod.WEIGHTED, dense_weight=0.0), 2) == ["c", "d"]


def test_empty_lists_and_the_limit() -> None:
    assert fuse([], [], Fusion(FusionMethod.DBSF), 5) == []
    assert len(fuse(DENSE, SPARSE, Fusion(), 2)) == 2
    assert fuse([("a", 1.0), ("b", 1.0)], [], Fusion(FusionMethod.WEIGHTED), 5) == [
        ("a", 1.0),
        ("b", 1.0),
    ]


def test_the_table_keeps_each_collection_and_defaults_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "fusion.json"
    table = FusionTable(path, Fusion())
    assert table.get("docs") == Fusion()
    tuned = Fusion(FusionMethod.DBSF, 0.7, 1.0, 60)
    table.save("docs", tuned)
    table.save("other", Fusion(FusionMethod.WEIGHTED, 1.0, 0.3))
    assert table.get("docs") == tuned
    assert table.get("new") == Fusion()
    # Another process (a running server) sees the file as written.
    reader = FusionTable(path, Fusion())
    assert reader.get("other") == Fusion(FusionMethod.WEIGHTED, 1.0, 0.3)
    assert json.loads(path.read_text())["docs"]["method"] == "dbsf"
    assert [p.name for p in tmp_path.iterdir()] == ["fusion.json"]


def test_a_changed_file_is_read_again(tmp_path: Path) -> None:
    path = tmp_path / "fusion.json"
    reader = FusionTable(path, Fusion())
    assert reader.get("docs") == Fusion()
    FusionTable(path, Fusion()).save("docs", Fusion(FusionMethod.DBSF))
    assert reader.get("docs") == Fusion(FusionMethod.DBSF)


@pytest.mark.parametrize(
    "content", ["{not json", "[1, 2]", '{"docs": {"method": "best"}}', '{"docs": 3}']
)
def test_an_unreadable_file_leaves_the_default(tmp_path: Path, content: str) -> None:
    path = tmp_path / "fusion.json"
    path.write_text(content)
    assert FusionTable(path, Fusion(FusionMethod.DBSF)).get("docs") == Fusion(FusionMethod.DBSF)


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        ({"method": "rrf", "rrf_k": 0}, "rrf_k"),
        ({"method": "weighted", "dense_weight": -1}, "weights"),
        ({"dense_weight": 1}, "method"),
        ({"method": "rrf", "rrf_k": "many"}, "many"),
    ],
)
def test_invalid_fusion_entries_are_rejected(entry: dict[str, object], reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        fusion_from_dict(entry)
