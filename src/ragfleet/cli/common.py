"""What every command shares: the consoles, settings, the services and the error-to-exit-code
mapping, so that each command module stays about its own work."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console

from ragfleet.domain import validate_collection_name
from ragfleet.errors import RagfleetError
from ragfleet.services import Services, build_services
from ragfleet.settings import Settings
from ragfleet.telemetry.logging import configure_logging

console = Console()
# Progress and diagnostics go to stderr so that --json output stays parseable.
errors = Console(stderr=True)

LOADING = "Loading models and stores…"

CollectionOpt = Annotated[
    str | None, typer.Option("--collection", "-c", help="Collection (default: settings).")
]


@contextmanager
def exit_on_error(code: int = 1, prefix: str = "") -> Iterator[None]:
    """Turn a domain error into ``error: <prefix><message>`` on stderr and exit ``code``."""
    try:
        yield
    except RagfleetError as exc:
        errors.print(f"[red]error:[/] {prefix}{exc.message}")
        raise typer.Exit(code) from exc


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
    with exit_on_error():
        with errors.status(LOADING):
            services = build_services(settings, run_jobs=run_jobs)
        try:
            yield services
        finally:
            services.close()


def collection_name(value: str | None, settings: Settings) -> str:
    with exit_on_error(2, "--collection: "):
        return validate_collection_name(value or settings.default_collection)
