"""Helpers for the deployment tests: the chart rendered by the real Helm engine per scenario,
and validators for Kubernetes 1.31 core kinds and for CRDs from the shared JSON schemas.

A plain module (not conftest) so test files import it by a name no other conftest shadows."""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml

from ragfleet.deploy.environments import ENVIRONMENTS
from ragfleet.deploy.render import Manifest, load_values, render_chart

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART_DIR = REPO_ROOT / "deploy" / "helm" / "ragfleet"
ARGOCD_DIR = REPO_ROOT / "deploy" / "argocd"
INFRA_DIR = REPO_ROOT / "deploy" / "infra"
# The CRD JSON schemas (the datreeio/CRDs-catalog layout): RAGFLEET_CRD_SCHEMAS, else the shared
# copy beside the repository (../shared/schemas/crds from its root). CI checks the catalog out.
CRD_SCHEMA_DIR = Path(
    os.environ.get("RAGFLEET_CRD_SCHEMAS") or REPO_ROOT.parent / "shared" / "schemas" / "crds"
)
KUBERNETES_VERSION = "1.31.0"


def _scenarios() -> dict[str, tuple[list[Path], str]]:
    scenarios: dict[str, tuple[list[Path], str]] = {"defaults": ([], "rag-staging")}
    for env, environment in ENVIRONMENTS.items():
        scenarios[env.value] = ([CHART_DIR / environment.values_file], environment.namespace)
    for path in sorted((CHART_DIR / "ci").glob("*-values.yaml")):
        scenarios[f"ci/{path.name}"] = ([path], "rag-staging")
    return scenarios


SCENARIOS = _scenarios()


@cache
def render_scenario(name: str) -> tuple[Manifest, ...]:
    files, namespace = SCENARIOS[name]
    return tuple(render_chart(CHART_DIR, load_values(files), namespace=namespace))


def load_yaml_documents(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return [doc for doc in yaml.safe_load_all(handle) if doc]


# API groups served by CRDs; everything else must be a Kubernetes 1.31 built-in kind.
CRD_GROUPS = frozenset({"keda.sh", "autoscaling.k8s.io", "monitoring.coreos.com", "argoproj.io"})


def crd_schemas_missing() -> bool:
    """Whether the CRD tests must skip: never in CI, where a missing catalog fails them."""
    if CRD_SCHEMA_DIR.is_dir():
        return False
    if os.environ.get("CI", "").lower() in {"1", "true"}:
        raise RuntimeError(
            f"CRD schemas not found at {CRD_SCHEMA_DIR}: CI must provide them "
            "(RAGFLEET_CRD_SCHEMAS); the custom resources would go unvalidated"
        )
    return True


requires_crd_schemas = pytest.mark.skipif(
    crd_schemas_missing(), reason=f"CRD schemas not found at {CRD_SCHEMA_DIR}"
)


def is_custom_resource(obj: dict[str, Any]) -> bool:
    return str(obj["apiVersion"]).rpartition("/")[0] in CRD_GROUPS


@cache
def _crd_validator(group: str, kind: str, version: str) -> jsonschema.protocols.Validator:
    path = CRD_SCHEMA_DIR / group / f"{kind.lower()}_{version}.json"
    assert path.is_file(), f"no CRD schema for {group}/{version} {kind} at {path}"
    schema = json.loads(path.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
    validator: jsonschema.protocols.Validator = cls(schema)
    return validator


def validate_custom_resource(obj: dict[str, Any]) -> None:
    """Validate a custom resource against its CRD's JSON schema (unknown fields fail)."""
    group, _, version = str(obj["apiVersion"]).rpartition("/")
    _crd_validator(group, str(obj["kind"]), version).validate(obj)


def validate_core_object(obj: dict[str, Any]) -> None:
    """Validate a built-in kind against Kubernetes 1.31 in strict mode (unknown fields fail)."""
    kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
