"""The chart renders with the real Helm engine, lints clean and yields only valid objects."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import helm_python
import pytest
import yaml

from ragfleet.deploy.render import Manifest, load_values, render_chart
from tests.deploy import deploy_helpers
from tests.deploy.deploy_helpers import (
    CHART_DIR,
    SCENARIOS,
    is_custom_resource,
    load_yaml_documents,
    requires_crd_schemas,
    validate_core_object,
    validate_custom_resource,
)


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_lint_is_clean_in_strict_mode(scenario: str) -> None:
    files, namespace = SCENARIOS[scenario]
    report = helm_python.lint(
        CHART_DIR, load_values(files), strict=True, namespace=namespace, kube_version="v1.31.0"
    )
    assert report["errors"] == []
    assert report["messages"] == []


def test_every_scenario_renders_objects(manifests: tuple[Manifest, ...]) -> None:
    kinds = {m.kind for m in manifests}
    assert {"Deployment", "Service", "ConfigMap", "ServiceAccount"} <= kinds
    names = [(m.kind, m.name) for m in manifests]
    assert len(names) == len(set(names)), "two objects share kind and name"


def test_core_objects_are_valid_kubernetes_1_31(manifests: tuple[Manifest, ...]) -> None:
    core = [m for m in manifests if not is_custom_resource(m.obj)]
    assert core
    for manifest in core:
        validate_core_object(manifest.obj)


@requires_crd_schemas
def test_custom_resources_match_their_crd_schemas(manifests: tuple[Manifest, ...]) -> None:
    for manifest in manifests:
        if is_custom_resource(manifest.obj):
            validate_custom_resource(manifest.obj)


def test_strict_validation_rejects_unknown_fields() -> None:
    """The validators used above do fail: an unknown field in a Service is refused."""
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "x"},
        "spec": {"ports": [{"port": 80}], "bogusField": True},
    }
    with pytest.raises(Exception, match="bogusField"):
        validate_core_object(service)


def test_missing_crd_schemas_fail_in_ci_and_skip_only_elsewhere(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(deploy_helpers, "CRD_SCHEMA_DIR", tmp_path / "absent")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(RuntimeError, match="CI must provide them"):
        deploy_helpers.crd_schemas_missing()
    monkeypatch.delenv("CI")
    assert deploy_helpers.crd_schemas_missing() is True
    monkeypatch.setattr(deploy_helpers, "CRD_SCHEMA_DIR", tmp_path)
    assert deploy_helpers.crd_schemas_missing() is False


@requires_crd_schemas
def test_crd_validation_rejects_unknown_fields() -> None:
    scaled = {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": "x"},
        "spec": {"scaleTargetRef": {"name": "x"}, "triggers": [], "replicaz": 1},
    }
    with pytest.raises(Exception, match="replicaz"):
        validate_custom_resource(scaled)


# --- values.schema.json ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"api": {"replicas": "two"}}, "replicas"),
        ({"worker": {"keda": {"enabled": "yes"}}}, "enabled"),
        ({"api": {"unknownKey": 1}}, "unknownKey"),
        ({"surprise": {}}, "surprise"),
        ({"api": {"image": {"tag": "latest"}}}, "tag"),
        ({"api": {"vpa": {"updateMode": "Sometimes"}}}, "updateMode"),
        (
            {"embeddings": {"enabled": False}, "config": {"embeddings": {"baseUrl": ""}}},
            "baseUrl",
        ),
        # A ReadWriteOnce model cache attaches to one node: a second replica never starts.
        ({"inference": {"keda": {"maxReplicaCount": 2}}}, "maxReplicaCount"),
        ({"inference": {"keda": {"enabled": False}, "replicas": 2}}, "replicas"),
        ({"inference": {"progressDeadlineSeconds": 600}}, "progressDeadlineSeconds"),
        ({"config": {"extraEnv": {"NOT_RAGFLEET": "x"}}}, "NOT_RAGFLEET"),
    ],
)
def test_values_schema_rejects_bad_values(values: dict[str, Any], message: str) -> None:
    with pytest.raises(helm_python.HelmValuesError, match=message):
        render_chart(CHART_DIR, values, namespace="rag-staging")


def _schema_paths(schema: dict[str, Any], prefix: str = "") -> set[str]:
    paths: set[str] = set()
    for key, sub in schema.get("properties", {}).items():
        path = f"{prefix}{key}"
        paths.add(path)
        if sub.get("additionalProperties") is False:
            paths |= _schema_paths(sub, f"{path}.")
    return paths


def _value_paths(values: dict[str, Any], schema: dict[str, Any], prefix: str = "") -> set[str]:
    paths: set[str] = set()
    for key, value in values.items():
        path = f"{prefix}{key}"
        paths.add(path)
        sub = schema.get("properties", {}).get(key, {})
        if isinstance(value, dict) and sub.get("additionalProperties") is False:
            paths |= _value_paths(value, sub, f"{path}.")
    return paths


def test_values_schema_and_values_yaml_have_the_same_keys() -> None:
    schema = json.loads((CHART_DIR / "values.schema.json").read_text(encoding="utf-8"))
    values = yaml.safe_load((CHART_DIR / "values.yaml").read_text(encoding="utf-8"))
    assert schema["additionalProperties"] is False
    assert _value_paths(values, schema) == _schema_paths(schema)


def test_every_values_key_is_documented_by_a_comment_naming_it() -> None:
    schema = json.loads((CHART_DIR / "values.schema.json").read_text(encoding="utf-8"))
    text = (CHART_DIR / "values.yaml").read_text(encoding="utf-8")
    values = yaml.safe_load(text)
    comments = re.findall(r"^\s*# ([\w.]+)", text, flags=re.MULTILINE)
    undocumented = {
        path
        for path in _value_paths(values, schema)
        if ".resources." not in path and path not in comments
    }
    assert not undocumented, f"keys without a '# <key>' comment: {sorted(undocumented)}"


@pytest.mark.parametrize("env_file", ["values-staging.yaml", "values-prod.yaml"])
def test_environment_image_values_keep_the_shape_gitops_bump_edits(env_file: str) -> None:
    text = (CHART_DIR / env_file).read_text(encoding="utf-8")
    values = yaml.safe_load(text)
    for component in ("api", "worker"):
        image = values[component]["image"]
        assert image["repository"] == f"ghcr.io/ragfleet/ragfleet-{component}"
        assert isinstance(image["tag"], str)
        assert re.fullmatch(r"\d+\.\d+\.\d+", image["tag"])
    # A comment sits directly above each bumped key.
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if re.match(r"\s+(repository|tag):", line):
            assert lines[index - 1].lstrip().startswith("#"), f"no comment above: {line}"


def test_default_values_hold_no_secret_values() -> None:
    values = yaml.safe_load((CHART_DIR / "values.yaml").read_text(encoding="utf-8"))
    assert values["secrets"]["existingSecret"] == ""
    for component in ("api", "worker"):
        assert values[component]["image"]["tag"] == ""
        assert values[component]["image"]["digest"] == ""
    secret_like = re.compile(r"password|token|apikey|api_key|secret", re.IGNORECASE)

    def offenders(node: Any, path: str) -> list[str]:
        if not isinstance(node, dict):
            return []
        found = [f"{path}{key}" for key in node if secret_like.search(key)]
        for key, child in node.items():
            found += offenders(child, f"{path}{key}.")
        return found

    # Only references to Secrets (names and keys) may look like secrets.
    allowed = {"secrets", "secrets.existingSecret", "imagePullSecrets", "api.ingress.tlsSecretName"}
    allowed |= {f"secrets.keys.{key}" for key in values["secrets"]["keys"]}
    assert set(offenders(values, "")) <= allowed


# --- monitoring files loaded by the chart ---------------------------------------------------


def test_alert_rules_file_is_a_prometheus_rules_file() -> None:
    (document,) = load_yaml_documents(CHART_DIR / "files" / "alerts.yaml")
    (group,) = document["groups"]
    assert group["name"] == "ragfleet"
    expressions = " ".join(rule["expr"] for rule in group["rules"])
    assert re.search(r"\bup\b", expressions)
    assert "ragfleet_http_requests_total" in expressions
    for rule in group["rules"]:
        assert set(rule) <= {"alert", "record", "expr", "for", "labels", "annotations"}
        assert rule.get("alert") or rule.get("record")


def test_dashboards_are_grafana_dashboards_and_shipped_in_a_configmap() -> None:
    dashboards = sorted((CHART_DIR / "files" / "dashboards").glob("*.json"))
    assert dashboards
    (configmap,) = (
        m
        for m in render_chart(CHART_DIR, {}, namespace="rag-staging")
        if m.kind == "ConfigMap" and m.name.endswith("-dashboards")
    )
    assert configmap.obj["metadata"]["labels"]["grafana_dashboard"] == "1"
    for path in dashboards:
        dashboard = json.loads(path.read_text(encoding="utf-8"))
        assert {"uid", "title", "panels", "schemaVersion"} <= set(dashboard)
        assert json.loads(configmap.obj["data"][path.name]) == dashboard


def test_prometheus_rule_carries_the_alert_file() -> None:
    (rule,) = (
        m
        for m in render_chart(CHART_DIR, {}, namespace="rag-staging")
        if m.kind == "PrometheusRule"
    )
    (document,) = load_yaml_documents(CHART_DIR / "files" / "alerts.yaml")
    assert rule.obj["spec"]["groups"] == document["groups"]
