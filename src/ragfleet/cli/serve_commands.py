"""``ragfleet serve``: the HTTP API, with the bundled sample corpus indexed on first start."""

from __future__ import annotations

from importlib import resources
from typing import Annotated

import typer

from ragfleet.cli.common import console, errors, load_settings, open_services
from ragfleet.cli.ingest_commands import ingest_documents
from ragfleet.domain import ParsedDocument
from ragfleet.ingest.parsers import parse_file, supported
from ragfleet.services import Services


def register(app: typer.Typer) -> None:
    """Attach ``serve`` to ``app``."""
    app.command()(serve)


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
