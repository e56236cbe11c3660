"""Ingestion through the Celery queue against the in-process runner, and crash redelivery time.

    python bench/queue_ingest.py ../shared/data/beir/scifact [--limit N] [--redis URL] [--json]

Throughput: the same SciFact documents are ingested twice on fresh data directories, once by the
in-process runner and once through Redis by the worker embedded in the same process (one task per
document, ``worker.concurrency`` threads); documents/s each and the queue's overhead.

Redelivery: a standalone ``ragfleet worker`` (qdrant-client local mode, SQLite registry) is killed
with SIGKILL in the middle of a long document. Measured from the kill to the job running again:
``restart``: the same node restarts and reconciles its own jobs at once (a pod restart);
``takeover``: another node waits for Redis to redeliver the unacknowledged task, which takes the
visibility timeout (60 s here, the minimum allowed) plus the restore sweep.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis

from ragfleet.domain import ParsedDocument
from ragfleet.embedding import Embedder, build_embedder
from ragfleet.evaluation.beir import load
from ragfleet.ingest.parsers import parse_text
from ragfleet.registry.repository import PendingIngest, Registry
from ragfleet.services import build_services
from ragfleet.settings import EmbeddingSettings, RedisSettings, Settings
from ragfleet.workers.celery_app import create_celery
from ragfleet.workers.queues import publish_jobs

RAGFLEET = Path(sys.executable).parent / "ragfleet"


def throughput(documents: list[ParsedDocument], embedder: Embedder, redis_url: str | None) -> float:
    with tempfile.TemporaryDirectory() as data_dir:
        redis_settings = RedisSettings(url=redis_url) if redis_url else RedisSettings()
        settings = Settings(_env_file=None, data_dir=Path(data_dir), redis=redis_settings)
        services = build_services(settings, embedder)
        began = time.perf_counter()
        accepted = services.admission.accept(documents, "bench", None)
        pending = {a.job_id for a in accepted}
        services.runner.submit(sorted(pending))
        while pending:
            time.sleep(0.2)
            pending -= services.registry.finished(pending)
        seconds = time.perf_counter() - began
        failed = services.registry.list_jobs("failed", 1, 0)[1]
        services.close()
    if failed:
        raise SystemExit(f"{failed} job(s) failed")
    return len(documents) / seconds


def start_worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [str(RAGFLEET), "worker"],
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def redelivery_s(redis_url: str, restart_same_node: bool) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "RAGFLEET_DATA_DIR": tmp,
            "RAGFLEET_REDIS__URL": redis_url,
            "RAGFLEET_QDRANT__URL": f"file://{tmp}/qdrant",
            "RAGFLEET_JOBS__EMBED_BATCH": "8",
            "RAGFLEET_JOBS__TIME_LIMIT_S": "50",
            "RAGFLEET_JOBS__RETRY_BACKOFF_MAX_S": "5",
            "RAGFLEET_REDIS__VISIBILITY_TIMEOUT_S": "60",
            "RAGFLEET_REDIS__RESTORE_INTERVAL_S": "1",
            "RAGFLEET_WORKER__NAME": "ragfleet@bench-a",
            "RAGFLEET_WORKER__METRICS_PORT": "0",
        }
        settings = Settings(_env_file=None, data_dir=Path(tmp), redis={"url": redis_url})
        registry = Registry(settings.database_url)
        registry.migrate()
        text = "\n\n".join(f"# Part {n}\n\nSentence {n} on topic {n}." for n in range(3000))
        doc = parse_text(text, "Long", "long.md", {})
        (job,) = registry.enqueue([PendingIngest("doc-long", "bench", "v1", doc, ["*"])])
        publish_jobs(create_celery(settings), [job.id])
        worker = start_worker(env)
        while registry.get_job(job.id).progress < 0.1:
            time.sleep(0.05)
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()
        killed = time.time()
        if not restart_same_node:
            env["RAGFLEET_WORKER__NAME"] = "ragfleet@bench-b"
        worker = start_worker(env)
        try:
            while registry.get_job(job.id).attempts < 2:
                time.sleep(0.05)
            started = registry.get_job(job.id).started_at
            assert started is not None
            return started.timestamp() - killed
        finally:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
            registry.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--limit", type=int, default=1000, help="Only the first N documents.")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/14", help="A db to empty.")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    client = redis.Redis.from_url(args.redis)
    client.flushdb()
    corpus = list(load(args.dataset, "test").corpus.items())[: args.limit]
    documents = [parse_text(text or title, title, doc_id, {}) for doc_id, (title, text) in corpus]
    embedder = build_embedder(EmbeddingSettings())
    embedder.embed(["warm up"])
    inprocess = throughput(documents, embedder, None)
    queued = throughput(documents, embedder, args.redis)
    client.flushdb()
    restart = redelivery_s(args.redis, restart_same_node=True)
    client.flushdb()
    takeover = redelivery_s(args.redis, restart_same_node=False)
    client.flushdb()
    report = {
        "documents": len(documents),
        "in_process_docs_per_s": round(inprocess, 1),
        "queue_docs_per_s": round(queued, 1),
        "queue_overhead_pct": round(100 * (inprocess - queued) / inprocess, 1),
        "kill9_to_running_again_s": {"restart": round(restart, 1), "takeover": round(takeover, 1)},
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for key, value in report.items():
            print(f"{key:>26}: {value}")


if __name__ == "__main__":
    main()
