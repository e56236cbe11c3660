"""Recall cost of quantizing the dense vectors, on a BEIR dataset, without embedding it again.

    python bench/quantization.py ../shared/data/beir/scifact --data-dir D
        [--collection NAME] [--quantization none scalar binary] [--oversampling F] [--json PATH]

D is a data directory where ``ragfleet eval beir DATASET`` built its index (``make bench-eval``
makes ``.bench/scifact``; the collection defaults to the one eval names after the dataset folder).
Every point of that collection (dense and sparse vectors, payload) is read out of D's Qdrant Edge
store and written through ragfleet's store into one new collection per config, in a scratch
folder: ``none`` (float vectors in RAM, the default layout; the baseline, which also shows what
re-writing the index alone changes against ``ragfleet eval beir``) and ``scalar`` / ``binary``
(quantized copy in RAM, vectors on disk, rescoring with ``--oversampling``). Each copy is indexed
with ``optimize()`` and the judged queries run through ragfleet's search service, dense and
hybrid, scored with ``evaluation/beir`` (nDCG@10, recall@10 and @100, MRR@10) and compared with
the baseline. Per config also: seconds to write and index, the RSS the reopened store added
after the queries, and the allocated disk size of the collection.

Queries are embedded with the model the settings choose, which must be the one that built D.
D is opened as ragfleet opens it, with its folder lock: stop any server using it first. A
200-document SciFact subset (422 points) takes 20 s for the three configs on 2 cores; all of
SciFact (5,183 documents, about 11,000 points) should take one to two minutes per config.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, cast

import qdrant_edge as qe

from harness import rss_mb
from ragfleet.domain import ChunkPayload, IndexedChunk, SearchHit, SparseVector
from ragfleet.embedding import Embedder, build_embedder
from ragfleet.evaluation import beir
from ragfleet.ownership import FolderLock
from ragfleet.retrieval.edge_store import EdgeVectorStore
from ragfleet.retrieval.search import SearchRequest, SearchService
from ragfleet.retrieval.sparse import SparseEncoder
from ragfleet.retrieval.store import DENSE, SPARSE, SearchMode
from ragfleet.services import build_fusion_table
from ragfleet.settings import Settings
from scale import collection_options, disk_bytes

MODES = (SearchMode.DENSE, SearchMode.HYBRID)
SCROLL_PAGE = 1000


def read_points(root: Path, prefix: str, collection: str) -> list[IndexedChunk]:
    """Every point of ``collection`` in the Edge store at ``root``: vectors and payload."""
    path = root / f"{prefix}{collection}"
    if not path.is_dir():
        raise SystemExit(f"{path} does not exist: build it with `ragfleet eval beir` first")
    owner = FolderLock(root)
    shard = qe.EdgeShard.load(str(path))
    points: list[IndexedChunk] = []
    offset = None
    try:
        while True:
            request = qe.ScrollRequest(
                limit=SCROLL_PAGE, offset=offset, with_payload=True, with_vector=True
            )
            records, offset = shard.scroll(request)
            for record in records:
                vectors = record.vector
                assert isinstance(vectors, dict)  # named vectors: dense and sparse
                dense, sparse = vectors[DENSE], vectors[SPARSE]
                assert isinstance(dense, list) and isinstance(sparse, qe.SparseVector)
                points.append(
                    IndexedChunk(
                        str(record.id),
                        cast(list[float], dense),  # one vector, not a multivector
                        SparseVector(list(sparse.indices), list(sparse.values)),
                        ChunkPayload.from_dict(record.payload or {}),
                    )
                )
            if offset is None:
                return points
    finally:
        shard.close()
        owner.release()


def score(service: SearchService, dataset: beir.Dataset, collection: str) -> dict[str, Any]:
    """Each mode's metrics over the judged queries, as ``ragfleet eval beir`` computes them."""

    def run(mode: SearchMode) -> dict[str, float]:
        def search(text: str) -> list[SearchHit]:
            request = SearchRequest(text, collection, beir.RANK_DEPTH * 3, mode)
            return service.search(request).hits

        return beir.evaluate(dataset, search, lambda: None)

    return {mode.value: run(mode) for mode in MODES}


