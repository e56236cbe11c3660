from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ragfleet.cli.main import app
from ragfleet.errors import BadInputError
from ragfleet.evaluation.beir import load, rank_documents, score
from tests.utils.beir_data import write_beir
from tests.utils.hits import search_hit

DOCS = {
    "d1": ("Jupiter", "Jupiter is the largest planet of the solar system."),
    "d2": ("Pasta", "Boil the pasta in salted water for nine minutes."),
    "d3": ("Qdrant", "Qdrant is a vector database with payload filters."),
    "d4": ("Rings", "Saturn is famous for its bright rings of ice."),
}
QUERIES = {"q1": "which planet is the biggest", "q2": "how long to cook pasta", "q3": "unjudged"}
QRELS = {"q1": {"d1": 1}, "q2": {"d2": 1}}


def write_dataset(root: Path) -> Path:
    return write_beir(root, DOCS, QUERIES, QRELS)


def test_metrics_by_hand() -> None:
    assert score(["d1", "d2"], {"d1": 1}) == {
        "ndcg@10": 1.0,
        "recall@10": 1.0,
        "recall@100": 1.0,
        "mrr@10": 1.0,
    }
    second = score(["x", "d1"], {"d1": 1, "d9": 1})
    assert second["mrr@10"] == 0.5 and second["recall@10"] == 0.5
    ideal = 1 + 1 / math.log2(3)
    assert second["ndcg@10"] == pytest.approx((1 / math.log2(3)) / ideal)
    assert score(["x"], {"d1": 1})["ndcg@10"] == 0.0


def test_documents_ranked_by_best_chunk() -> None:
    sources = ("d2", "d1", "d2", "d3")
    hits = [search_hit(1.0, "c", "a", source=s) for s in sources]
    assert rank_documents(hits) == ["d2", "d1", "d3"]


def test_load_keeps_judged_queries(tmp_path: Path) -> None:
    dataset = load(write_dataset(tmp_path), "test")
    assert set(dataset.queries) == {"q1", "q2"} and len(dataset.corpus) == 4
    with pytest.raises(BadInputError, match="missing"):
        load(tmp_path, "dev")


def test_eval_command_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAGFLEET_DATA_DIR", str(tmp_path / "data"))
    dataset = write_dataset(tmp_path / "ds")
    result = CliRunner().invoke(app, ["eval", "beir", str(dataset), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert set(report["modes"]) == {"hybrid", "dense", "sparse"}
    for metrics in report["modes"].values():
        assert metrics["ndcg@10"] == 1.0 and metrics["queries"] == 2


def test_eval_rejects_a_folder_that_is_not_beir(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["eval", "beir", str(tmp_path)])
    assert result.exit_code == 2 and "not a BEIR dataset" in result.output
