"""Fail unless a ``ragfleet eval beir --json`` report meets an environment's thresholds.

    python scripts/eval_gate.py report.json --thresholds eval/thresholds.json --env prod

The report holds ``{"modes": {"hybrid": {"ndcg@10": 0.98, ...}, ...}}``; the thresholds file holds
``{"prod": {"ndcg@10": 0.85}}``, minimum values for the metrics of the gated ``--mode``. A Markdown
table goes to stdout (the workflow appends it to the job summary); exit status 1 on any shortfall,
2 on a report or thresholds file that cannot be used.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any


class GateError(Exception):
    """The report or the thresholds cannot be used."""


def load(path: Path) -> dict[str, object]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise GateError(f"{path} is not a readable JSON file: {exc}") from exc
    if not isinstance(data, dict):
        raise GateError(f"{path} does not hold a JSON object")
    return data


def section(data: Mapping[str, object], key: str, where: str) -> dict[str, Any]:
    value = data.get(key)
    if not isinstance(value, dict) or not value:
        raise GateError(f"no {key!r} in {where}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path, help="JSON written by `ragfleet eval beir --json`")
    parser.add_argument("--thresholds", type=Path, default=Path("eval/thresholds.json"))
    parser.add_argument("--env", default="prod", help="environment whose thresholds apply")
    parser.add_argument("--mode", default="hybrid", help="retrieval mode to gate")
    args = parser.parse_args(argv)

    try:
        minimums = section(load(args.thresholds), args.env, str(args.thresholds))
        modes = section(load(args.report), "modes", str(args.report))
        measured = section(modes, args.mode, f"the modes of {args.report}")
    except GateError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2

    rows = ["| metric | measured | minimum | |", "| --- | ---: | ---: | --- |"]
    failed = False
    for metric, minimum in sorted(minimums.items()):
        value = measured.get(metric)
        ok = isinstance(value, int | float) and value >= minimum
        failed = failed or not ok
        shown = f"{value:.4f}" if isinstance(value, int | float) else "missing"
        rows.append(f"| {metric} | {shown} | {minimum:.4f} | {'pass' if ok else 'FAIL'} |")
    verdict = "below the threshold" if failed else "passes"
    heading = f"### Evaluation gate ({args.env}, {args.mode}): {verdict}"
    sys.stdout.write("\n".join([heading, "", *rows]) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
