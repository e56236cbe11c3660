"""Small BEIR-format datasets written to a folder, as the evaluation commands read them."""

from __future__ import annotations

import json
from pathlib import Path

Qrels = dict[str, dict[str, int]]


def write_beir(
    root: Path, docs: dict[str, tuple[str, str]], queries: dict[str, str], qrels: Qrels
) -> Path:
    """``docs`` maps an id to (title, text); ``qrels`` a query id to its judged documents."""
    (root / "qrels").mkdir(parents=True)
    (root / "corpus.jsonl").write_text(
        "\n".join(json.dumps({"_id": k, "title": t, "text": x}) for k, (t, x) in docs.items())
    )
    (root / "queries.jsonl").write_text(
        "\n".join(json.dumps({"_id": k, "text": v}) for k, v in queries.items())
    )
    rows = ["query-id\tcorpus-id\tscore"]
    rows += [f"{q}\t{d}\t{s}" for q, judged in qrels.items() for d, s in judged.items()]
    (root / "qrels" / "test.tsv").write_text("\n".join(rows) + "\n")
    return root
