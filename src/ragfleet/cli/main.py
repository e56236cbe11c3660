"""``ragfleet``: serve the API, run workers, ingest, search, ask and evaluate from a terminal.

Every command reads the same settings as the server (``RAGFLEET_*`` variables and ``.env``). The
commands work on the configured stores directly; the embedded store (Qdrant Edge) belongs to one
process, so beside a running ``ragfleet serve`` on the same data directory they refuse with one
line naming it (use its HTTP API), except ``jobs``, which needs only the registry.
"""

from __future__ import annotations

import sys

import typer

from ragfleet.cli import (
    deploy_commands,
    doctor_commands,
    eval_commands,
    ingest_commands,
    jobs_commands,
    keys_commands,
    query_commands,
    serve_commands,
    tune_commands,
    worker_commands,
)

app = typer.Typer(
    name="ragfleet",
    help="Retrieval-augmented generation: ingest documents, search them, answer with citations.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def config() -> None:
    """Print every setting as a Markdown table: environment variable, type, default, meaning."""
    from ragfleet.settings_doc import markdown_table

    sys.stdout.write(markdown_table())


# ``--help`` lists commands, then groups, each in the order they are registered here.
eval_commands.register(app)
tune_commands.register(app)
deploy_commands.register(app)
serve_commands.register(app)
worker_commands.register(app)
app.command()(config)
ingest_commands.register(app)
jobs_commands.register(app)
doctor_commands.register(app)
keys_commands.register(app)
query_commands.register(app)
