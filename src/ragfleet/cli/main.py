"""``ragfleet``: serve the API, run workers, ingest, search, ask and evaluate from a terminal.

Every command reads the same settings as the server (``RAGFLEET_*`` variables and ``.env``). The
commands other than ``serve`` and ``worker`` work on the configured stores directly: with the
embedded default, stop a running ``ragfleet serve`` on the same data directory first (Qdrant Edge
is single-process), or use the HTTP API.
"""

from __future__ import annotations

import functools
import glob
import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ragfleet.cli import deploy_commands
from ragfleet.domain import JobStatus, ParsedDocument
from ragfleet.errors import DocumentTooLargeError, RagfleetError
from ragfleet.ingest.parsers import parse_file, parse_text, supported
from ragfleet.retrieval.search import SearchRequest
from ragfleet.retrieval.store import SearchMode
from ragfleet.services import Services, build_services
from ragfleet.settings import Settings, validate_collection_name
from ragfleet.telemetry.logging import configure_logging

app = typer.Typer(
    name="ragfleet",
    help="Retrieval-augmented generation: ingest documents, search them, answer with citations.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
eval_app = typer.Typer(help="Measure retrieval quality.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")
deploy_commands.register(app)

console = Console()
# Progress and diagnostics go to stderr so that --json output stays parseable.
errors = Console(stderr=True)

CollectionOpt = Annotated[
    str | None, typer.Option("--collection", "-c", help="Collection (default: settings).")
]
ModeOpt = Annotated[
    SearchMode | None, typer.Option("--mode", "-m", help="hybrid, dense or sparse.")
]
TopKOpt = Annotated[int | None, typer.Option("--top-k", "-k", help="Number of results.")]
FilterOpt = Annotated[
    list[str] | None,
    typer.Option("--filter", "-f", help="Metadata filter key=value (repeatable; same key: any)."),
]


def load_settings() -> Settings:
    try:
        settings = Settings()
    except ValidationError as exc:
        for error in exc.errors():
            name = ".".join(str(p) for p in error["loc"])
            errors.print(f"[red]invalid setting[/] {name or 'settings'}: {error['msg']}")
        raise typer.Exit(2) from exc
    configure_logging(settings.log.level, settings.log.json_format)
    return settings


@contextmanager
def open_services(settings: Settings, *, run_jobs: bool = True) -> Iterator[Services]:
    """Build the components and turn domain errors into a message and exit code 1."""
    services: Services | None = None
    try:
        with errors.status("Loading models and stores…"):
            services = build_services(settings, run_jobs=run_jobs)
        yield services
    except RagfleetError as exc:
        errors.print(f"[red]error:[/] {exc.message}")
        raise typer.Exit(1) from exc
    finally:
        if services is not None:
            services.close()


def collection_name(value: str | None, settings: Settings) -> str:
    try:
        return validate_collection_name(value or settings.default_collection)
    except ValueError as exc:
        errors.print(f"[red]error:[/] --collection: {exc}")
        raise typer.Exit(2) from exc


def parse_filters(values: list[str] | None) -> dict[str, object] | None:
    if not values:
        return None
    filters: dict[str, list[object]] = {}
    for item in values:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            errors.print(f"[red]error:[/] --filter takes key=value, got {item!r}")
            raise typer.Exit(2)
        value: object = int(raw) if raw.lstrip("-").isdigit() else raw
        filters.setdefault(key, []).append(value)
    return {k: v[0] if len(v) == 1 else v for k, v in filters.items()}


def expand_paths(paths: list[str]) -> list[Path]:
    """Files, folders (recursively, supported types only) and glob patterns."""
    found: dict[Path, None] = {}
    for raw in paths:
        matches = [Path(m) for m in sorted(glob.glob(raw, recursive=True))] or [Path(raw)]
        for path in matches:
            if path.is_dir():
                for child in sorted(path.rglob("*")):
                    if child.is_file() and supported(child.name):
                        found[child] = None
            elif path.is_file():
                found[path] = None
            else:
                errors.print(f"[red]error:[/] no such file or folder: {raw}")
                raise typer.Exit(2)
    return list(found)


def wait_for_jobs(services: Services, job_ids: list[str], label: str) -> None:
    """Follow jobs with a progress bar until all have finished."""
    pending = set(job_ids)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=errors) as progress:
        task = progress.add_task(label, total=len(job_ids))
        while pending:
            services.runner.pause(0.5)
            pending -= services.registry.finished(pending)
            progress.update(task, completed=len(job_ids) - len(pending))


