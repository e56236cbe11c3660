from __future__ import annotations

from typing import cast

from prometheus_client import REGISTRY

from ragfleet.embedding import Embedder
from ragfleet.errors import DependencyError
from ragfleet.generation.grounding import UNSCORED, GroundednessScorer
from tests.utils.hits import search_hit

PASSAGES = [
    search_hit(1.0, "a", "a", text="Jupiter is the largest planet in the solar system."),
    search_hit(0.5, "b", "b", text="Boil pasta in salted water for nine minutes."),
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


class _BrokenEmbedder:
    """An embedder whose endpoint is down."""

    dimensions = 384

    def embed(self, texts: list[str], *, interactive: bool = False) -> object:
        raise DependencyError("embeddings", "connection refused")


def test_an_answer_without_a_checkable_sentence_is_left_unscored(embedder: Embedder) -> None:
    scorer = GroundednessScorer(embedder, sentence_similarity=0.5, threshold=0.6)
    before = REGISTRY.get_sample_value(
        "ragfleet_answer_grounding_unscored_total", {"reason": "no_claims"}
    )
    result = scorer.score("Yes [1].", PASSAGES)
    assert result == UNSCORED
    after = REGISTRY.get_sample_value(
        "ragfleet_answer_grounding_unscored_total", {"reason": "no_claims"}
    )
    assert after == (before or 0) + 1


def test_a_failing_embedder_leaves_the_answer_unscored_instead_of_failing_it() -> None:
    scorer = GroundednessScorer(
        cast(Embedder, _BrokenEmbedder()), sentence_similarity=0.5, threshold=0.6
    )
    result = scorer.score("Jupiter is the largest planet in the solar system [1].", PASSAGES)
    assert (result.score, result.grounded) == (None, None)
