"""Per-collection fusion: what ``ragfleet tune`` chose, else the settings' default.

The choices live in one small JSON file (``retrieval.tuning_file``), written atomically and read
again whenever its modification time changes, so a running server picks up a new tuning without
a restart. A file that cannot be read leaves every collection on the default, with a warning.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
from dataclasses import asdict
from pathlib import Path

from ragfleet.retrieval.fusion import Fusion, FusionMethod

logger = logging.getLogger(__name__)


def fusion_from_dict(data: dict[str, object]) -> Fusion:
    """A fusion from its JSON form; ``ValueError`` names what is wrong."""
    try:
        fusion = Fusion(
            method=FusionMethod(str(data["method"])),
            dense_weight=float(data.get("dense_weight", 1.0)),  # type: ignore[arg-type]
            sparse_weight=float(data.get("sparse_weight", 1.0)),  # type: ignore[arg-type]
            rrf_k=int(data.get("rrf_k", 60)),  # type: ignore[call-overload]
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"invalid fusion {data!r}: {exc}") from exc
    if min(fusion.dense_weight, fusion.sparse_weight) < 0 or fusion.rrf_k < 1:
        raise ValueError(f"invalid fusion {data!r}: weights must be >= 0 and rrf_k >= 1")
    return fusion


def fusion_to_dict(fusion: Fusion) -> dict[str, object]:
    return {**asdict(fusion), "method": fusion.method.value}


class FusionTable:
    def __init__(self, path: Path, default: Fusion) -> None:
        self.path = path
        self.default = default
        self._lock = threading.Lock()
        self._stamp: float | None = None
        self._table: dict[str, Fusion] = {}

    def get(self, collection: str) -> Fusion:
        return self._current().get(collection, self.default)

    def save(self, collection: str, fusion: Fusion) -> None:
        """Record ``collection``'s fusion, keeping the others; readers see the old or the new
        file, never a partial one."""
        with self._lock:
            table = {**self._read(), collection: fusion}
            body = {name: fusion_to_dict(fusion) for name, fusion in table.items()}
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=self.path.parent, suffix=".part")
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump(body, out, indent=2, sort_keys=True)
            os.replace(temporary, self.path)

    def _current(self) -> dict[str, Fusion]:
        try:
            stamp: float | None = self.path.stat().st_mtime_ns
        except OSError:
            stamp = None
        if stamp != self._stamp:
            with self._lock:
                self._table, self._stamp = self._read(), stamp
        return self._table

    def _read(self) -> dict[str, Fusion]:
        if not self.path.is_file():
            return {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return {str(name): fusion_from_dict(entry) for name, entry in data.items()}
        except (OSError, ValueError, AttributeError) as exc:
            logger.warning(
                "ignoring %s, every collection uses the default fusion: %s", self.path, exc
            )
            return {}
