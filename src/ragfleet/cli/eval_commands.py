"""``ragfleet eval``: retrieval quality on BEIR datasets (nDCG, recall, MRR, latency), the
relevance floor, and end-to-end answer quality.

The evaluation package is imported inside the functions, so other commands never load it."""

from __future__ import annotations

import functools
import json
import sys
import time
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import Progress
from rich.table import Table

from ragfleet.cli.common import console, errors, exit_on_error, load_settings, open_services
from ragfleet.cli.ingest_commands import ingest_documents
from ragfleet.domain import document_id, validate_collection_name
from ragfleet.errors import NotFoundError
from ragfleet.ingest.parsers import parse_text
from ragfleet.retrieval.search import SearchRequest
from ragfleet.retrieval.store import SearchMode
from ragfleet.services import Services

if TYPE_CHECKING:
    from ragfleet.domain import SearchHit
    from ragfleet.evaluation.answers import Report, Split
    from ragfleet.evaluation.beir import Dataset
    from ragfleet.generation.answerer import Answer


def register(app: typer.Typer) -> None:
    """Attach the ``eval`` group and its commands to ``app``."""
    eval_app = typer.Typer(help="Measure retrieval and answer quality.", no_args_is_help=True)
    eval_app.command("beir")(eval_beir)
    eval_app.command("floor")(eval_floor)
    eval_app.command("answers")(eval_answers)
    app.add_typer(eval_app, name="eval")


def index_corpus(services: Services, dataset: Dataset, collection: str, reindex: bool) -> float:
    """Index the dataset's documents into ``collection``; returns the seconds it took.
    Documents already indexed unchanged are kept (``reindex`` drops the collection first)."""
    if reindex:
        with suppress(NotFoundError):  # the registry goes too, or nothing would be re-embedded
            services.admission.drop_collection(collection)
    documents = [
        parse_text(text or title, title, doc_id, {})
        for doc_id, (title, text) in dataset.corpus.items()
        if (text or title).strip()
    ]
    began = time.perf_counter()
    ingest_documents(services, documents, collection, f"Indexing {len(documents)} documents")
    return time.perf_counter() - began


def score_mode(
    services: Services, dataset: Dataset, collection: str, mode: SearchMode
) -> dict[str, float]:
    """Run every query in one search mode, with a progress bar; returns the metrics."""
    from ragfleet.evaluation import beir

    def run(text: str) -> list[SearchHit]:
        request = SearchRequest(text, collection, beir.RANK_DEPTH * 3, mode)
        return services.search.search(request).hits

    with Progress(*Progress.get_default_columns(), console=errors) as progress:
        task = progress.add_task(f"{mode.value} queries", total=len(dataset.queries))
        return beir.evaluate(dataset, run, functools.partial(progress.advance, task))


def print_report(
    directory: Path,
    split: str,
    ingest_seconds: float,
    results: dict[str, dict[str, float]],
    as_json: bool,
) -> None:
    """The metrics per mode: JSON on stdout, or a table."""
    from ragfleet.evaluation import beir

    if as_json:
        report = {
            "dataset": str(directory),
            "split": split,
            "ingest_seconds": round(ingest_seconds, 1),
            "modes": results,
        }
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
        return
    table = Table("mode", *beir.CUTOFFS, "p50 ms", "p95 ms", title=f"{directory.name} ({split})")
    for key, row in results.items():
        table.add_row(
            key,
            *(f"{row[c]:.4f}" for c in beir.CUTOFFS),
            f"{row['latency_p50_ms']:.1f}",
            f"{row['latency_p95_ms']:.1f}",
        )
    console.print(table)