def submit_documents(
    services: Services, documents: list[ParsedDocument], collection: str, batch: int = 500
) -> list[str]:
    """Record and queue jobs for the documents, in batches; returns every job id."""
    job_ids: list[str] = []
    for start in range(0, len(documents), batch):
        accepted = services.ingestion.accept(documents[start : start + batch], collection, None)
        services.runner.submit([a.job_id for a in accepted if a.status is JobStatus.QUEUED])
        job_ids += [a.job_id for a in accepted]
    return job_ids


def ingest_documents(
    services: Services, documents: list[ParsedDocument], collection: str, label: str
) -> list[str]:
    """Submit documents and follow their jobs to the end; returns the job ids."""
    job_ids = submit_documents(services, documents, collection)
    wait_for_jobs(services, job_ids, label)
    return job_ids


def ingest_sample(services: Services) -> int:
    """Index the bundled sample corpus into the default collection once."""
    collection = services.settings.default_collection
    if services.store.count(collection) > 0:
        return 0
    documents: list[ParsedDocument] = []
    for entry in sorted(resources.files("ragfleet.sample").iterdir(), key=lambda e: e.name):
        if supported(entry.name):
            documents += parse_file(f"sample/{entry.name}", entry.read_bytes())
    ingest_documents(services, documents, collection, "Indexing the sample corpus")
    return len(documents)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8000).")] = None,
    sample: Annotated[
        bool | None,
        typer.Option(
            help="Index the bundled sample corpus when the store is empty "
            "(default: only in the development environment)."
        ),
    ] = None,
) -> None:
    """Start the HTTP API (docs at /docs); jobs run in this process unless a queue is set."""
    import uvicorn

    from ragfleet.api.app import create_app

    settings = load_settings()
    host = host or settings.server.host
    port = port or settings.server.port
    if host not in ("127.0.0.1", "localhost", "::1") and not settings.auth.api_keys:
        errors.print(
            f"[yellow]warning:[/] serving on {host} without API keys: anyone who can reach "
            "this port can read and change every document (set RAGFLEET_AUTH__API_KEYS)"
        )
    with open_services(settings) as services:
        if sample if sample is not None else settings.environment == "development":
            count = ingest_sample(services)
            if count:
                console.print(
                    f"Indexed {count} sample documents into '{settings.default_collection}'."
                )
        base = f"http://{host}:{port}"
        console.print(f"[bold green]ragfleet[/] serving on {base}   API docs: {base}/docs")
        auth = ' -H "Authorization: Bearer $KEY"' if settings.auth.api_keys else ""
        console.print(
            "Try:\n  curl -s "
            + base
            + "/v1/query -H 'Content-Type: application/json'"
            + auth
            + ' -d \'{"question": "How do I deploy ragfleet to Kubernetes?"}\'',
            soft_wrap=True,
        )
        uvicorn.run(
            create_app(settings, services),
            host=host,
            port=port,
            log_config=None,
            access_log=False,
        )


@app.command()
def worker(
    queues: Annotated[
        list[str] | None,
        typer.Option("--queues", "-Q", help="Queues to consume (default: ingest, maintenance)."),
    ] = None,
    concurrency: Annotated[
        int | None, typer.Option(help="Tasks at once (default: worker.concurrency).", min=1)
    ] = None,
) -> None:
    """Run a Celery ingestion worker (needs RAGFLEET_REDIS__URL and RAGFLEET_QDRANT__URL)."""
    from prometheus_client import start_http_server

    from ragfleet.workers.celery_app import QUEUES
    from ragfleet.workers.celery_queue import CeleryQueue
    from ragfleet.workers.worker import run_worker

    settings = load_settings()
    if not settings.redis.url:
        errors.print("[red]error:[/] a worker needs a Redis broker: set RAGFLEET_REDIS__URL")
        raise typer.Exit(2)
    if not settings.qdrant.url:
        errors.print(
            "[red]error:[/] the embedded vector store (Qdrant Edge) belongs to one process, so "
            "separate workers need a Qdrant server: set RAGFLEET_QDRANT__URL (or let "
            "`ragfleet serve` run the worker inside its own process)"
        )
        raise typer.Exit(2)
    chosen = [q.strip() for item in queues or list(QUEUES) for q in item.split(",") if q.strip()]
    unknown = sorted(set(chosen) - set(QUEUES))
    if unknown:
        errors.print(f"[red]error:[/] unknown queue {unknown[0]!r}; use {', '.join(QUEUES)}")
        raise typer.Exit(2)
    with open_services(settings, run_jobs=False) as services:
        runner = services.runner
        if not isinstance(runner, CeleryQueue):  # cannot happen with redis.url set
            raise typer.Exit(2)
        if settings.worker.metrics_port:
            start_http_server(settings.worker.metrics_port)
        run_worker(runner.app, chosen, concurrency or settings.worker.concurrency)


