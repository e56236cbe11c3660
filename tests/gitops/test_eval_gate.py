"""The promotion gate script and the golden set it is run on."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GATE = ROOT / "scripts" / "eval_gate.py"
GOLDEN = ROOT / "eval" / "golden"


def report(**hybrid: float) -> str:
    """The shape `ragfleet eval beir --json` prints."""
    modes = {"hybrid": hybrid, "dense": {"ndcg@10": 1.0}}
    return json.dumps({"dataset": "eval/golden", "split": "test", "modes": modes})


def run_gate(tmp_path: Path, text: str, thresholds: object) -> subprocess.CompletedProcess[str]:
    (tmp_path / "report.json").write_text(text)
    (tmp_path / "thresholds.json").write_text(json.dumps(thresholds))
    return subprocess.run(
        [sys.executable, str(GATE), "report.json", "--thresholds", "thresholds.json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )


def test_passes_at_or_above_every_threshold(tmp_path: Path) -> None:
    done = run_gate(
        tmp_path,
        report(**{"ndcg@10": 0.6, "recall@10": 0.95}),
        {"prod": {"ndcg@10": 0.6, "recall@10": 0.9}, "staging": {"ndcg@10": 0.99}},
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert "| ndcg@10 | 0.6000 | 0.6000 | pass |" in done.stdout


@pytest.mark.parametrize(
    "hybrid",
    [{"ndcg@10": 0.59, "recall@10": 0.95}, {"recall@10": 0.95}],
    ids=["below", "missing-metric"],
)
def test_fails_below_the_threshold(tmp_path: Path, hybrid: dict[str, float]) -> None:
    done = run_gate(tmp_path, report(**hybrid), {"prod": {"ndcg@10": 0.6, "recall@10": 0.9}})

    assert done.returncode == 1
    assert "below the threshold" in done.stdout
    assert "| ndcg@10 |" in done.stdout and "FAIL" in done.stdout


@pytest.mark.parametrize(
    ("data", "thresholds", "message"),
    [
        ("Indexing ━━ 30/30\n{}", {"prod": {"ndcg@10": 0.6}}, "not a readable JSON file"),
        (report(**{"ndcg@10": 0.9}), {"staging": {"ndcg@10": 0.6}}, "no 'prod'"),
        ('{"modes": {"dense": {"ndcg@10": 0.9}}}', {"prod": {"ndcg@10": 0.6}}, "no 'hybrid'"),
    ],
)
def test_unusable_input_exits_2(
    tmp_path: Path, data: str, thresholds: object, message: str
) -> None:
    done = run_gate(tmp_path, data, thresholds)

    assert done.returncode == 2
    assert message in done.stderr


def test_the_shipped_thresholds_gate_prod() -> None:
    thresholds = json.loads((ROOT / "eval" / "thresholds.json").read_text())

    assert thresholds["prod"]
    assert all(0 < value <= 1 for value in thresholds["prod"].values())


def test_the_golden_set_is_a_consistent_beir_dataset() -> None:
    corpus = [json.loads(line) for line in (GOLDEN / "corpus.jsonl").read_text().splitlines()]
    queries = [json.loads(line) for line in (GOLDEN / "queries.jsonl").read_text().splitlines()]
    with (GOLDEN / "qrels" / "test.tsv").open(newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t")
        assert reader.fieldnames == ["query-id", "corpus-id", "score"]
        qrels = list(reader)

    doc_ids = {doc["_id"] for doc in corpus}
    query_ids = {query["_id"] for query in queries}
    assert len(doc_ids) == len(corpus) == 30
    assert all(doc["title"] and doc["text"] for doc in corpus)
    assert len(query_ids) == len(queries) == 15
    assert {row["query-id"] for row in qrels} == query_ids
    assert {row["corpus-id"] for row in qrels} <= doc_ids
    assert all(int(row["score"]) > 0 for row in qrels)
