"""``ragfleet ingest`` and the job helpers that ``serve`` (sample corpus) and ``eval`` share: submit
documents as jobs, wait while the queue is full, follow the jobs with a progress bar."""

from __future__ import annotations

import glob
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Column, Table

from ragfleet.cli.common import (
    CollectionOpt,
    collection_name,
    console,
    errors,
    load_settings,
    open_services,
)
from ragfleet.domain import JobStatus, ParsedDocument
from ragfleet.errors import DocumentTooLargeError, OverloadedError, RagfleetError
from ragfleet.ingest.parsers import supported
from ragfleet.services import Services

QUEUE_FULL_WAIT_S = 1.0


UNCHANGED_STAGE = "unchanged"  # the stage of a no-op job: identical content already indexed


def register(app: typer.Typer) -> None:
    """Attach ``ingest`` to ``app``."""
    app.command()(ingest)


def expand_paths(paths: list[str]) -> tuple[list[Path], dict[Path, str]]:
    """Files, folders (recursively) and glob patterns; files of a folder that no parser reads
    are returned apart, with the reason, so they are listed rather than silently left out."""
    found: dict[Path, None] = {}
    skipped: dict[Path, str] = {}
    for raw in paths:
        matches = [Path(m) for m in sorted(glob.glob(raw, recursive=True))] or [Path(raw)]
        for path in matches:
            if path.is_dir():
                for child in sorted(path.rglob("*")):
                    if not child.is_file():
                        continue
                    if supported(child.name):
                        found[child] = None
                    else:
                        skipped[child] = f"unsupported file type {child.suffix or '(none)'!r}"
            elif path.is_file():
                found[path] = None
            else:
                errors.print(f"[red]error:[/] no such file or folder: {raw}")
                raise typer.Exit(2)
    return list(found), skipped


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
    """Record and queue jobs for the documents in batches, waiting while the queue is full;
    returns every job id."""
    job_ids: list[str] = []
    for start in range(0, len(documents), batch):
        part = documents[start : start + batch]
        while True:
            try:
                accepted = services.admission.submit(part, collection, None)
                break
            except OverloadedError:
                services.runner.pause(QUEUE_FULL_WAIT_S)
        job_ids += [a.job_id for a in accepted]
    return job_ids


def ingest_documents(
    services: Services, documents: list[ParsedDocument], collection: str, label: str
) -> list[str]:
    """Submit documents and follow their jobs to the end; returns the job ids."""
    job_ids = submit_documents(services, documents, collection)
    wait_for_jobs(services, job_ids, label)
    return job_ids


def submit_file(services: Services, path: Path, collection: str) -> list[str]:
    """Parse one file and queue its documents; returns the job ids."""
    limit = services.settings.limits.max_upload_bytes
    if path.stat().st_size > limit:
        raise DocumentTooLargeError(f"over the {limit}-byte upload limit")
    documents = services.parser.parse(str(path), path.read_bytes())
    return submit_documents(services, documents, collection)


def add_job_results(services: Services, submitted: dict[Path, list[str]], table: Table) -> int:
    """Add a row per file with its finished jobs to ``table``; returns how many files failed."""
    failed = 0
    for path, job_ids in submitted.items():
        jobs = [services.registry.get_job(j) for j in job_ids]
        bad = [j for j in jobs if j.status == JobStatus.FAILED.value]
        failed += bool(bad)
        if bad:
            result = f"[red]{bad[0].error}[/]"
        elif all(j.stage == UNCHANGED_STAGE for j in jobs):
            result = "unchanged (already indexed)"
        else:
            result = "[green]indexed[/]"
        table.add_row(str(path), str(len(job_ids)), result)
    return failed


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
    files, skipped = expand_paths(paths)
    table = Table(Column("file", overflow="fold"), "documents", Column("result", overflow="fold"))
    for path, reason in skipped.items():
        table.add_row(str(path), "-", f"[yellow]skipped: {reason}[/]")
    if not files:
        console.print(table)
        errors.print("[red]error:[/] no supported files found")
        raise typer.Exit(2)
    failed = 0
    submitted: dict[Path, list[str]] = {}
    # With a Qdrant server, queued jobs are the workers' business; otherwise this process
    # owns the store and runs them (in-process, or as the embedded Celery worker).
    run_jobs = not (settings.redis.url and settings.qdrant.url)
    with open_services(settings, run_jobs=run_jobs) as services:
        # Jobs start while later files are still being parsed; one progress bar follows them all.
        for path in files:
            try:
                submitted[path] = submit_file(services, path, collection)
            except (RagfleetError, OSError) as exc:  # unreadable files fail alone
                failed += 1
                message = exc.message if isinstance(exc, RagfleetError) else str(exc)
                table.add_row(str(path), "-", f"[red]{message}[/]")
        job_ids = [j for ids in submitted.values() for j in ids]
        if not follow:
            console.print(f"Enqueued {len(job_ids)} job(s); follow them with GET /v1/jobs.")
            raise typer.Exit(1 if failed else 0)
        wait_for_jobs(services, job_ids, "Indexing")
        failed += add_job_results(services, submitted, table)
    console.print(table)
    if failed:
        errors.print(f"[red]{failed} of {len(files)} file(s) failed[/]")
        raise typer.Exit(1)
