"""Groundedness and relevance, cheap and LLM-free, with the retrieval embedding model.

An LLM answer's groundedness is the share of its sentences that its cited passages support: each
sentence (citation markers removed) is compared with the passages it cites (all retrieved
passages when it cites none); it is supported when the best cosine similarity reaches
``sentence_similarity``. Below ``threshold`` the answer is flagged ``grounded: false``.

Relevance is the question's best cosine similarity with a retrieved passage. Under
``relevance_floor`` no passage is about the question, so the answer abstains; the floor is
calibrated on BEIR SciFact (``ragfleet eval floor``). An extractive answer quotes passages, so
its sentences are supported by construction; what can fail is that the quoted passages are about
the question, so its groundedness is that relevance. An answer with no checkable sentence, or
whose scoring failed (a remote embedder is down), is left unscored (``None``).
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
    def __init__(
        self,
        embedder: Embedder,
        sentence_similarity: float,
        threshold: float,
        relevance_floor: float = 0.0,
    ) -> None:
        self.embedder = embedder
        self.sentence_similarity = sentence_similarity
        self.threshold = threshold
        self.relevance_floor = relevance_floor

    def _record(self, score: float) -> Groundedness:
        result = Groundedness(round(score, 4), score >= self.threshold)
        metrics.ANSWER_GROUNDEDNESS.observe(score)
        if not result.grounded:
            metrics.UNGROUNDED_ANSWERS.inc()
        return result

    def relevance(self, question: str, passages: list[SearchHit]) -> float | None:
        """The question's best cosine similarity with a passage; None when not scorable."""
        if not passages:
            return None
        try:
            vectors = self.embedder.embed([question] + [p.text for p in passages], interactive=True)
        except RagfleetError as exc:
            logger.warning("relevance not scored: %s", exc.message)
            return None
        return float((vectors[1:] @ vectors[0]).max())

    def relevant(self, relevance: float | None) -> bool:
        """Whether passages this relevant may be answered from (unscored: yes)."""
        return relevance is None or relevance >= self.relevance_floor

    def support(self, relevance: float | None, answered: bool) -> Groundedness:
        """An extractive answer's groundedness: how relevant the passages it quotes are. An
        abstention is never grounded."""
        if relevance is None and answered:
            metrics.GROUNDING_UNSCORED.labels("error").inc()
            return UNSCORED
        score = round(max(relevance or 0.0, 0.0), 4)
        return Groundedness(score, answered and self.relevant(relevance))

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
            vectors = self.embedder.embed(
                [c for c, _ in claims] + [p.text for p in passages], interactive=True
            )
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
