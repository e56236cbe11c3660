"""``ragfleet tune``: choose a collection's hybrid fusion on judged queries (BEIR format).

The evaluation package is imported inside the function, so other commands never load it."""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import Progress
from rich.table import Table

from ragfleet.cli.common import console, errors, exit_on_error, load_settings, open_services
from ragfleet.retrieval.tuning import fusion_to_dict

if TYPE_CHECKING:
    from ragfleet.evaluation.fusion_tuning import Tuned


def register(app: typer.Typer) -> None:
    app.command("tune")(tune)


def print_tuning(collection: str, tuned: Tuned, saved: Path | None, as_json: bool) -> None:
    """The current and the chosen fusion with their nDCG@10 on each split."""
    from ragfleet.evaluation.fusion_tuning import SPLITS

    rows = {
        "current": (tuned.default, tuned.default_ndcg),
        "chosen": (tuned.chosen, tuned.chosen_ndcg),
    }
    if as_json:
        report = {
            "collection": collection,
            "fusions_tried": tuned.tried,
            "saved_to": str(saved) if saved else None,
            **{
                name: {"fusion": fusion_to_dict(fusion), "ndcg@10": scores}
                for name, (fusion, scores) in rows.items()
            },
        }
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
        return
    table = Table("fusion", "method", "dense:sparse", "rrf k", *(f"nDCG@10 {s}" for s in SPLITS))
    for name, (fusion, scores) in rows.items():
        weights = f"{fusion.dense_weight:g}:{fusion.sparse_weight:g}"
        cells = [f"{scores[s]:.4f}" for s in SPLITS]
        table.add_row(name, fusion.method.value, weights, str(fusion.rrf_k), *cells)
    console.print(table)
    console.print(f"saved to {saved}" if saved else "not saved (--dry-run)")


def tune(
    directory: Annotated[Path, typer.Argument(help="BEIR dataset folder with judged queries.")],
    split: Annotated[str, typer.Option(help="qrels split to use.")] = "test",
    collection: Annotated[
        str | None, typer.Option(help="Collection holding the corpus (default beir-<folder>).")
    ] = None,
    dry_run: Annotated[bool, typer.Option(help="Report, but keep the current fusion.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Pick the collection's hybrid fusion (RRF, DBSF or weighted) on one half of the judged
    queries; report it on the other half and the full set. Index the corpus first with
    `ragfleet eval beir`."""
    from ragfleet.evaluation import beir, fusion_tuning

    settings = load_settings()
    with exit_on_error(2):
        dataset = beir.load(directory, split)
    name = collection or beir.default_collection(directory)
    depth = beir.RANK_DEPTH * 3  # as `ragfleet eval beir` searches, so the figures compare
    settings.retrieval.max_top_k = max(settings.retrieval.max_top_k, depth)
    with open_services(settings, run_jobs=False) as services:
        if not services.store.count(name):
            errors.print(
                f"[red]error:[/] collection {name!r} is empty; index it first with "
                f"`ragfleet eval beir {directory}`"
            )
            raise typer.Exit(2)
        search = services.search
        with Progress(*Progress.get_default_columns(), console=errors) as progress:
            task = progress.add_task("retrieving", total=len(dataset.queries))
            advance = functools.partial(progress.advance, task)
            retrieved = fusion_tuning.retrieve(search, name, dataset, depth, advance)
        tuned = fusion_tuning.tune(retrieved, dataset, search.fusions.get(name), depth)
        saved = None
        if not dry_run:
            search.fusions.save(name, tuned.chosen)
            saved = search.fusions.path
    print_tuning(name, tuned, saved, as_json)
