"""Extractive answers: the sentences of the top passages that best match the question.

Used when no LLM is configured or it fails. Sentences are scored by embedding similarity to the
question plus the share of the question's terms they contain, with a small preference for
higher-ranked passages. The chosen sentences keep their citation and are read in passage order.
Only prose is quoted: code blocks, table rows and drawn trees stay in the chunks (search shows
them) but make no sense read out as a sentence. A sentence already chosen (also as part of a
longer one, as overlapping chunks repeat text) is not chosen again.
"""

from __future__ import annotations

import re

from ragfleet.domain import SearchHit
from ragfleet.embedding import Embedder
from ragfleet.retrieval.sparse import SparseEncoder
from ragfleet.text import split_sentences

MAX_CANDIDATES = 80
NO_PROSE = "The most relevant passage is code or a table, shown in the citation."
_FENCE = re.compile(r"^\s*(```|~~~)")
_NOT_PROSE = re.compile(r"^\s*(\||[-+=]{3,}|\S*[├└│┌┐┘┬┴┼─]|\S+/\s*$)|^( {4}|\t)")
_ANSWER_SENTENCE = re.compile(r"(?<=\]) (?=\S)")
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
            for sentence in split_sentences(prose(hit.text)):
                if len(sentence.split()) >= MIN_WORDS:
                    candidates.append((number, sentence))
        candidates = candidates[:MAX_CANDIDATES]
        if not candidates:
            return f"{NO_PROSE} [1]", [1]
        vectors = self.embedder.embed([question] + [s for _, s in candidates], interactive=True)
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
        seen: list[str] = []
        for i in sorted(range(len(candidates)), key=lambda i: -scores[i]):
            words = " ".join(candidates[i][1].lower().split())
            if not any(words in other or other in words for other in seen):
                chosen.append(i)
                seen.append(words)
            if len(chosen) == self.sentences:
                break
        picked = [candidates[i] for i in sorted(chosen)]
        return " ".join(f"{text} [{n}]" for n, text in picked), [n for n, _ in picked]


def prose(text: str) -> str:
    """The text without fenced code, table rows, drawn trees or indented code, on one line."""
    kept: list[str] = []
    fenced = False
    for line in text.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
        elif not fenced and not _NOT_PROSE.match(line):
            kept.append(line.strip())
    return " ".join(line for line in kept if line)


def answer_sentences(answer: str) -> list[str]:
    """An extractive answer cut after each citation marker, to stream it sentence by sentence;
    joined, the pieces are the answer."""
    parts = _ANSWER_SENTENCE.split(answer)
    return [part + " " for part in parts[:-1]] + parts[-1:]
