"""Extractive answers: the sentences of the top passages that best match the question.

Used when no LLM is configured or it fails. Sentences are scored by embedding similarity to the
question plus the share of the question's terms they contain, with a small preference for
higher-ranked passages. The chosen sentences keep their citation and are read in passage order.
"""

from __future__ import annotations

from ragfleet.domain import SearchHit
from ragfleet.embedding import Embedder
from ragfleet.retrieval.sparse import SparseEncoder
from ragfleet.text import split_sentences

MAX_CANDIDATES = 80
MIN_WORDS = 4
RANK_PENALTY = 0.02  # score lost per passage rank
TERM_WEIGHT = 0.3  # weight of the question-term overlap beside cosine similarity


class ExtractiveAnswerer:
    def __init__(self, embedder: Embedder, sparse: SparseEncoder, sentences: int = 3) -> None:
        self.embedder = embedder
        self.sparse = sparse
        self.sentences = sentences

    def _overlap(self, question: set[str], sentence: str) -> float:
        return len(question & set(self.sparse.terms(sentence))) / len(question) if question else 0.0

    def answer(self, question: str, passages: list[SearchHit]) -> tuple[str, list[int]]:
        """The answer text with ``[n]`` markers, and the passage numbers it cites."""
        candidates: list[tuple[int, str]] = []
        for number, hit in enumerate(passages, start=1):
            for sentence in split_sentences(hit.text.replace("\n", " ")):
                if len(sentence.split()) >= MIN_WORDS:
                    candidates.append((number, sentence))
        candidates = candidates[:MAX_CANDIDATES]
        if not candidates:
            return f"{passages[0].text} [1]", [1]
        vectors = self.embedder.embed([question] + [s for _, s in candidates])
        terms = set(self.sparse.terms(question))
        scores = [
            float(similarity)
            + TERM_WEIGHT * self._overlap(terms, sentence)
            - RANK_PENALTY * (number - 1)
            for similarity, (number, sentence) in zip(
                vectors[1:] @ vectors[0], candidates, strict=True
            )
        ]
        chosen: list[int] = []
        for i in sorted(range(len(candidates)), key=lambda i: -scores[i]):
            if candidates[i][1] not in {candidates[j][1] for j in chosen}:
                chosen.append(i)
            if len(chosen) == self.sentences:
                break
        picked = [candidates[i] for i in sorted(chosen)]
        return " ".join(f"{text} [{n}]" for n, text in picked), [n for n, _ in picked]
