"""Serving under load: search and questions with 8 and 32 clients, idle and during a large
ingest, against one ``ragfleet serve`` on loopback.

    python bench/load.py ../shared/data/beir/scifact --data-dir DIR [--seconds 20]

DIR must hold an index built by ``ragfleet eval beir`` (collection ``beir-scifact``). Each
phase runs for ``--seconds`` with every client sending requests back to back; a 503 counts as
shed (the server's admission control), anything else non-200 as an error. The "during ingest"
phases post one large document (``--ingest-paragraphs`` paragraphs, into its own collection)
first and measure while it is embedded. Prints one JSON report: p50/p95/p99, requests/s, share
shed, errors per phase, and the server's resident memory after each phase and at its peak.
Takes about 8 × ``--seconds`` plus the server's start.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from pathlib import Path

import httpx

from harness import percentiles, rss_mb, serve
from ragfleet.evaluation.beir import load

INGEST_COLLECTION = "load-test"


def phase(
    url: str, route: str, bodies: list[dict[str, object]], clients: int, seconds: float
) -> dict[str, float]:
    samples: list[float] = []
    counts = {"ok": 0, "shed": 0, "errors": 0}
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def worker(offset: int) -> None:
        with httpx.Client(base_url=url, timeout=120) as client:
            n = offset
            while time.monotonic() < deadline:
                began = time.perf_counter()
                response = client.post(route, json=bodies[n % len(bodies)])
                elapsed = time.perf_counter() - began
                n += clients
                with lock:
                    kind = {200: "ok", 503: "shed"}.get(response.status_code, "errors")
                    counts[kind] += 1
                    if kind == "ok":
                        samples.append(elapsed)

    began = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    total = sum(counts.values())
    return {
        **(percentiles(samples) if samples else {}),
        "requests_per_s": round(counts["ok"] / wall, 1),
        "shed_share": round(counts["shed"] / total, 3) if total else 0.0,
        "errors": counts["errors"],
    }


def big_document(paragraphs: int) -> str:
    lines = [f"# Load test {time.time()}"]
    for n in range(paragraphs):
        lines.append(f"Paragraph {n} says that sample number {n} was measured twice. " * 3)
    return "\n\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--collection", default="beir-scifact")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--ingest-paragraphs", type=int, default=8000)
    args = parser.parse_args()
    queries = list(load(args.dataset, "test").queries.values())
    search = [{"query": q, "collection": args.collection, "top_k": 10} for q in queries]
    ask = [{"question": q, "collection": args.collection} for q in queries]
    report: dict[str, object] = {}
    with serve(args.data_dir) as (url, pid):
        phase(url, "/v1/search", search[:20], 1, 2)  # warm up
        for during_ingest in (False, True):
            if during_ingest:
                text = big_document(args.ingest_paragraphs)
                body = {"text": text, "source": "load-test", "collection": INGEST_COLLECTION}
                response = httpx.post(f"{url}/v1/documents", json=body, timeout=120)
                job_id = response.raise_for_status().json()["data"][0]["job_id"]
            for route, bodies in (("/v1/search", search), ("/v1/query", ask)):
                for clients in (8, 32):
                    name = f"{route.rsplit('/', 1)[1]}_{clients}_clients"
                    name += "_during_ingest" if during_ingest else "_idle"
                    report[name] = {
                        **phase(url, route, bodies, clients, args.seconds),
                        **rss_mb(pid),
                    }
                    print(name, json.dumps(report[name]), flush=True)
        # Leave the index as it was, so the next run's idle phases are idle.
        httpx.post(f"{url}/v1/jobs/{job_id}/cancel", timeout=60)
        httpx.delete(f"{url}/v1/collections/{INGEST_COLLECTION}", timeout=120)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
