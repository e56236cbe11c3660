"""Render the ragfleet Helm chart for one environment through the real Helm engine.

``ragfleet render --env staging|prod`` uses this module so a person can read exactly what Argo CD
will apply: the chart in ``deploy/helm/ragfleet`` with ``values-<env>.yaml`` on top, rendered by
Helm's own Go template engine (``helm-python-sdk``), schema-checked against ``values.schema.json``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import helm_python
import yaml

from ragfleet.deploy.environments import ENVIRONMENTS, EnvironmentName

logger = logging.getLogger(__name__)

CHART_PATH: Final = Path("deploy/helm/ragfleet")
RELEASE_NAME: Final = "ragfleet"
_UNSAFE_FILENAME = re.compile(r"[^a-z0-9.-]+")


@dataclass(frozen=True)
class Manifest:
    """One rendered Kubernetes object and the template it came from."""

    source: str
    obj: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.obj.get("kind", ""))

    @property
    def name(self) -> str:
        metadata = self.obj.get("metadata") or {}
        return str(metadata.get("name", ""))


def find_chart(start: Path) -> Path:
    """The chart directory in ``start`` or the nearest parent that holds one."""
    for directory in (start, *start.parents):
        candidate = directory / CHART_PATH
        if (candidate / "Chart.yaml").is_file():
            return candidate
    raise FileNotFoundError(f"no {CHART_PATH}/Chart.yaml in {start} or its parents")


def merge_values(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge ``override`` onto ``base`` as Helm merges several ``-f`` files."""
    merged = dict(base)
    for key, value in override.items():
        current = merged.get(key)
        if isinstance(current, Mapping) and isinstance(value, Mapping):
            merged[key] = merge_values(current, value)
        else:
            merged[key] = value
    return merged


def load_values(files: Iterable[Path]) -> dict[str, Any]:
    """Read values files in order, later files winning."""
    values: dict[str, Any] = {}
    for path in files:
        document = helm_python.values_from_yaml(path.read_text(encoding="utf-8"))
        values = merge_values(values, document)
    return values


def render_chart(
    chart_dir: Path,
    values: Mapping[str, Any],
    *,
    namespace: str,
    release: str = RELEASE_NAME,
) -> list[Manifest]:
    """Render the chart offline into parsed objects; Helm checks ``values.schema.json`` first.

    Raises:
        helm_python.HelmValuesError: the values break ``values.schema.json``.
        helm_python.HelmRenderError: a template failed (including the chart's own ``fail`` checks).
    """
    with helm_python.Chart.load(chart_dir) as chart:
        rendered = chart.render(dict(values), name=release, namespace=namespace, is_install=True)
    manifests: list[Manifest] = []
    for source in sorted(rendered):
        if not source.endswith((".yaml", ".yml")):
            continue  # NOTES.txt
        for document in yaml.safe_load_all(rendered[source]):
            if document:
                manifests.append(Manifest(source=source, obj=document))
    logger.debug("rendered %d objects from %s", len(manifests), chart_dir)
    return manifests


def render_environment(env: EnvironmentName, chart_dir: Path) -> list[Manifest]:
    """Render the chart with ``values-<env>.yaml`` into that environment's namespace."""
    environment = ENVIRONMENTS[env]
    values = load_values([chart_dir / environment.values_file])
    return render_chart(chart_dir, values, namespace=environment.namespace)


def to_yaml_stream(manifests: Iterable[Manifest]) -> str:
    """One multi-document YAML stream, each object headed by its template like ``helm template``."""
    parts = [
        f"---\n# Source: {manifest.source}\n{yaml.safe_dump(manifest.obj, sort_keys=False)}"
        for manifest in manifests
    ]
    return "".join(parts)


def manifest_filename(index: int, manifest: Manifest) -> str:
    """A stable, unique file name: position, kind and object name."""
    stem = _UNSAFE_FILENAME.sub("-", f"{manifest.kind}-{manifest.name}".lower()).strip("-")
    return f"{index:03d}-{stem}.yaml"


def write_manifests(manifests: Iterable[Manifest], out_dir: Path) -> list[Path]:
    """Write one file per object into ``out_dir`` (created if missing); return the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for index, manifest in enumerate(manifests, start=1):
        path = out_dir / manifest_filename(index, manifest)
        path.write_text(to_yaml_stream([manifest]), encoding="utf-8")
        written.append(path)
    return written
