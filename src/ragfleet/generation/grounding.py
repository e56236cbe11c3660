"""Groundedness: the share of an answer's sentences that its cited passages support.

Cheap and LLM-free: each answer sentence (citation markers removed) is embedded and compared
with the passages it cites (all retrieved passages when the sentence cites none); a sentence is
supported when the best cosine similarity reaches ``sentence_similarity``. An answer whose share
is below ``threshold`` is flagged ``grounded: false``. Extractive answers quote the passages
verbatim, so they are grounded by construction and cost nothing to score.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ragfleet.domain import SearchHit
from ragfleet.embedding import Embedder
from ragfleet.ingest.text import split_sentences
from ragfleet.telemetry import metrics

_MARKER = re.compile(r"\s*\[(\d{1,3})\]")
MIN_WORDS = 3


@dataclass(frozen=True, slots=True)
class Groundedness:
    score: float
    grounded: bool


class GroundednessScorer:
    def __init__(self, embedder: Embedder, sentence_similarity: float, threshold: float) -> None:
        self.embedder = embedder
        self.sentence_similarity = sentence_similarity
        self.threshold = threshold

    def _record(self, score: float) -> Groundedness:
        result = Groundedness(round(score, 4), score >= self.threshold)
        metrics.ANSWER_GROUNDEDNESS.observe(result.score)
        if not result.grounded:
            metrics.UNGROUNDED_ANSWERS.inc()
        return result

    def verbatim(self) -> Groundedness:
        """An extractive answer: every sentence is a quotation."""
        return self._record(1.0)

    def score(self, answer: str, passages: list[SearchHit]) -> Groundedness:
        claims: list[tuple[str, list[int]]] = []
        for sentence in split_sentences(answer.replace("\n", " ")):
            cited = [int(n) for n in _MARKER.findall(sentence) if 1 <= int(n) <= len(passages)]
            text = _MARKER.sub("", sentence).strip()
            if len(text.split()) >= MIN_WORDS:
                claims.append((text, cited or list(range(1, len(passages) + 1))))
        if not claims or not passages:
            return self._record(0.0 if passages else 1.0)
        vectors = self.embedder.embed([c for c, _ in claims] + [p.text for p in passages])
        claim_vectors, passage_vectors = vectors[: len(claims)], vectors[len(claims) :]
        similarity = claim_vectors @ passage_vectors.T
        supported = sum(
            max(float(similarity[i, n - 1]) for n in cited) >= self.sentence_similarity
            for i, (_, cited) in enumerate(claims)
        )
        return self._record(supported / len(claims))
