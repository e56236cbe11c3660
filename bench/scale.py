"""Growth curves of ragfleet's embedded vector store (Qdrant Edge) at the sizes given.

    python bench/scale.py [--sizes 10000 100000 1000000] [--quantization none|scalar|binary ...]
        [--queries 200] [--oversampling F] [--real N] [--data-dir DIR] [--json PATH] [--plot DIR]
    python bench/scale.py --merge A.json B.json [--plot DIR]

Points are synthetic but shaped like ragfleet's chunks: random unit 384-d dense vectors; texts of
180 words, 45% English stopwords and the rest drawn from a made-up 50,000-word vocabulary with a
Zipf distribution, whose BM25 vectors come from ragfleet's sparse encoder (about 60 non-zeros);
payloads as the indexer writes them (document id, chunk index, collection, source, section, page,
an ACL group: 70% public, the rest one of 50 groups, and indexed metadata lang, year and
department). With ``--real N`` the first N points get the bundled model's vectors of their text
instead (the embedder the settings choose).

For each size, every quantization config gets a fresh collection written through the store's
``upsert`` in batches of 1,024 (the upsert rate leaves out generating the points) and indexed with
``optimize()``. ``none`` is the default layout (float vectors in RAM); ``scalar`` and ``binary``
keep the quantized copy in RAM and the vectors on disk, rescoring with ``--oversampling``. The
store is then closed and reopened, and the queries go through ragfleet's search service (its
filters, ACL condition, fusion and store code; the query vectors are prepared beforehand, so no
model time is counted): hybrid with no filter, with a payload filter (lang = de, 10% of the
points) and with the ACL pre-filter of a caller in one group (public + that group, about 71%), then
dense with no filter for recall@10 against an exact float search (numpy) of the same query
vectors. Memory is the process RSS after the searches and the part of it the reopened store added;
disk is the allocated size of the collection folder.

Each query starts from a random point of the first 4,096: its dense vector is that point's plus
noise (cosine about 0.8; with ``--real``, the model's vector of the four words below) and its
sparse vector four of that point's words. Random unit vectors have no cluster structure, the
hardest case for HNSW and quantization, so their recall is a floor. Edge keeps the quantized copy
as points arrive but builds HNSW only for segments over about 10 MB of vectors (some 6,500
points): smaller sizes measure full scans.

Time on 2 cores, measured: 10,000 points with the three configs 21 s; 100,000 points 11 minutes
for the three (``none`` builds its index in 6 minutes, ``scalar`` in 2); 1,000,000 points one
hour for ``scalar`` alone (upserts 24 minutes, index build 26), holding 18 GB resident at the peak
of the build, so run one config per 1M run on a 24 GB machine and combine runs with ``--merge``.
Disk: about 4.7 GB per million points per config (each collection is deleted once measured).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness import percentiles, rss_mb
from ragfleet.domain import ChunkPayload, IndexedChunk, chunk_point_id
from ragfleet.embedding import Embedder, build_embedder
from ragfleet.retrieval.edge_store import EdgeVectorStore
from ragfleet.retrieval.search import SearchRequest, SearchService
from ragfleet.retrieval.sparse import STOPWORDS, SparseEncoder
from ragfleet.retrieval.store import CollectionOptions, SearchMode
from ragfleet.services import build_fusion_table
from ragfleet.settings import Settings

COLLECTION = "scale"
DIMENSIONS = 384
BATCH = 1024
WORDS_PER_TEXT = 180
VOCABULARY = 50_000
ZIPF = 1.3
STOPWORD_SHARE = 0.45
CHUNKS_PER_DOCUMENT = 8
GROUPS = [f"team-{n:02d}" for n in range(50)]
PUBLIC_SHARE = 0.7
LANGUAGES = np.array(["en"] * 7 + ["de", "fr", "it"])
DEPARTMENTS = np.array(["legal", "sales", "engineering", "support", "finance", "research"])
QUERY_SOURCES = 4 * BATCH
# The hybrid searches timed, with their filters; acl_filter also sets the caller's group.
SEARCHES: dict[str, dict[str, Any]] = {
    "no_filter": {},
    "payload_filter": {"filters": {"lang": "de"}},
    "acl_filter": {},
}
TOP_K = 10
SYLLABLES = "ka lo mi ten dra vo sul pe rin go ta ne shi bar qu el an or ix um".split()


def collection_options(quantization: str, oversampling: float) -> CollectionOptions:
    """``none``: the default layout; otherwise the quantized copy in RAM, vectors on disk."""
    if quantization == "none":
        return CollectionOptions()
    return CollectionOptions(
        quantization=quantization,  # type: ignore[arg-type]
        quantization_always_ram=True,
        vectors_on_disk=True,
        oversampling=oversampling,
    )


def disk_bytes(folder: Path) -> int:
    """Allocated bytes under ``folder`` (the engine preallocates sparse files)."""
    return sum(p.stat().st_blocks * 512 for p in folder.rglob("*") if p.is_file())


def unit_rows(rng: np.random.Generator, count: int) -> np.ndarray:
    rows = rng.standard_normal((count, DIMENSIONS)).astype(np.float32)
    unit: np.ndarray = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    return unit


class QueryVectors:
    """Stands in for the embedder in the search service: each query text's vector is prepared,
    so the timings are the search's and not the model's."""

    def __init__(self, vectors: dict[str, np.ndarray]) -> None:
        self.vectors = vectors

    def embed_query(self, text: str) -> np.ndarray:
        return self.vectors[text]


class Corpus:
    """Deterministic synthetic chunks: batch ``b`` is the same whatever the size asked."""

    def __init__(self, seed: int, real: int, embedder: Embedder | None) -> None:
        rng = np.random.default_rng(seed)
        words: dict[str, None] = {}
        while len(words) < VOCABULARY:
            words["".join(rng.choice(SYLLABLES, rng.integers(2, 5)))] = None
        self.words = np.array([*words, *sorted(STOPWORDS)])
        weights = 1.0 / (np.arange(VOCABULARY) + 2.7) ** ZIPF
        self.cdf = np.cumsum(weights) / weights.sum()
        self.seed = seed
        self.real = real
        self.embedder = embedder
        self.embedded: dict[int, np.ndarray] = {}
        self.sparse = SparseEncoder()

    def texts(self, rng: np.random.Generator, count: int) -> list[str]:
        shape = (count, WORDS_PER_TEXT)
        content = np.searchsorted(self.cdf, rng.random(shape))
        stopwords = VOCABULARY + rng.integers(0, len(STOPWORDS), shape)
        tokens = np.where(rng.random(shape) < STOPWORD_SHARE, stopwords, content)
        return [" ".join(self.words[row]) for row in tokens]

    def batch(self, index: int, count: int = BATCH) -> tuple[np.ndarray, list[IndexedChunk]]:
        """The vectors and points of batch ``index`` (its first ``count`` points)."""
        rng = np.random.default_rng([self.seed, index])
        start = index * BATCH
        vectors = unit_rows(rng, BATCH)
        texts = self.texts(rng, BATCH)
        real = max(0, min(BATCH, self.real - start))
        if real and self.embedder is not None:
            if index not in self.embedded:  # embedded once, whatever the sizes
                self.embedded[index] = self.embedder.embed(texts[:real])
            vectors[:real] = self.embedded[index]
        vectors, texts = vectors[:count], texts[:count]
        points = [
            self.point(start + i, vector, text, rng)
            for i, (vector, text) in enumerate(zip(vectors, texts, strict=True))
        ]
        return vectors, points

    def point(
        self, number: int, vector: np.ndarray, text: str, rng: np.random.Generator
    ) -> IndexedChunk:
        document = f"doc-{number // CHUNKS_PER_DOCUMENT:07d}"
        chunk = number % CHUNKS_PER_DOCUMENT
        public = rng.random() < PUBLIC_SHARE
        payload = ChunkPayload(
            document_id=document,
            chunk_index=chunk,
            version="v1",
            collection=COLLECTION,
            source=f"archive/{document}.pdf",
            title=f"Report {document}",
            section=f"Part {chunk // 3 + 1}",
            page=chunk + 1,
            acl=("*",) if public else (str(rng.choice(GROUPS)),),
            text=text,
            meta={
                "lang": str(rng.choice(LANGUAGES)),
                "year": int(rng.integers(2010, 2026)),
                "department": str(rng.choice(DEPARTMENTS)),
            },
            indexed_at="2026-01-01T00:00:00+00:00",
        )
        return IndexedChunk(
            chunk_point_id(document, "v1", chunk),
            vector.tolist(),
            self.sparse.encode_document(text),
            payload,
        )

    def chunks(self, size: int) -> Iterator[tuple[np.ndarray, list[IndexedChunk]]]:
        for index in range(-(-size // BATCH)):
            yield self.batch(index, min(BATCH, size - index * BATCH))


@dataclass
class Queries:
    texts: list[str]
    vectors: np.ndarray  # one row per query
    groups: list[str]


def make_queries(corpus: Corpus, count: int, smallest: int, seed: int) -> Queries:
    """Queries near random points of the first batches (present at every size)."""
    rng = np.random.default_rng(seed + 1)
    sources = np.sort(rng.choice(min(smallest, QUERY_SOURCES), count, replace=False))
    texts: list[str] = []
    vectors = []
    for index in sorted({int(s) // BATCH for s in sources}):
        batch_vectors, points = corpus.batch(index)
        for source in sources[sources // BATCH == index]:
            offset = int(source) % BATCH
            words = [w for w in points[offset].payload.text.split() if w not in STOPWORDS]
            text = " ".join(rng.choice(words, 4))
            while text in texts:  # the texts key the prepared vectors
                text = " ".join(rng.choice(words, 4))
            texts.append(text)
            if corpus.embedder is not None and source < corpus.real:
                vectors.append(corpus.embedder.embed_query(text))
            else:
                noisy = batch_vectors[offset] + 0.75 * unit_rows(rng, 1)[0]
                vectors.append(noisy / np.linalg.norm(noisy))
    groups = [str(g) for g in rng.choice(GROUPS, count)]
    return Queries(texts, np.array(vectors, dtype=np.float32), groups)


class ExactTop:
    """The exact top-k of each query over every vector seen, kept while the points stream by."""

    def __init__(self, queries: np.ndarray, k: int = TOP_K) -> None:
        self.queries = queries
        self.k = k
        self.scores = np.full((len(queries), 0), -np.inf, dtype=np.float32)
        self.ids = np.zeros((len(queries), 0), dtype=np.int64)
        self.seen = 0

    def add(self, vectors: np.ndarray) -> None:
        scores = np.hstack([self.scores, self.queries @ vectors.T])
        ids = np.hstack(
            [
                self.ids,
                np.broadcast_to(
                    np.arange(len(vectors)) + self.seen, (len(self.queries), len(vectors))
                ),
            ]
        )
        keep = np.argsort(-scores, axis=1)[:, : self.k]
        self.scores = np.take_along_axis(scores, keep, axis=1)
        self.ids = np.take_along_axis(ids, keep, axis=1)
        self.seen += len(vectors)

    def point_ids(self) -> list[set[str]]:
        return [
            {
                chunk_point_id(
                    f"doc-{int(n) // CHUNKS_PER_DOCUMENT:07d}", "v1", int(n) % CHUNKS_PER_DOCUMENT
                )
                for n in row
            }
            for row in self.ids
        ]


@dataclass
class Run:
    quantization: str
    points: int
    upsert_seconds: float = 0.0
    optimize_seconds: float = 0.0
    search: dict[str, dict[str, float]] = field(default_factory=dict)
    dense_recall_at_10: float = 0.0
    memory: dict[str, float] = field(default_factory=dict)
    disk_bytes: int = 0

    def summary(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "upsert_points_per_s": round(self.points / self.upsert_seconds),
            "disk_mb": round(self.disk_bytes / 2**20, 1),
            "disk_bytes_per_million_points": round(self.disk_bytes * 1e6 / self.points),
        }


def search_service(store: EdgeVectorStore, settings: Settings, queries: Queries) -> SearchService:
    vectors = dict(zip(queries.texts, queries.vectors, strict=True))
    retrieval = settings.retrieval
    return SearchService(
        store=store,
        embedder=QueryVectors(vectors),  # type: ignore[arg-type]
        sparse=SparseEncoder(retrieval.bm25_k1, retrieval.bm25_b, retrieval.bm25_avg_len),
        settings=retrieval,
        fusions=build_fusion_table(settings),
    )


def time_searches(service: SearchService, queries: Queries) -> dict[str, dict[str, float]]:
    """Hybrid p50/p95 of the queries with no filter, a payload filter and an ACL filter."""
    for text in queries.texts[:10]:  # warm up: the shard loads on first use
        service.search(SearchRequest(text, COLLECTION, TOP_K, SearchMode.HYBRID))
    report = {}
    for kind, extra in SEARCHES.items():
        samples = []
        for text, group in zip(queries.texts, queries.groups, strict=True):
            groups = [group] if kind == "acl_filter" else None
            request = SearchRequest(
                text, COLLECTION, TOP_K, SearchMode.HYBRID, groups=groups, **extra
            )
            began = time.perf_counter()
            service.search(request)
            samples.append(time.perf_counter() - began)
        numbers = percentiles(samples)
        report[kind] = {"p50_ms": numbers["p50_ms"], "p95_ms": numbers["p95_ms"]}
    return report


def dense_recall(service: SearchService, queries: Queries, exact: list[set[str]]) -> float:
    found = 0
    for text, truth in zip(queries.texts, exact, strict=True):
        hits = service.search(SearchRequest(text, COLLECTION, TOP_K, SearchMode.DENSE)).hits
        found += len({hit.point_id for hit in hits} & truth)
    return round(found / (TOP_K * len(queries.texts)), 4)


def serve_and_measure(
    run: Run,
    root: Path,
    options: CollectionOptions,
    settings: Settings,
    queries: Queries,
    exact: list[set[str]],
) -> None:
    """Reopen the store, time the searches and read the memory the store added."""
    gc.collect()
    before = rss_mb(os.getpid())["rss_mb"]
    store = EdgeVectorStore(root, "bench_", ("lang", "year", "department"), options)
    service = search_service(store, settings, queries)
    run.search = time_searches(service, queries)
    run.dense_recall_at_10 = dense_recall(service, queries, exact)
    memory = rss_mb(os.getpid())
    run.memory = {**memory, "store_rss_mb": round(memory["rss_mb"] - before, 1)}
    store.close()
    run.disk_bytes = disk_bytes(root / f"bench_{COLLECTION}")


def measure_size(
    size: int,
    configs: list[str],
    args: argparse.Namespace,
    corpus: Corpus,
    queries: Queries,
    work: Path,
) -> list[Run]:
    """Write ``size`` points into one fresh collection per config, index and search each."""
    runs = {q: Run(q, size) for q in configs}
    options = {q: collection_options(q, args.oversampling) for q in configs}
    stores = {
        q: EdgeVectorStore(work / q, "bench_", ("lang", "year", "department"), options[q])
        for q in configs
    }
    for store in stores.values():
        store.ensure_collection(COLLECTION, DIMENSIONS)
    exact = ExactTop(queries.vectors)
    for vectors, points in corpus.chunks(size):
        exact.add(vectors)
        for q, store in stores.items():
            began = time.perf_counter()
            store.upsert(COLLECTION, points)
            runs[q].upsert_seconds += time.perf_counter() - began
    truth = exact.point_ids()
    settings = Settings(_env_file=None, data_dir=work)
    for q, store in stores.items():
        began = time.perf_counter()
        store.optimize(COLLECTION)
        runs[q].optimize_seconds = round(time.perf_counter() - began, 2)
        store.close()
    for q in configs:
        serve_and_measure(runs[q], work / q, options[q], settings, queries, truth)
        shutil.rmtree(work / q)
        runs[q].upsert_seconds = round(runs[q].upsert_seconds, 2)
    return list(runs.values())


COLUMNS = (
    ("config", "quantization"),
    ("points", "points"),
    ("upsert/s", "upsert_points_per_s"),
    ("optimize s", "optimize_seconds"),
    ("recall@10", "dense_recall_at_10"),
    ("disk MB", "disk_mb"),
    ("disk B/Mpt", "disk_bytes_per_million_points"),
)


def print_table(results: list[dict[str, Any]]) -> None:
    """One row per run; search columns are hybrid p50/p95 in ms."""
    print(
        " ".join(f"{title:>11}" for title, _ in COLUMNS),
        *(f"{kind:>16}" for kind in SEARCHES),
        f"{'RSS MB':>8} {'store MB':>8}",
    )
    for r in results:
        searches = (
            f"{r['search'][k]['p50_ms']:.1f}/{r['search'][k]['p95_ms']:.1f}" for k in SEARCHES
        )
        print(
            " ".join(f"{r[key]:>11}" for _, key in COLUMNS),
            *(f"{cell:>16}" for cell in searches),
            f"{r['memory']['rss_mb']:>8} {r['memory']['store_rss_mb']:>8}",
        )


def plot(results: list[dict[str, Any]], folder: Path) -> None:
    """Points against search p95, RSS and ingest rate, one line per config (and filter)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    charts: dict[str, tuple[str, dict[str, Any]]] = {
        "search_p95": (
            "hybrid search p95 (ms)",
            {kind: lambda r, k=kind: r["search"][k]["p95_ms"] for kind in SEARCHES},
        ),
        "rss": ("process RSS (MB)", {"": lambda r: r["memory"]["rss_mb"]}),
        "ingest_rate": ("upsert (points/s)", {"": lambda r: r["upsert_points_per_s"]}),
    }
    for name, (label, lines) in charts.items():
        figure, axes = plt.subplots(figsize=(7, 4.5))
        for config in dict.fromkeys(r["quantization"] for r in results):
            rows = [r for r in results if r["quantization"] == config]
            for (line, value), style in zip(lines.items(), ("-", "--", ":"), strict=False):
                axes.plot(
                    [r["points"] for r in rows],
                    [value(r) for r in rows],
                    linestyle=style,
                    marker="o",
                    label=f"{config} {line}".strip(),
                )
        axes.set_xscale("log")
        axes.set_xlabel("points")
        axes.set_ylabel(label)
        axes.grid(True, alpha=0.3)
        axes.legend(fontsize="small")
        figure.tight_layout()
        figure.savefig(folder / f"{name}.png", dpi=120)
        plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument(
        "--quantization",
        action="append",
        choices=["none", "scalar", "binary"],
        help="Repeatable; default none.",
    )
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--oversampling", type=float, default=1.0, help="For quantized configs.")
    parser.add_argument(
        "--real", type=int, default=0, help="The model's vectors for the first N points."
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--data-dir", type=Path, default=None, help="Scratch space (default: a temporary folder)."
    )
    parser.add_argument("--json", type=Path, default=None, help="Write the results here.")
    parser.add_argument("--plot", type=Path, default=None, help="Write PNG plots into this folder.")
    parser.add_argument(
        "--merge",
        type=Path,
        nargs="+",
        default=None,
        help="Measure nothing: print and plot the runs of these --json files together (sizes "
        "measured in separate runs, e.g. 1M on its own).",
    )
    args = parser.parse_args()
    if args.merge:
        merged = [run for path in args.merge for run in json.loads(path.read_text())["runs"]]
        print_table(merged)
        if args.plot:
            plot(merged, args.plot)
        return
    configs = list(dict.fromkeys(args.quantization or ["none"]))
    sizes = sorted(set(args.sizes))
    if args.queries > min(min(sizes), QUERY_SOURCES):
        parser.error(f"--queries must be at most {min(min(sizes), QUERY_SOURCES)}")

    embedder = build_embedder(Settings().embeddings) if args.real else None
    corpus = Corpus(args.seed, args.real, embedder)
    queries = make_queries(corpus, args.queries, sizes[0], args.seed)
    results = []
    with tempfile.TemporaryDirectory(dir=args.data_dir) as scratch:
        for size in sizes:
            began = time.perf_counter()
            for run in measure_size(size, configs, args, corpus, queries, Path(scratch)):
                results.append(run.summary())
            print(f"# {size} points, {len(configs)} config(s): {time.perf_counter() - began:.0f} s")
    if embedder is not None:
        embedder.close()
    print_table(results)
    report = {
        "cpus": os.cpu_count(),
        "queries": args.queries,
        "real_points": args.real,
        "oversampling": args.oversampling,
        "runs": results,
    }
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    if args.plot:
        plot(results, args.plot)


if __name__ == "__main__":
    main()