@app.command("worker-probe")
def worker_probe() -> None:
    """Exit 0 when this host's worker heartbeat is fresh (a Kubernetes exec probe)."""
    settings = load_settings()
    path = settings.heartbeat_file
    limit = 3 * settings.worker.heartbeat_interval_s
    try:
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        errors.print(f"[red]unhealthy:[/] no heartbeat at {path} yet")
        raise typer.Exit(1) from None
    if age > limit:
        errors.print(f"[red]unhealthy:[/] last heartbeat {age:.0f} s ago (limit {limit:.0f} s)")
        raise typer.Exit(1)
    console.print(f"ok: heartbeat {age:.1f} s ago")


@app.command()
def config() -> None:
    """Print every setting as a Markdown table: environment variable, type, default, meaning."""
    from ragfleet.settings_doc import markdown_table

    sys.stdout.write(markdown_table())


@app.command()
def ingest(
    paths: Annotated[list[str], typer.Argument(help="Files, folders or glob patterns.")],
    collection: CollectionOpt = None,
    queue: Annotated[
        bool,
        typer.Option(
            "--async",
            help="Hand the jobs to the Celery workers through Redis (RAGFLEET_REDIS__URL) and "
            "follow them; with a Qdrant server this process indexes nothing itself.",
        ),
    ] = False,
    follow: Annotated[
        bool, typer.Option(help="Wait for the jobs and report them (--no-follow: just enqueue).")
    ] = True,
) -> None:
    """Parse, chunk, embed and index documents; prints a summary table."""
    settings = load_settings()
    collection = collection_name(collection, settings)
    if queue and not settings.redis.url:
        errors.print("[red]error:[/] --async needs a Redis broker: set RAGFLEET_REDIS__URL")
        raise typer.Exit(2)
    if not follow and not settings.redis.url:
        errors.print("[red]error:[/] --no-follow needs workers: set RAGFLEET_REDIS__URL")
        raise typer.Exit(2)
    files = expand_paths(paths)
    if not files:
        errors.print("[red]error:[/] no supported files found")
        raise typer.Exit(2)
    table = Table("file", "documents", "result")
    failed = 0
    submitted: dict[Path, list[str]] = {}
    # With a Qdrant server, queued jobs are the workers' business; otherwise this process
    # owns the store and runs them (in-process, or as the embedded Celery worker).
    run_jobs = not (settings.redis.url and settings.qdrant.url)
    with open_services(settings, run_jobs=run_jobs) as services:
        # Jobs start while later files are still being parsed; one progress bar follows them all.
        for path in files:
            try:
                if path.stat().st_size > settings.limits.max_upload_bytes:
                    limit = settings.limits.max_upload_bytes
                    raise DocumentTooLargeError(f"over the {limit}-byte upload limit")
                docs = parse_file(str(path), path.read_bytes())
                submitted[path] = submit_documents(services, docs, collection)
            except (RagfleetError, OSError) as exc:  # unreadable files fail alone
                failed += 1
                message = exc.message if isinstance(exc, RagfleetError) else str(exc)
                table.add_row(str(path), "-", f"[red]{message}[/]")
        job_ids = [j for ids in submitted.values() for j in ids]
        if not follow:
            console.print(f"Enqueued {len(job_ids)} job(s); follow them with GET /v1/jobs.")
            raise typer.Exit(1 if failed else 0)
        wait_for_jobs(services, job_ids, "Indexing")
        for path, job_ids in submitted.items():
            jobs = [services.registry.get_job(j) for j in job_ids]
            bad = [j for j in jobs if j.status == JobStatus.FAILED.value]
            failed += bool(bad)
            result = f"[red]{bad[0].error}[/]" if bad else "[green]indexed[/]"
            table.add_row(str(path), str(len(job_ids)), result)
    console.print(table)
    if failed:
        errors.print(f"[red]{failed} of {len(files)} file(s) failed[/]")
        raise typer.Exit(1)


