"""Search latency and throughput over loopback HTTP, against the same search in-process and a
bare single-query encode loop of the same model.

    python bench/latency.py ../shared/data/beir/scifact --data-dir DIR [--requests 300]

DIR must hold an index built by ``ragfleet eval beir`` (collection ``beir-scifact``). The script
first times a bare loop embedding one query at a time with the ONNX query encoder (the floor a
search cannot beat), then the search service in-process, then starts ``ragfleet serve`` on a
free loopback port (Qdrant Edge is single-process, so never both at once) and replays the
SciFact queries with 1, 8 and 32 concurrent clients. The server's peak RSS (VmHWM) is read
after the load and its resident size again after a pause, to show what comes back.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from pathlib import Path

import httpx

from harness import percentiles, rss_mb, serve
from ragfleet.embedding.local import build_encoder
from ragfleet.evaluation.beir import load
from ragfleet.retrieval.search import SearchRequest
from ragfleet.retrieval.store import SearchMode
from ragfleet.services import build_services
from ragfleet.settings import EmbeddingSettings, Settings


def bare_encode(queries: list[str]) -> dict[str, float]:
    """One query at a time through the ONNX query encoder, nothing else."""
    settings = EmbeddingSettings()
    encoder = build_encoder("onnx", settings.threads, settings.cache_dir, settings.query_precision)
    encoder.encode(["warm up"])
    samples = []
    for text in queries:
        began = time.perf_counter()
        encoder.encode([text])
        samples.append(time.perf_counter() - began)
    return {**percentiles(samples), "queries_per_s": round(len(samples) / sum(samples), 1)}


def in_process(data_dir: Path, collection: str, queries: list[str]) -> dict[str, float]:
    settings = Settings(_env_file=None, data_dir=data_dir)
    services = build_services(settings)
    try:
        samples = []
        for text in queries:
            began = time.perf_counter()
            services.search.search(SearchRequest(text, collection, 10, SearchMode.HYBRID))
            samples.append(time.perf_counter() - began)
    finally:
        services.close()
    return percentiles(samples)


def http_run(url: str, collection: str, queries: list[str], clients: int) -> dict[str, float]:
    samples: list[float] = []
    errors = 0
    lock = threading.Lock()
    parts = [queries[i::clients] for i in range(clients)]

    def worker(part: list[str]) -> None:
        nonlocal errors
        with httpx.Client(base_url=url, timeout=30) as client:
            for text in part:
                began = time.perf_counter()
                response = client.post(
                    "/v1/search", json={"query": text, "collection": collection, "top_k": 10}
                )
                elapsed = time.perf_counter() - began
                with lock:
                    samples.append(elapsed)
                    errors += response.status_code != 200

    began = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(part,)) for part in parts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    return {
        **percentiles(samples),
        "requests_per_s": round(len(samples) / wall, 1),
        "errors": errors,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--collection", default="beir-scifact")
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()

    dataset = load(args.dataset, "test")
    queries = (list(dataset.queries.values()) * 10)[: args.requests]
    report: dict[str, object] = {
        "bare_query_encode": bare_encode(queries),
        "in_process_hybrid": in_process(args.data_dir, args.collection, queries),
    }

    with serve(args.data_dir) as (url, pid):
        http_run(url, args.collection, queries[:20], 1)  # warm up
        report["serve_memory_ready"] = rss_mb(pid)
        for clients in (1, 8, 32):
            report[f"http_hybrid_{clients}_clients"] = http_run(
                url, args.collection, queries, clients
            )
        report["serve_memory_after_load"] = rss_mb(pid)
        time.sleep(10)
        report["serve_memory_10s_later"] = rss_mb(pid)
    bare = report["bare_query_encode"]["queries_per_s"]  # type: ignore[index]
    eight = report["http_hybrid_8_clients"]["requests_per_s"]  # type: ignore[index]
    report["http_8_clients_per_s_over_bare_encode_per_s"] = round(eight / bare, 2)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
