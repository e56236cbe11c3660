"""``ragfleet jobs``: act on ingestion jobs through the registry alone, so it works beside a
running server (which owns the embedded store) as well as against PostgreSQL."""

from __future__ import annotations

from typing import Annotated

import typer

from ragfleet.cli.common import console, exit_on_error, load_settings
from ragfleet.errors import ConflictError
from ragfleet.registry.repository import Registry


def cancel(job_id: Annotated[str, typer.Argument(help="The job to stop.")]) -> None:
    """Cancel a queued or running job; it stops at its next step and the document's previous
    version stays searchable (retry it with POST /v1/jobs/{id}/retry)."""
    settings = load_settings()
    registry = Registry(settings.database_url, settings.database.pool_size)
    try:
        with exit_on_error():
            job = registry.get_job(job_id)
            if not registry.cancel_job(job_id):
                raise ConflictError(f"job {job_id} is {job.status}; only active jobs are cancelled")
        console.print(f"cancelled job {job_id} (document {job.document_id})")
    finally:
        registry.close()


def register(app: typer.Typer) -> None:
    jobs = typer.Typer(help="Ingestion jobs.", no_args_is_help=True)
    jobs.command()(cancel)
    app.add_typer(jobs, name="jobs")
