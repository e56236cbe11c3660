"""``ragfleet doctor``: compare the registry with the vector store, and repair what it can."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from ragfleet.cli.common import console, errors, exit_on_error, load_settings
from ragfleet.ingest.integrity import CollectionState, repair, survey
from ragfleet.services import close_all, open_stores


def _problem(state: CollectionState) -> str:
    if state.store_lost:
        return "[red]no points: the store lost them[/]"
    if state.registry_lost:
        return "[red]points nobody registered[/]"
    if state.unindexed_sources:
        return f"[red]{len(state.unindexed_sources)} document(s) without points[/]"
    return "[green]ok[/]"


def doctor(
    fix: Annotated[
        bool,
        typer.Option(
            "--repair",
            help="Forget registry entries whose points are gone (listed, to ingest again) and "
            "drop store collections no registry entry owns.",
        ),
    ] = False,
) -> None:
    """Check that every indexed document has points and every point a document (exit 1 on a
    problem left unrepaired)."""
    settings = load_settings()
    with exit_on_error():
        registry, store = open_stores(settings, check=False)
        try:
            states = survey(registry, store, deep=True)
            table = Table("collection", "indexed documents", "points", "state")
            for state in states:
                table.add_row(state.name, str(state.documents), str(state.points), _problem(state))
            console.print(table)
            broken = [state for state in states if not state.healthy]
            if broken and fix:
                done = repair(registry, store, broken)
                for source in done.forgotten:
                    console.print(f"forgotten (ingest it again): {source}")
                for name in done.dropped_collections:
                    console.print(f"dropped the store collection {name!r}")
            elif broken:
                errors.print("problems found; `ragfleet doctor --repair` fixes them")
                raise typer.Exit(1)
        finally:
            close_all(store, registry)


def register(app: typer.Typer) -> None:
    app.command()(doctor)
