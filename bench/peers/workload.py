"""What the runners of bench/peers.py share, on the standard library alone (each runs in its own
virtualenv, without ragfleet): read the workload, time the indexing, collect the rankings and
the latency samples, and print them as one JSON line for bench/peers.py to score."""

from __future__ import annotations

import json
import resource
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import version
from pathlib import Path

MODES = ("hybrid", "dense", "sparse")
Corpus = list[tuple[str, str, str]]  # (id, title, text)
# (mode, query, nodes wanted) -> the document id of each node found, best first
Search = Callable[[str, str, int], list[str]]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def latency(search: Search, queries: list[str], top_k: int, clients: int) -> dict[str, object]:
    """Hybrid searches of every query spread over ``clients`` threads: the wall time and the
    seconds of each search."""

    def one(text: str) -> float:
        began = time.perf_counter()
        search("hybrid", text, top_k)
        return time.perf_counter() - began

    began = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        samples = list(pool.map(one, queries))
    return {"seconds": time.perf_counter() - began, "samples": samples}


def run(index: Callable[[Corpus], tuple[Search, int]], packages: list[str]) -> None:
    """Index the workload's documents (timed), rank its scored queries in every mode, time the
    hybrid search, and print the report with the versions of ``packages``. ``index`` returns the
    search and the node count."""
    workload = json.loads(Path(sys.argv[1]).read_text())
    corpus: Corpus = [(str(i), str(title), str(text)) for i, title, text in workload["corpus"]]
    began = time.perf_counter()
    search, nodes = index(corpus)
    ingest_seconds = time.perf_counter() - began
    ingest_rss = peak_rss_mb()
    depth = workload["node_depth"]
    rankings = {
        mode: {qid: search(mode, text, depth) for qid, text in workload["scored"].items()}
        for mode in MODES
    }
    timings = {
        str(clients): latency(search, workload["timed"], workload["top_k"], clients)
        for clients in workload["clients"]
    }
    report = {
        "versions": {name: version(name) for name in packages},
        "documents": len(corpus),
        "nodes": nodes,
        "ingest_seconds": round(ingest_seconds, 2),
        "ingest_peak_rss_mb": round(ingest_rss),
        "query_peak_rss_mb": round(peak_rss_mb()),
        "rankings": rankings,
        "latency": timings,
    }
    print(json.dumps(report))
