"""Calibration of the relevance floor under which answers abstain."""

from __future__ import annotations

from ragfleet.embedding import Embedder
from ragfleet.evaluation.abstention import best_similarities, choose_floor
from ragfleet.evaluation.beir import Dataset


def test_the_floor_answers_the_asked_share_of_answerable_questions() -> None:
    answerable = [0.9, 0.8, 0.7, 0.65, 0.3]
    unanswerable = [0.6, 0.5, 0.3, 0.2, 0.1]
    everything = choose_floor(answerable, unanswerable, answer_rate=1.0)
    assert (everything.floor, everything.answered, everything.abstained) == (0.3, 1.0, 0.4)
    most = choose_floor(answerable, unanswerable, answer_rate=0.8)
    assert (most.floor, most.answered, most.abstained) == (0.65, 0.8, 1.0)
    assert (most.queries, most.answerable_median, most.unanswerable_median) == (5, 0.7, 0.3)


def test_held_out_relevant_documents_lower_the_best_similarity(embedder: Embedder) -> None:
    dataset = Dataset(
        corpus={
            "jupiter": ("Jupiter", "Jupiter is the largest planet in the solar system."),
            "pasta": ("Pasta", "Boil pasta in salted water for nine minutes."),
        },
        queries={"q1": "Which planet is the largest?"},
        qrels={"q1": {"jupiter": 1}},
    )
    (answerable,), (unanswerable,) = best_similarities(dataset, embedder)
    assert answerable > unanswerable + 0.3