def eval_beir(
    directory: Annotated[Path, typer.Argument(help="BEIR dataset folder (corpus.jsonl, ...).")],
    split: Annotated[str, typer.Option(help="qrels split to score.")] = "test",
    mode: Annotated[
        list[SearchMode] | None, typer.Option("--mode", "-m", help="Modes to score (default all).")
    ] = None,
    collection: Annotated[
        str | None, typer.Option(help="Collection to index into (default beir-<folder>).")
    ] = None,
    reindex: Annotated[bool, typer.Option(help="Drop and rebuild the collection first.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Index a BEIR dataset into its own collection and print nDCG@10, recall and MRR."""
    from ragfleet.evaluation import beir

    settings = load_settings()
    with exit_on_error(2):
        dataset = beir.load(directory, split)
    name = collection or beir.default_collection(directory)
    modes = mode or list(SearchMode)
    settings.retrieval.max_top_k = max(settings.retrieval.max_top_k, beir.RANK_DEPTH * 3)
    with open_services(settings) as services:
        ingest_seconds = index_corpus(services, dataset, name, reindex)
        results = {m.value: score_mode(services, dataset, name, m) for m in modes}
    print_report(directory, split, ingest_seconds, results, as_json)


def eval_floor(
    directory: Annotated[Path, typer.Argument(help="BEIR dataset folder (corpus.jsonl, ...).")],
    split: Annotated[str, typer.Option(help="qrels split to score.")] = "test",
    answer_rate: Annotated[
        float, typer.Option(min=0.5, max=1.0, help="Share of answerable questions to answer.")
    ] = 1.0,
) -> None:
    """Calibrate quality.relevance_floor: the highest floor answering ``answer_rate`` of the
    judged questions, and how many it abstains on with their relevant documents held out."""
    from dataclasses import asdict

    from ragfleet.embedding import build_embedder
    from ragfleet.evaluation import abstention, beir

    settings = load_settings()
    with exit_on_error(2):
        dataset = beir.load(directory, split)
    embedder = build_embedder(settings.embeddings)
    answerable, unanswerable = abstention.best_similarities(dataset, embedder)
    report = abstention.choose_floor(answerable, unanswerable, answer_rate)
    console.print_json(json.dumps({"dataset": str(directory), "split": split, **asdict(report)}))


def index_without(
    services: Services, dataset: Dataset, split: Split, collection: str, reindex: bool
) -> float:
    """Index the corpus without the held-out documents, removing any an earlier run (another
    seed) indexed; returns the seconds it took."""
    from ragfleet.evaluation import answers

    seconds = index_corpus(services, answers.indexed_corpus(dataset, split), collection, reindex)
    ids = [document_id(collection, doc, "") for doc in split.held_out]  # by source: BEIR id
    for stale in services.registry.find_documents(ids):
        services.admission.delete(stale)
    return seconds


def ask_all(
    services: Services, dataset: Dataset, questions: list[tuple[str, bool]], collection: str
) -> Report:
    """Every question through the API's answer path (prepare, then answer), with a progress bar."""
    from ragfleet.evaluation import answers

    retrieval = services.settings.retrieval
    mode = SearchMode(retrieval.mode)

    def ask(text: str) -> Answer:
        request = SearchRequest(text, collection, retrieval.answer_passages, mode)
        return services.answers.answer(services.answers.prepare(request))

    with Progress(*Progress.get_default_columns(), console=errors) as progress:
        task = progress.add_task("questions", total=len(questions))
        return answers.evaluate(dataset, questions, ask, functools.partial(progress.advance, task))


ANSWER_ROWS = {
    "answer_recall": "answer recall (quotes a gold sentence)",
    "citation_precision": "citation precision",
    "citation_recall": "citation recall@k",
    "abstention": "abstention on unanswerable",
    "false_abstention": "false abstention on answerable",
}


def print_answers(header: dict[str, object], report: Report, as_json: bool) -> None:
    """The run's settings and the answer metrics: JSON on stdout, or a table."""
    from dataclasses import asdict

    if as_json:
        sys.stdout.write(json.dumps({**header, **asdict(report)}, indent=2) + "\n")
        return
    table = Table("metric", "value", title=f"{header['collection']} ({header['split']})")
    for key, label in ANSWER_ROWS.items():
        value = getattr(report, key)
        table.add_row(label, "n/a" if value is None else f"{value:.4f}")
    for half, median in report.groundedness_median.items():
        table.add_row(f"groundedness median, {half}", "n/a" if median is None else str(median))
    table.add_row("latency p50 / p95", f"{report.latency_p50_ms} / {report.latency_p95_ms} ms")
    table.add_row("questions", f"{report.answerable} answerable, {report.unanswerable} not")
    table.add_row("dropped (relevant document held out)", str(header["dropped"]))
    table.add_row("passages per answer (k)", str(header["answer_passages"]))
    table.add_row("answers per mode", ", ".join(f"{m} {n}" for m, n in report.modes.items()))
    console.print(table)


def eval_answers(
    directory: Annotated[Path, typer.Argument(help="BEIR dataset folder (corpus.jsonl, ...).")],
    split: Annotated[str, typer.Option(help="qrels split to ask.")] = "test",
    collection: Annotated[
        str | None, typer.Option(help="Collection to index into (default answers-<folder>).")
    ] = None,
    reindex: Annotated[bool, typer.Option(help="Drop and rebuild the collection first.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    limit_queries: Annotated[
        int | None, typer.Option(min=1, help="Ask only the first N questions (same index).")
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help="Shuffle the questions before halving (default id order).")
    ] = None,
) -> None:
    """Answer quality: index the corpus without the relevant documents of half the judged
    questions, ask all of them, and score answer recall, citations and abstention."""
    from ragfleet.evaluation import answers, beir

    settings = load_settings()
    with exit_on_error(2):
        dataset = beir.load(directory, split)
        name = validate_collection_name(
            collection or "answers-" + beir.default_collection(directory).removeprefix("beir-")
        )
    halves = answers.split_questions(dataset, seed)
    questions = answers.limit_questions(halves, limit_queries)
    with open_services(settings) as services:
        ingest_seconds = index_without(services, dataset, halves, name, reindex)
        report = ask_all(services, dataset, questions, name)
    header: dict[str, object] = {
        "dataset": str(directory),
        "split": split,
        "collection": name,
        "seed": seed,
        "llm_configured": bool(settings.llm.base_url),
        "answer_passages": settings.retrieval.answer_passages,
        "held_out_documents": len(halves.held_out),
        "dropped": halves.dropped,
        "ingest_seconds": round(ingest_seconds, 1),
    }
    print_answers(header, report, as_json)
