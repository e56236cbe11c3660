"""Extractive answers: the sentences of the top passages that best match the question.

Used when no LLM is configured or it fails. Sentences are scored by embedding similarity to the
question, with a small preference for higher-ranked passages, and each keeps its citation.
"""

from __future__ import annotations

from ragfleet.domain import SearchHit
from ragfleet.embedding import Embedder
from ragfleet.ingest.text import split_sentences

MAX_CANDIDATES = 80
MIN_WORDS = 4
RANK_PENALTY = 0.02  # score lost per passage rank


class ExtractiveAnswerer:
    def __init__(self, embedder: Embedder, sentences: int = 3) -> None:
        self.embedder = embedder
        self.sentences = sentences

    def answer(self, question: str, passages: list[SearchHit]) -> str:
        candidates: list[tuple[int, str]] = []
        for number, hit in enumerate(passages, start=1):
            for sentence in split_sentences(hit.text.replace("\n", " ")):
                if len(sentence.split()) >= MIN_WORDS:
                    candidates.append((number, sentence))
        candidates = candidates[:MAX_CANDIDATES]
        if not candidates:
            return " ".join(f"{hit.text} [{n}]" for n, hit in enumerate(passages[:1], start=1))
        vectors = self.embedder.embed([question] + [s for _, s in candidates])
        scores = vectors[1:] @ vectors[0]
        ranked = sorted(
            range(len(candidates)),
            key=lambda i: -(float(scores[i]) - RANK_PENALTY * (candidates[i][0] - 1)),
        )
        chosen: list[tuple[int, str]] = []
        for i in ranked:
            if candidates[i][1] not in {s for _, s in chosen}:
                chosen.append(candidates[i])
            if len(chosen) == self.sentences:
                break
        return " ".join(f"{sentence} [{number}]" for number, sentence in chosen)
