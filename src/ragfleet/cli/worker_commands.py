"""``ragfleet worker`` and its Kubernetes probe: the separate Celery ingestion process.

Celery, the worker helpers and the metrics server are imported inside the commands, so the other
commands never load them."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from ragfleet.cli.common import LOADING, console, errors, exit_on_error, load_settings


def register(app: typer.Typer) -> None:
    """Attach ``worker`` and ``worker-probe`` to ``app``."""
    app.command()(worker)
    app.command("worker-probe")(worker_probe)


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

    from ragfleet.services import build_task_context, close_task_context
    from ragfleet.workers.celery_app import create_celery
    from ragfleet.workers.celery_queue import CeleryQueue
    from ragfleet.workers.queues import QUEUES
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
    with exit_on_error(), errors.status(LOADING):
        context = build_task_context(settings)
    celery = create_celery(settings, context)
    # Publishes requeued jobs and reports the queues on this worker's /metrics.
    queue = CeleryQueue(celery, queue_size=settings.jobs.queue_size, host_worker=False)
    try:
        if settings.worker.metrics_port:
            start_http_server(settings.worker.metrics_port)
        run_worker(celery, chosen, concurrency or settings.worker.concurrency)
    finally:
        queue.close()
        close_task_context(context)


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
