from __future__ import annotations

from ragfleet.domain import SearchHit
from ragfleet.embedding import Embedder
from ragfleet.generation.grounding import GroundednessScorer

PASSAGES = [
    SearchHit(
        1.0, "a", {"document_id": "a", "text": "Jupiter is the largest planet in the solar system."}
    ),
    SearchHit(
        0.5, "b", {"document_id": "b", "text": "Boil pasta in salted water for nine minutes."}
    ),
]


def test_share_of_supported_sentences(embedder: Embedder) -> None:
    scorer = GroundednessScorer(embedder, sentence_similarity=0.5, threshold=0.6)
    supported = scorer.score("Jupiter is the biggest planet of the solar system [1].", PASSAGES)
    assert (supported.score, supported.grounded) == (1.0, True)
    half = scorer.score(
        "Jupiter is the largest planet [1]. The stock market closed higher on Friday [2].",
        PASSAGES,
    )
    assert (half.score, half.grounded) == (0.5, False)


def test_a_sentence_is_checked_against_the_passage_it_cites(embedder: Embedder) -> None:
    scorer = GroundednessScorer(embedder, sentence_similarity=0.5, threshold=0.6)
    miscited = scorer.score("Jupiter is the largest planet in the solar system [2].", PASSAGES)
    uncited = scorer.score("Jupiter is the largest planet in the solar system.", PASSAGES)
    assert miscited.score == 0.0 and uncited.score == 1.0
