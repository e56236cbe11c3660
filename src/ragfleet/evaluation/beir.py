"""BEIR-format evaluation: ingest a corpus, run the queries, score against the qrels.

BEIR judges documents, not chunks, so each document is ranked by its best chunk. nDCG uses the
graded relevance as gain (as pytrec_eval does), so results compare with published BEIR numbers.
"""

from __future__ import annotations

import csv
import json
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from ragfleet.domain import SearchHit
from ragfleet.errors import BadInputError

CUTOFFS = {"ndcg@10": 10, "recall@10": 10, "recall@100": 100, "mrr@10": 10}
RANK_DEPTH = 100


@dataclass(slots=True)
class Dataset:
    corpus: dict[str, tuple[str, str]]  # id -> (title, text)
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]


def _jsonl(path: Path) -> Iterable[dict[str, object]]:
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as exc:
                    raise BadInputError(f"{path}:{number}: invalid JSON ({exc.msg})") from exc


def load(directory: Path, split: str) -> Dataset:
    """Read corpus.jsonl, queries.jsonl and qrels/<split>.tsv; only judged queries are kept."""
    paths = [
        directory / "corpus.jsonl",
        directory / "queries.jsonl",
        directory / "qrels" / f"{split}.tsv",
    ]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise BadInputError(f"not a BEIR dataset, missing: {', '.join(missing)}")
    corpus = {
        str(row["_id"]): (str(row.get("title") or ""), str(row.get("text") or ""))
        for row in _jsonl(paths[0])
    }
    qrels: dict[str, dict[str, int]] = {}
    with paths[2].open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            qrels.setdefault(row["query-id"], {})[row["corpus-id"]] = int(row["score"])
    queries = {
        str(row["_id"]): str(row["text"]) for row in _jsonl(paths[1]) if str(row["_id"]) in qrels
    }
    if not queries:
        raise BadInputError(f"no query of {paths[1]} is judged in {paths[2]}")
    return Dataset(corpus, queries, qrels)


def default_collection(directory: Path) -> str:
    """``beir-<folder>``: the collection ``ragfleet eval beir`` indexes a dataset into."""
    return "beir-" + "".join(c if c.isalnum() else "-" for c in directory.name.lower())


def rank_documents(hits: list[SearchHit], depth: int = RANK_DEPTH) -> list[str]:
    """Document ids in order of their best chunk."""
    ranked = dict.fromkeys(h.payload.source or h.document_id for h in hits)
    return list(ranked)[:depth]


def score(ranking: list[str], relevant: dict[str, int]) -> dict[str, float]:
    gains = [relevant.get(doc, 0) for doc in ranking]
    dcg = sum(g / math.log2(i + 2) for i, g in enumerate(gains[:10]))
    ideal = sorted(relevant.values(), reverse=True)[:10]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    positives = {d for d, g in relevant.items() if g > 0}
    first = next((i for i, g in enumerate(gains[:10]) if g > 0), None)
    return {
        "ndcg@10": dcg / idcg if idcg else 0.0,
        "recall@10": len(positives & set(ranking[:10])) / len(positives) if positives else 0.0,
        "recall@100": len(positives & set(ranking[:100])) / len(positives) if positives else 0.0,
        "mrr@10": 1.0 / (first + 1) if first is not None else 0.0,
    }


def nearest_rank(ordered: list[float], quantile: float) -> float:
    """The nearest-rank percentile of sorted values (0.0 for none)."""
    return ordered[max(0, math.ceil(quantile * len(ordered)) - 1)] if ordered else 0.0


def evaluate(
    dataset: Dataset, search: Callable[[str], list[SearchHit]], on_query: Callable[[], None]
) -> dict[str, float]:
    """Mean metrics over the queries, plus latency percentiles in milliseconds."""
    totals = dict.fromkeys(CUTOFFS, 0.0)
    latencies: list[float] = []
    for query_id, text in dataset.queries.items():
        began = time.perf_counter()
        hits = search(text)
        latencies.append((time.perf_counter() - began) * 1000)
        for name, value in score(rank_documents(hits), dataset.qrels[query_id]).items():
            totals[name] += value
        on_query()
    count = len(dataset.queries)
    result = {name: round(total / count, 4) for name, total in totals.items()}
    latencies.sort()
    result["latency_p50_ms"] = round(nearest_rank(latencies, 0.5), 2)
    result["latency_p95_ms"] = round(nearest_rank(latencies, 0.95), 2)
    result["queries"] = count
    return result
