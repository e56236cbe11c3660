"""`ragfleet tune`: fusion chosen on one half of the judged queries, reported on the other."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ragfleet.cli.main import app
from ragfleet.evaluation.beir import Dataset
from ragfleet.evaluation.fusion_tuning import Retrieved, grid, split, tune
from ragfleet.retrieval.fusion import Fusion, FusionMethod
from ragfleet.retrieval.tuning import FusionTable
from tests.evaluation.test_beir import write_dataset
from tests.utils.hits import chunk_payload

runner = CliRunner()


def test_the_halves_are_disjoint_and_cover_every_query() -> None:
    ids = [str(n) for n in (10, 2, 1, 33, 4)]
    halves = split(ids)
    assert halves["tune"] == ["1", "4", "33"] and halves["held_out"] == ["2", "10"]
    assert halves["all"] == ["1", "2", "4", "10", "33"]


def test_the_grid_starts_with_the_current_fusion_and_holds_every_method() -> None:
    current = Fusion(FusionMethod.DBSF, 2.0)
    fusions = grid(current)
    assert fusions[0] == current and len(fusions) == len(set(fusions))
    assert {f.method for f in fusions} == set(FusionMethod)


def test_the_choice_ignores_the_held_out_half() -> None:
    # Tuning queries (1, 3) find their document through sparse; held-out ones (2, 4) through
    # dense. The chosen fusion must favour sparse, and pay for it on the held-out half.
    retrieved: dict[str, Retrieved] = {}
    qrels: dict[str, dict[str, int]] = {}
    for query in ("1", "2", "3", "4"):
        good, bad = f"good{query}", f"bad{query}"
        first, second = (bad, good) if query in ("1", "3") else (good, bad)
        payloads = {p: chunk_payload(p, source=p) for p in (good, bad)}
        retrieved[query] = Retrieved(
            [(first, 0.9), (second, 0.8)], [(second, 9.0), (first, 1.0)], payloads
        )
        qrels[query] = {good: 1}
    dataset = Dataset({}, {q: q for q in qrels}, qrels)
    tuned = tune(retrieved, dataset, Fusion(), depth=10)
    assert tuned.chosen.dense_weight < tuned.chosen.sparse_weight
    assert tuned.chosen_ndcg["tune"] == 1.0 and tuned.chosen_ndcg["held_out"] < 1.0
    assert tuned.chosen_ndcg["tune"] > tuned.default_ndcg["tune"]


@pytest.fixture
def indexed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RAGFLEET_DATA_DIR", str(tmp_path / "data"))
    dataset = write_dataset(tmp_path / "ds")
    result = runner.invoke(app, ["eval", "beir", str(dataset), "--json", "--mode", "dense"])
    assert result.exit_code == 0, result.output
    return dataset


def test_tune_reports_every_split_and_saves_the_choice(indexed: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["tune", str(indexed), "--dry-run", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["saved_to"] is None and report["collection"] == "beir-ds"
    assert set(report["chosen"]["ndcg@10"]) == {"tune", "held_out", "all"}
    assert report["current"]["fusion"] == {
        "method": "rrf",
        "dense_weight": 1.0,
        "sparse_weight": 1.0,
        "rrf_k": 60,
    }
    tuning_file = tmp_path / "data" / "fusion.json"
    assert not tuning_file.exists()

    result = runner.invoke(app, ["tune", str(indexed), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["saved_to"] == str(tuning_file)
    chosen = FusionTable(tuning_file, Fusion(FusionMethod.WEIGHTED)).get("beir-ds")
    assert chosen.method.value == report["chosen"]["fusion"]["method"]


def test_tune_needs_an_indexed_collection(indexed: Path) -> None:
    result = runner.invoke(app, ["tune", str(indexed), "--collection", "elsewhere"])
    assert result.exit_code == 2 and "is empty" in result.output


def test_tune_rejects_a_folder_that_is_not_beir(tmp_path: Path) -> None:
    result = runner.invoke(app, ["tune", str(tmp_path)])
    assert result.exit_code == 2 and "not a BEIR dataset" in result.output
