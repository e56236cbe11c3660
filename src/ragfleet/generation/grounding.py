"""Groundedness: the share of an answer's sentences that its cited passages support.

Cheap and LLM-free: each answer sentence (citation markers removed) is embedded and compared
with the passages it cites (all retrieved passages when the sentence cites none); a sentence is
supported when the best cosine similarity reaches ``sentence_similarity``. An answer whose share
is below ``threshold`` is flagged ``grounded: false``. Extractive answers quote the passages
verbatim, so they are grounded by construction, cost nothing to score and stay out of the
groundedness histogram. An answer with no checkable sentence (too short), or whose scoring failed
(a remote embedder is down), is left unscored (``None``) rather than failing the answer.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from ragfleet.domain import SearchHit
from ragfleet.embedding import Embedder
from ragfleet.errors import RagfleetError
from ragfleet.telemetry import metrics
from ragfleet.text import split_sentences

logger = logging.getLogger(__name__)

_MARKER = re.compile(r"\s*\[(\d{1,3})\]")
MIN_WORDS = 3


@dataclass(frozen=True, slots=True)
class Groundedness:
    score: float | None
    grounded: bool | None


UNSCORED = Groundedness(None, None)


class GroundednessScorer:
    def __init__(self, embedder: Embedder, sentence_similarity: float, threshold: float) -> None:
        self.embedder = embedder
        self.sentence_similarity = sentence_similarity
        self.threshold = threshold

    def _record(self, score: float) -> Groundedness:
        result = Groundedness(round(score, 4), score >= self.threshold)
        metrics.ANSWER_GROUNDEDNESS.observe(score)
        if not result.grounded:
            metrics.UNGROUNDED_ANSWERS.inc()
        return result

    @staticmethod
    def verbatim() -> Groundedness:
        """An extractive answer: every sentence is a quotation."""
        return Groundedness(1.0, True)

    def score(self, answer: str, passages: list[SearchHit]) -> Groundedness:
        claims: list[tuple[str, list[int]]] = []
        for sentence in split_sentences(answer.replace("\n", " ")):
            cited = [int(n) for n in _MARKER.findall(sentence) if 1 <= int(n) <= len(passages)]
            text = _MARKER.sub("", sentence).strip()
            if len(text.split()) >= MIN_WORDS:
                claims.append((text, cited or list(range(1, len(passages) + 1))))
        if not claims or not passages:
            metrics.GROUNDING_UNSCORED.labels("no_claims").inc()
            return UNSCORED
        try:
            vectors = self.embedder.embed([c for c, _ in claims] + [p.text for p in passages])
        except RagfleetError as exc:
            logger.warning("groundedness not scored: %s", exc.message)
            metrics.GROUNDING_UNSCORED.labels("error").inc()
            return UNSCORED
        claim_vectors, passage_vectors = vectors[: len(claims)], vectors[len(claims) :]
        similarity = claim_vectors @ passage_vectors.T
        supported = sum(
            max(float(similarity[i, n - 1]) for n in cited) >= self.sentence_similarity
            for i, (_, cited) in enumerate(claims)
        )
        return self._record(supported / len(claims))
