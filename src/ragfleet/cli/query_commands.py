"""``ragfleet search`` and ``ragfleet ask``: read-only queries against the indexed documents,
with the options and request they share."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from ragfleet.cli.common import (
    CollectionOpt,
    collection_name,
    console,
    errors,
    load_settings,
    open_services,
)
from ragfleet.retrieval.search import SearchRequest
from ragfleet.retrieval.store import SearchMode
from ragfleet.settings import Settings

ModeOpt = Annotated[
    SearchMode | None, typer.Option("--mode", "-m", help="hybrid, dense or sparse.")
]
TopKOpt = Annotated[
    int | None, typer.Option("--top-k", "-k", min=1, help="Number of results (at least 1).")
]
FilterOpt = Annotated[
    list[str] | None,
    typer.Option("--filter", "-f", help="Metadata filter key=value (repeatable; same key: any)."),
]


def register(app: typer.Typer) -> None:
    """Attach ``search`` and ``ask`` to ``app``."""
    app.command()(search)
    app.command()(ask)


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


def search_request(
    query: str,
    settings: Settings,
    collection: str | None,
    mode: SearchMode | None,
    top_k: int,
    filters: list[str] | None,
) -> SearchRequest:
    """The request for the command-line options, with the settings' defaults."""
    return SearchRequest(
        query=query,
        collection=collection_name(collection, settings),
        top_k=top_k,
        mode=mode or SearchMode(settings.retrieval.mode),
        filters=parse_filters(filters),
    )


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
        request = search_request(query, settings, collection, mode, k, filters)
        result = services.search.search(request)
    if as_json:
        hits = [
            {"score": h.score, "chunk_id": h.point_id, **h.payload.to_dict()} for h in result.hits
        ]
        console.print_json(json.dumps({"data": hits, "timings_ms": result.timings_ms}))
        return
    table = Table("#", "score", "title / section", "text")
    for n, hit in enumerate(result.hits, start=1):
        where = f"{hit.payload.title}\n[dim]{hit.payload.section}[/]"
        table.add_row(str(n), f"{hit.score:.3f}", where, hit.text[:200])
    console.print(table)


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
        request = search_request(question, settings, collection, mode, k, filters)
        prepared = services.answers.prepare(request)
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