def measure(
    config: str,
    points: list[IndexedChunk],
    args: argparse.Namespace,
    settings: Settings,
    embedder: Embedder,
    dataset: beir.Dataset,
) -> dict[str, Any]:
    """Copy the points into a collection laid out as ``config``, index it, score it."""
    root = args.scratch / config
    options = collection_options(config, args.oversampling)
    indexed = settings.retrieval.indexed_metadata
    prefix = settings.qdrant.collection_prefix
    store = EdgeVectorStore(root, prefix, indexed, options)
    began = time.perf_counter()
    store.ensure_collection(args.collection, len(points[0].dense))
    store.upsert(args.collection, points)
    written = time.perf_counter() - began
    store.optimize(args.collection)
    indexed_s = time.perf_counter() - began - written
    store.close()

    gc.collect()
    before = rss_mb(os.getpid())["rss_mb"]
    store = EdgeVectorStore(root, prefix, indexed, options)
    retrieval = settings.retrieval
    service = SearchService(
        store=store,
        embedder=embedder,
        sparse=SparseEncoder(retrieval.bm25_k1, retrieval.bm25_b, retrieval.bm25_avg_len),
        settings=retrieval,
        fusions=build_fusion_table(settings),
    )
    modes = score(service, dataset, args.collection)
    memory = rss_mb(os.getpid())
    store.close()
    disk = disk_bytes(root / f"{prefix}{args.collection}")
    shutil.rmtree(root)
    return {
        "quantization": config,
        "oversampling": options.oversampling if config != "none" else None,
        "write_seconds": round(written, 1),
        "optimize_seconds": round(indexed_s, 1),
        "modes": modes,
        "memory": {**memory, "store_rss_mb": round(memory["rss_mb"] - before, 1)},
        "disk_mb": round(disk / 2**20, 1),
    }


def add_deltas(results: list[dict[str, Any]]) -> None:
    """Each config's nDCG@10 and recall@100 change against the float baseline."""
    baseline = next((r for r in results if r["quantization"] == "none"), None)
    if baseline is None:
        return
    for result in results:
        for mode, metrics in result["modes"].items():
            base = baseline["modes"][mode]
            for metric in ("ndcg@10", "recall@100"):
                metrics[f"{metric}_change"] = round(metrics[metric] - base[metric], 4)


def print_table(results: list[dict[str, Any]]) -> None:
    print(
        f"{'config':8} {'mode':7} {'nDCG@10':>8} {'change':>8} {'R@100':>7} {'change':>8} "
        f"{'p50 ms':>7} {'store MB':>9} {'disk MB':>8} {'write s':>8} {'optimize s':>10}"
    )
    for r in results:
        for mode, m in r["modes"].items():
            print(
                f"{r['quantization']:8} {mode:7} {m['ndcg@10']:>8} "
                f"{m.get('ndcg@10_change', ''):>8} {m['recall@100']:>7} "
                f"{m.get('recall@100_change', ''):>8} {m['latency_p50_ms']:>7} "
                f"{r['memory']['store_rss_mb']:>9} {r['disk_mb']:>8} {r['write_seconds']:>8} "
                f"{r['optimize_seconds']:>10}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("dataset", type=Path, help="The BEIR dataset folder D was built from.")
    parser.add_argument("--data-dir", type=Path, required=True, help="D (RAGFLEET_DATA_DIR).")
    parser.add_argument("--collection", default=None, help="Default: beir-<dataset folder>.")
    parser.add_argument("--split", default="test")
    parser.add_argument(
        "--quantization",
        nargs="+",
        choices=["none", "scalar", "binary"],
        default=["none", "scalar", "binary"],
    )
    parser.add_argument("--oversampling", type=float, default=1.0, help="For quantized configs.")
    parser.add_argument("--scratch", type=Path, default=None, help="Default: a temporary folder.")
    parser.add_argument("--json", type=Path, default=None, help="Write the results here.")
    args = parser.parse_args()
    args.collection = args.collection or beir.default_collection(args.dataset)

    dataset = beir.load(args.dataset, args.split)
    settings = Settings(data_dir=args.data_dir)
    settings.retrieval.max_top_k = max(settings.retrieval.max_top_k, beir.RANK_DEPTH * 3)
    points = read_points(
        args.data_dir / "qdrant", settings.qdrant.collection_prefix, args.collection
    )
    print(f"# {len(points)} points read from {args.collection}")
    embedder = build_embedder(settings.embeddings)
    embedder.embed_query("warm up")
    results = []
    with tempfile.TemporaryDirectory(dir=args.scratch) as scratch:
        args.scratch = Path(scratch)
        for config in dict.fromkeys(args.quantization):
            results.append(measure(config, points, args, settings, embedder, dataset))
    embedder.close()
    add_deltas(results)
    print_table(results)
    report = {"dataset": str(args.dataset), "points": len(points), "configs": results}
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
