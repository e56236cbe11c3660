"""End-to-end answer quality on a BEIR dataset: does the answer path quote the right passage,
cite the right documents, and abstain when the index holds no answer?

The judged questions are put in id order (numeric ids numerically; shuffled with a seed) and
dealt alternately into two halves. The relevant documents of the second half are held out of
the index, so those questions are UNANSWERABLE (the hold-out of ``evaluation.abstention``, here
through the whole answer path). A question of the first half is ANSWERABLE when every one of its
relevant documents is indexed; the others (a relevant document shared with a held-out question)
are dropped. Every question is asked through the answer path the API uses.

BEIR judges documents and has no evidence spans, so the gold spans of a question are the
sentences of its relevant documents (``ragfleet.text`` splitting and normalisation). Sentences
are compared by their lower-case words (punctuation, markup and ``[n]`` markers ignored); two
match when either contains the other and the contained one has at least ``MIN_WORDS`` words.
An answer ABSTAINS when it cites no passage: no passage reached the relevance floor (the answer
is "No indexed passage answers this question.", ``grounded: false``), or an LLM declined.

Metrics (answerable: the answerable questions asked; likewise unanswerable):

- ``answer_recall``: share of answerable questions whose answer does not abstain and has a
  sentence matching a gold sentence;
- ``citation_precision``: over every citation of the non-abstaining answers to answerable
  questions, the share whose document is relevant to the question (one count per citation);
- ``citation_recall``: share of answerable questions whose answer cites at least one relevant
  document, out of the ``answer_passages`` passages it was given (its k);
- ``abstention``: share of unanswerable questions whose answer abstains;
  ``false_abstention``: share of answerable questions whose answer abstains;
- ``groundedness_median``: median ``groundedness`` of each half's answers (unscored ones left
  out and counted);
- ``latency_p50_ms`` / ``latency_p95_ms``: retrieval plus answer per question (nearest rank).

An LLM rephrases, so its answer recall counts only sentences it quotes nearly verbatim: it is a
lower bound there, exact for extractive answers.
"""

from __future__ import annotations

import random
import re
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import zip_longest

from ragfleet.evaluation.beir import Dataset, nearest_rank
from ragfleet.evaluation.fusion_tuning import split as ordered_halves
from ragfleet.generation.answerer import CITATION, Answer
from ragfleet.text import normalize, split_sentences

MIN_WORDS = 4  # a shorter sentence ("Results.") would match almost any abstract
_WORD = re.compile(r"\w+")


@dataclass(frozen=True, slots=True)
class Split:
    answerable: list[str]
    unanswerable: list[str]
    held_out: frozenset[str]  # relevant documents of the unanswerable half, not indexed
    dropped: int  # answerable-half questions with a relevant document not indexed


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one answer scored."""

    answerable: bool
    abstained: bool
    quotes_gold: bool
    relevant_citations: int
    citations: int
    groundedness: float | None
    latency_ms: float
    mode: str


@dataclass(slots=True)
class Report:
    answerable: int
    unanswerable: int
    answer_recall: float
    citation_precision: float | None  # None: no answerable question was answered with a citation
    citation_recall: float
    abstention: float
    false_abstention: float
    groundedness_median: dict[str, float | None]
    groundedness_unscored: int
    latency_p50_ms: float
    latency_p95_ms: float
    modes: dict[str, int] = field(default_factory=dict)  # answers per mode (extractive, llm)


def relevant_documents(dataset: Dataset, query_id: str) -> set[str]:
    return {doc for doc, grade in dataset.qrels[query_id].items() if grade > 0}


def split_questions(dataset: Dataset, seed: int | None = None) -> Split:
    """The answerable and unanswerable halves, and the documents held out of the index."""
    ordered = ordered_halves(list(dataset.queries))["all"]
    if seed is not None:
        random.Random(seed).shuffle(ordered)
    first, second = ordered[0::2], ordered[1::2]
    held_out = frozenset(d for q in second for d in relevant_documents(dataset, q))
    indexed = dataset.corpus.keys() - held_out
    answerable = [q for q in first if relevant_documents(dataset, q) <= indexed]
    return Split(answerable, second, held_out, len(first) - len(answerable))


def indexed_corpus(dataset: Dataset, split: Split) -> Dataset:
    """The dataset without its held-out documents: what the index holds."""
    corpus = {k: v for k, v in dataset.corpus.items() if k not in split.held_out}
    return Dataset(corpus, dataset.queries, dataset.qrels)


def limit_questions(split: Split, limit: int | None) -> list[tuple[str, bool]]:
    """The questions to ask with whether each is answerable, alternating halves; at most
    ``limit`` (the index stays the same whatever the limit)."""
    pairs = zip_longest(
        [(q, True) for q in split.answerable], [(q, False) for q in split.unanswerable]
    )
    mixed = [question for pair in pairs for question in pair if question is not None]
    return mixed if limit is None else mixed[:limit]


def match_key(sentence: str) -> str:
    """A sentence's lower-case words, without ``[n]`` markers, punctuation or markup."""
    return " ".join(_WORD.findall(normalize(CITATION.sub(" ", sentence)).lower()))


