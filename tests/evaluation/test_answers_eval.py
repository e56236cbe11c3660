"""``ragfleet eval answers``: halving, span matching, citation scoring and the command itself."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ragfleet.cli.eval_commands import ask_all, index_without
from ragfleet.cli.main import app
from ragfleet.embedding import Embedder
from ragfleet.evaluation.answers import (
    Outcome,
    gold_sentences,
    limit_questions,
    match_key,
    quotes_gold,
    relevant_citations,
    split_questions,
    summarize,
)
from ragfleet.evaluation.beir import Dataset, load
from ragfleet.generation.answerer import Answer, Citation
from ragfleet.generation.grounding import Groundedness
from ragfleet.services import Services, build_services
from ragfleet.settings import Settings
from tests.utils.beir_data import write_beir
from tests.utils.config import make_settings

runner = CliRunner()

DOCS = {
    "d1": (
        "Jupiter",
        "Jupiter is the largest planet of the solar system. "
        "Its great red spot is a storm wider than the Earth.",
    ),
    "d2": (
        "Pasta",
        "Boil the pasta in salted water for nine minutes. "
        "Keep a cup of the cooking water for the sauce.",
    ),
    "d3": (
        "Honey bees",
        "Honey bees tell the direction of flowers with a waggle dance. "
        "A strong colony holds tens of thousands of bees.",
    ),
    "d4": ("Qdrant", "Qdrant is a vector database with payload filters."),
}
# In id order q1 and q3 are answerable; q2 is not: its document (d2) is held out of the index.
QUERIES = {
    "q1": "Jupiter is the largest planet in the solar system.",
    "q2": "Pasta should be boiled in salted water for nine minutes.",
    "q3": "Honey bees dance to show the direction of flowers.",
}
QRELS = {"q1": {"d1": 1}, "q2": {"d2": 1}, "q3": {"d3": 1}}


def write_dataset(root: Path) -> Path:
    return write_beir(root, DOCS, QUERIES, QRELS)


def answer_citing(*sources: str, text: str = "Some answer. [1]") -> Answer:
    citations = [
        Citation(
            document_id=f"uuid-{s}",
            chunk_id=f"chunk-{s}",
            title=s,
            section="",
            source=s,
            page=None,
            n=n,
            snippet="",
        )
        for n, s in enumerate(sources, start=1)
    ]
    return Answer("id", text, "extractive", citations, Groundedness(0.8, True))


def outcome(answerable: bool, abstained: bool, **fields: object) -> Outcome:
    values: dict[str, object] = {
        "quotes_gold": False,
        "relevant_citations": 0,
        "citations": 0,
        "groundedness": None,
        "latency_ms": 10.0,
        "mode": "extractive",
    }
    values.update(fields)
    return Outcome(answerable, abstained, **values)  # type: ignore[arg-type]


# --- span matching -------------------------------------------------------------------------

GOLD = gold_sentences(Dataset(DOCS, QUERIES, QRELS), {"d1"})


def test_gold_sentences_are_the_relevant_documents_sentences() -> None:
    assert GOLD == [
        "jupiter is the largest planet of the solar system",
        "its great red spot is a storm wider than the earth",
    ]


def test_match_key_ignores_markers_case_punctuation_and_markup() -> None:
    assert match_key("The *Great*  Red Spot, [2] is a storm!") == "the great red spot is a storm"


@pytest.mark.parametrize(
    "answer",
    [
        "Jupiter is the largest planet of the solar system. [1]",  # verbatim, with its marker
        "Io is a moon. [2] its great red SPOT is a storm [1]",  # an answer sentence in gold
        # a gold sentence inside a longer answer sentence (two sentences the splitter kept whole)
        "As written, jupiter is the largest planet of the solar system and it is far away.",
    ],
)
def test_an_answer_quoting_a_gold_sentence_counts(answer: str) -> None:
    assert quotes_gold(answer, GOLD)


@pytest.mark.parametrize(
    "answer",
    [
        "Boil the pasta in salted water for nine minutes. [1]",  # quotes a non-relevant document
        "Jupiter is largest. [1]",  # paraphrase
        "The solar system. [1]",  # contained, but too short to mean anything
        "Jupiter is the largest planet of the solar systems. [1]",  # not whole words
        "No indexed passage answers this question.",
        "",
    ],
)
def test_an_answer_not_quoting_a_gold_sentence_does_not_count(answer: str) -> None:
    assert not quotes_gold(answer, GOLD)


# --- citations and the summary -------------------------------------------------------------


def test_only_citations_of_relevant_documents_count() -> None:
    assert relevant_citations(answer_citing("d1", "d4"), {"d1"}) == 1
    assert relevant_citations(answer_citing("d2"), {"d1"}) == 0
    assert relevant_citations(answer_citing(), {"d1"}) == 0


def test_summary_by_hand() -> None:
    report = summarize(
        [
            outcome(True, False, quotes_gold=True, relevant_citations=2, citations=3),
            outcome(True, False, relevant_citations=0, citations=1, groundedness=0.5),
            outcome(True, True, groundedness=0.2),  # abstained: its citations are not counted
            outcome(False, True, groundedness=0.1, latency_ms=30.0),
            outcome(False, False, relevant_citations=0, citations=2, mode="llm"),
        ]
    )
    assert (report.answerable, report.unanswerable) == (3, 2)
    assert report.answer_recall == pytest.approx(1 / 3, abs=1e-4)
    assert report.citation_precision == 0.5  # 2 relevant of the 4 citations of answered ones
    assert report.citation_recall == pytest.approx(1 / 3, abs=1e-4)
    assert report.abstention == 0.5
    assert report.false_abstention == pytest.approx(1 / 3, abs=1e-4)
    assert report.groundedness_median == {"answerable": 0.35, "unanswerable": 0.1}
    assert report.groundedness_unscored == 2
    assert (report.latency_p50_ms, report.latency_p95_ms) == (10.0, 30.0)
    assert report.modes == {"extractive": 4, "llm": 1}


def test_no_cited_answer_leaves_citation_precision_undefined() -> None:
    report = summarize([outcome(True, True), outcome(False, True)])
    assert report.citation_precision is None
    assert (report.answer_recall, report.false_abstention, report.abstention) == (0.0, 1.0, 1.0)


# --- halving -------------------------------------------------------------------------------


def test_halves_in_numeric_id_order_hold_out_the_second_half() -> None:
    queries = {str(n): f"claim {n}" for n in (1, 2, 9, 10)}
    qrels = {"1": {"a": 1}, "2": {"b": 1}, "9": {"c": 1, "b": 1}, "10": {"d": 1}}
    corpus = {d: (d, f"text {d}") for d in "abcd"}
    split = split_questions(Dataset(corpus, queries, qrels))
    # id order 1, 2, 9, 10: 1 and 9 answerable, 2 and 10 held out; 9 shares b with 2: dropped.
    assert (split.answerable, split.unanswerable) == (["1"], ["2", "10"])
    assert (split.held_out, split.dropped) == (frozenset("bd"), 1)


def test_a_seed_reorders_reproducibly() -> None:
    queries = {str(n): f"claim {n}" for n in range(20)}
    corpus = {f"doc{q}": ("title", "text") for q in queries}
    dataset = Dataset(corpus, queries, {q: {f"doc{q}": 1} for q in queries})
    first, again = split_questions(dataset, 7), split_questions(dataset, 7)
    assert first == again
    assert first.unanswerable != split_questions(dataset).unanswerable
    assert sorted(first.answerable + first.unanswerable) == sorted(queries)


def test_the_limit_alternates_the_halves() -> None:
    split = split_questions(Dataset(DOCS, QUERIES, QRELS))
    assert limit_questions(split, None) == [("q1", True), ("q2", False), ("q3", True)]
    assert limit_questions(split, 2) == [("q1", True), ("q2", False)]


# --- end to end ----------------------------------------------------------------------------


@pytest.fixture
def one_passage(tmp_path: Path, embedder: Embedder) -> Iterator[Services]:
    """Services answering from the best passage only, so each answer cites one document."""
    settings: Settings = make_settings(tmp_path / "data", retrieval={"answer_passages": 1})
    built = build_services(settings, embedder)
    yield built
    built.close()


def test_metrics_on_a_tiny_dataset_by_hand(one_passage: Services, tmp_path: Path) -> None:
    dataset = load(write_dataset(tmp_path / "ds"), "test")
    split = split_questions(dataset)
    index_without(one_passage, dataset, split, "answers-tiny", reindex=False)
    report = ask_all(one_passage, dataset, limit_questions(split, None), "answers-tiny")
    assert (report.answerable, report.unanswerable) == (2, 1)
    assert report.answer_recall == 1.0 and report.citation_recall == 1.0
    assert report.citation_precision == 1.0
    assert (report.abstention, report.false_abstention) == (1.0, 0.0)
    answerable, unanswerable = report.groundedness_median.values()
    assert answerable is not None and unanswerable is not None and answerable > unanswerable
    assert report.modes == {"extractive": 3}


@pytest.fixture
def dataset_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RAGFLEET_DATA_DIR", str(tmp_path / "data"))
    return write_dataset(tmp_path / "tiny")


def run_json(*args: str) -> dict[str, object]:
    result = runner.invoke(app, ["eval", "answers", *args, "--json"])
    assert result.exit_code == 0, result.output
    report: dict[str, object] = json.loads(result.stdout)
    return report


def test_eval_answers_command(dataset_dir: Path) -> None:
    report = run_json(str(dataset_dir))
    assert report["collection"] == "answers-tiny" and report["llm_configured"] is False
    assert (report["answerable"], report["unanswerable"], report["held_out_documents"]) == (2, 1, 1)
    assert (report["answer_recall"], report["citation_recall"]) == (1.0, 1.0)
    assert (report["abstention"], report["false_abstention"]) == (1.0, 0.0)
    assert report["modes"] == {"extractive": 3}
    table = runner.invoke(app, ["eval", "answers", str(dataset_dir), "--limit-queries", "1"])
    assert table.exit_code == 0, table.output
    assert "answer recall" in table.stdout and "1 answerable, 0 not" in table.stdout


def test_another_seed_removes_the_documents_it_holds_out(dataset_dir: Path) -> None:
    dataset = load(dataset_dir, "test")
    seed = next(s for s in range(100) if split_questions(dataset, s).unanswerable != ["q2"])
    assert run_json(str(dataset_dir))["abstention"] == 1.0  # d2 held out, d1 and d3 indexed
    report = run_json(str(dataset_dir), "--seed", str(seed))  # same collection, reused
    assert (report["abstention"], report["answer_recall"]) == (1.0, 1.0)


def test_reindex_rebuilds_the_collection(dataset_dir: Path) -> None:
    first = run_json(str(dataset_dir), "--reindex")  # nothing to drop yet: not an error
    run_json(str(dataset_dir))
    report = run_json(str(dataset_dir), "--reindex")
    for run in (first, report):  # an empty collection would answer nothing
        assert (run["answer_recall"], run["false_abstention"]) == (1.0, 0.0)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--split", "dev"], "not a BEIR dataset"),
        (["--collection", "Bad Name!"], "collection names are"),
        (["--limit-queries", "0"], "Invalid value for '--limit-queries'"),
    ],
)
def test_bad_input_exits_2(dataset_dir: Path, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["eval", "answers", str(dataset_dir), *args])
    assert result.exit_code == 2
    assert message in result.output


def test_a_folder_that_is_not_beir_exits_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["eval", "answers", str(tmp_path)])
    assert result.exit_code == 2 and "not a BEIR dataset" in result.output