def _request(
    query: str,
    settings: Settings,
    collection: str | None,
    mode: SearchMode | None,
    top_k: int,
    filters: list[str] | None,
) -> SearchRequest:
    return SearchRequest(
        query=query,
        collection=collection_name(collection, settings),
        top_k=top_k,
        mode=mode or SearchMode(settings.retrieval.mode),
        filters=parse_filters(filters),
    )


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    collection: CollectionOpt = None,
    mode: ModeOpt = None,
    top_k: TopKOpt = None,
    filters: FilterOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Ranked chunks for a query."""
    settings = load_settings()
    k = top_k or settings.retrieval.top_k
    with open_services(settings, run_jobs=False) as services:
        result = services.search.search(_request(query, settings, collection, mode, k, filters))
    if as_json:
        hits = [{"score": h.score, "chunk_id": h.point_id, **h.payload} for h in result.hits]
        console.print_json(json.dumps({"data": hits, "timings_ms": result.timings_ms}))
        return
    table = Table("#", "score", "title / section", "text")
    for n, hit in enumerate(result.hits, start=1):
        where = f"{hit.payload.get('title', '')}\n[dim]{hit.payload.get('section', '')}[/]"
        table.add_row(str(n), f"{hit.score:.3f}", where, hit.text[:200])
    console.print(table)


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="The question.")],
    collection: CollectionOpt = None,
    mode: ModeOpt = None,
    top_k: TopKOpt = None,
    filters: FilterOpt = None,
) -> None:
    """Answer a question from the indexed documents, streaming, then list the sources."""
    settings = load_settings()
    k = top_k or settings.retrieval.answer_passages
    with open_services(settings, run_jobs=False) as services:
        prepared = services.answers.prepare(
            _request(question, settings, collection, mode, k, filters)
        )
        citations: list[dict[str, object]] = []
        for event, data in services.answers.stream(prepared):
            if event == "meta" and data["mode"] == "extractive":
                errors.print(f"[dim]extractive answer ({data['fallback_reason']})[/]")
            elif event == "token":
                console.print(data["text"], end="", soft_wrap=True)
            elif event == "citations":
                citations = list(data["citations"])
            elif event == "error":
                errors.print(f"\n[red]{data['message']}[/]")
        console.print()
    table = Table("[n]", "title / section", "source")
    for cite in citations:
        table.add_row(
            str(cite["n"]), f"{cite['title']}\n[dim]{cite['section']}[/]", str(cite["source"])
        )
    if citations:
        console.print(table)


@eval_app.command("beir")
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
    try:
        dataset = beir.load(directory, split)
    except RagfleetError as exc:
        errors.print(f"[red]error:[/] {exc.message}")
        raise typer.Exit(2) from exc
    name = collection or "beir-" + "".join(
        c if c.isalnum() else "-" for c in directory.name.lower()
    )
    modes = mode or list(SearchMode)
    settings.retrieval.max_top_k = max(settings.retrieval.max_top_k, beir.RANK_DEPTH * 3)
    results: dict[str, dict[str, float]] = {}
    with open_services(settings) as services:
        if reindex:
            services.store.drop_collection(name)
        documents = [
            parse_text(text or title, title, doc_id, {})
            for doc_id, (title, text) in dataset.corpus.items()
            if (text or title).strip()
        ]
        began = time.perf_counter()
        ingest_documents(services, documents, name, f"Indexing {len(documents)} documents")
        ingest_seconds = time.perf_counter() - began
        for search_mode in modes:
            with Progress(*Progress.get_default_columns(), console=errors) as progress:
                task = progress.add_task(f"{search_mode.value} queries", total=len(dataset.queries))

                def run(text: str, m: SearchMode = search_mode) -> list:  # type: ignore[type-arg]
                    request = SearchRequest(text, name, beir.RANK_DEPTH * 3, m)
                    return services.search.search(request).hits

                results[search_mode.value] = beir.evaluate(
                    dataset, run, functools.partial(progress.advance, task)
                )
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
