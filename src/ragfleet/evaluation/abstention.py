"""Calibrate the relevance floor under which answers abstain.

An answer should abstain when no indexed passage is about the question. The signal is the
question's best cosine similarity with a passage (the same embedding model as retrieval). To see
where that signal separates the two cases, each judged query of a BEIR dataset is scored twice:

- answerable: the best similarity over the whole corpus (its relevant documents are in it);
- unanswerable: the best similarity over the corpus without its relevant documents, i.e. the
  same question asked of an index that does not hold the answer.

Held-out questions are hard negatives (the corpus keeps abstracts on the same topic), so the
two lists overlap; the floor is set for answering nearly every answerable question, and the
share of held-out questions it abstains on is reported beside it.
Documents are embedded whole (title and text), as BEIR judges documents, not chunks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ragfleet.embedding import Embedder
from ragfleet.evaluation.beir import Dataset

BATCH = 256


@dataclass(frozen=True, slots=True)
class FloorReport:
    floor: float
    answered: float  # share of answerable questions above the floor
    abstained: float  # share of unanswerable questions below it
    queries: int
    answerable_median: float
    unanswerable_median: float


def best_similarities(dataset: Dataset, embedder: Embedder) -> tuple[list[float], list[float]]:
    """For each judged query: best similarity with and without its relevant documents."""
    ids = list(dataset.corpus)
    texts = [f"{title}\n{text}".strip() for title, text in dataset.corpus.values()]
    corpus = np.vstack([embedder.embed(texts[i : i + BATCH]) for i in range(0, len(texts), BATCH)])
    position = {doc_id: i for i, doc_id in enumerate(ids)}
    query_ids = list(dataset.queries)
    questions = embedder.embed([dataset.queries[q] for q in query_ids])
    similarity = questions @ corpus.T
    answerable, unanswerable = [], []
    for row, query_id in enumerate(query_ids):
        scores = similarity[row].copy()
        answerable.append(float(scores.max()))
        relevant = [position[d] for d in dataset.qrels[query_id] if d in position]
        scores[relevant] = -1.0
        unanswerable.append(float(scores.max()))
    return answerable, unanswerable


def choose_floor(
    answerable: list[float], unanswerable: list[float], answer_rate: float = 0.99
) -> FloorReport:
    """The highest floor that still answers ``answer_rate`` of the answerable questions, with
    the share of held-out questions it abstains on. Answering comes first: a needless
    abstention hides an answer the index holds, a weak passage is still cited and checkable."""
    yes, no = np.asarray(answerable), np.asarray(unanswerable)
    allowed_misses = int(len(yes) * (1 - answer_rate) + 1e-9)
    floor = float(np.sort(yes)[allowed_misses])
    return FloorReport(
        floor=round(floor, 3),
        answered=round(float((yes >= floor).mean()), 3),
        abstained=round(float((no < floor).mean()), 3),
        queries=len(answerable),
        answerable_median=round(float(np.median(yes)), 3),
        unanswerable_median=round(float(np.median(no)), 3),
    )