def gold_sentences(dataset: Dataset, documents: set[str]) -> list[str]:
    """Match keys of the sentences of the documents (their text, or title when it has none,
    as they are indexed)."""
    keys = []
    for doc in sorted(documents & dataset.corpus.keys()):
        title, text = dataset.corpus[doc]
        keys += [match_key(s) for s in split_sentences(normalize(text or title))]
    return [key for key in keys if len(key.split()) >= MIN_WORDS]


def quotes_gold(answer: str, gold: list[str]) -> bool:
    """Whether a sentence of the answer and a gold sentence contain one another."""
    for sentence in split_sentences(answer.replace("\n", " ")):
        key = match_key(sentence)
        if len(key.split()) < MIN_WORDS:
            continue
        padded = f" {key} "
        if any(padded in f" {g} " or f" {g} " in padded for g in gold):
            return True
    return False


def cited_documents(answer: Answer) -> list[str]:
    """The dataset id of each citation's document (its source, as ``eval beir`` ranks them)."""
    return [c.source or c.document_id for c in answer.citations]


def relevant_citations(answer: Answer, relevant: set[str]) -> int:
    """How many of the answer's citations are of a relevant document."""
    return sum(doc in relevant for doc in cited_documents(answer))


def abstained(answer: Answer) -> bool:
    return not answer.citations


def judge(
    dataset: Dataset, query_id: str, answerable: bool, answer: Answer, latency_ms: float
) -> Outcome:
    relevant = relevant_documents(dataset, query_id)
    gold = gold_sentences(dataset, relevant) if answerable else []
    silent = abstained(answer)
    return Outcome(
        answerable=answerable,
        abstained=silent,
        quotes_gold=not silent and quotes_gold(answer.answer, gold),
        relevant_citations=relevant_citations(answer, relevant),
        citations=len(answer.citations),
        groundedness=answer.groundedness.score,
        latency_ms=latency_ms,
        mode=answer.mode,
    )


def evaluate(
    dataset: Dataset,
    questions: list[tuple[str, bool]],
    ask: Callable[[str], Answer],
    on_question: Callable[[], None],
) -> Report:
    """Ask each question (id, answerable) and score the answers."""
    outcomes = []
    for query_id, answerable in questions:
        began = time.perf_counter()
        answer = ask(dataset.queries[query_id])
        latency_ms = (time.perf_counter() - began) * 1000
        outcomes.append(judge(dataset, query_id, answerable, answer, latency_ms))
        on_question()
    return summarize(outcomes)


def _share(count: int, total: int) -> float:
    return round(count / total, 4) if total else 0.0


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 4) if values else None


def summarize(outcomes: list[Outcome]) -> Report:
    """The metrics of the module docstring over the scored answers."""
    yes = [o for o in outcomes if o.answerable]
    no = [o for o in outcomes if not o.answerable]
    answered = [o for o in yes if not o.abstained]
    citations = sum(o.citations for o in answered)
    latencies = sorted(o.latency_ms for o in outcomes)
    return Report(
        answerable=len(yes),
        unanswerable=len(no),
        answer_recall=_share(sum(o.quotes_gold for o in yes), len(yes)),
        citation_precision=(
            _share(sum(o.relevant_citations for o in answered), citations) if citations else None
        ),
        citation_recall=_share(sum(o.relevant_citations > 0 for o in yes), len(yes)),
        abstention=_share(sum(o.abstained for o in no), len(no)),
        false_abstention=_share(sum(o.abstained for o in yes), len(yes)),
        groundedness_median={
            "answerable": _median([o.groundedness for o in yes if o.groundedness is not None]),
            "unanswerable": _median([o.groundedness for o in no if o.groundedness is not None]),
        },
        groundedness_unscored=sum(o.groundedness is None for o in outcomes),
        latency_p50_ms=round(nearest_rank(latencies, 0.5), 1),
        latency_p95_ms=round(nearest_rank(latencies, 0.95), 1),
        modes=dict(Counter(o.mode for o in outcomes)),
    )
