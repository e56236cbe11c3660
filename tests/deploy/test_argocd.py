"""Argo CD manifests and the rag-infra values: schema-valid and wired as documented."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from deploy_helpers import (
    ARGOCD_DIR,
    CHART_DIR,
    INFRA_DIR,
    REPO_ROOT,
    load_yaml_documents,
    requires_crd_schemas,
    validate_custom_resource,
)

from ragfleet.deploy.render import ENVIRONMENTS

ARGO_FILES = sorted(ARGOCD_DIR.rglob("*.yaml"))
DOCS = [doc for path in ARGO_FILES for doc in load_yaml_documents(path)]


def _by_kind(kind: str) -> list[dict[str, Any]]:
    return [doc for doc in DOCS if doc["kind"] == kind]


def _app_specs() -> list[dict[str, Any]]:
    """Every Application spec, including the ApplicationSet templates."""
    specs = [app["spec"] for app in _by_kind("Application")]
    specs += [appset["spec"]["template"]["spec"] for appset in _by_kind("ApplicationSet")]
    return specs


def _wave(doc: dict[str, Any]) -> int:
    value = doc["metadata"].get("annotations", {}).get("argocd.argoproj.io/sync-wave", "0")
    assert isinstance(value, str), "sync waves are quoted integers"
    return int(value)


@requires_crd_schemas
@pytest.mark.parametrize("path", ARGO_FILES, ids=lambda p: str(p.relative_to(ARGOCD_DIR)))
def test_manifests_match_argo_cd_crd_schemas(path: Path) -> None:
    for doc in load_yaml_documents(path):
        assert doc["apiVersion"] == "argoproj.io/v1alpha1"
        validate_custom_resource(doc)


def test_project_allows_exactly_the_three_namespaces_and_used_repos() -> None:
    (project,) = _by_kind("AppProject")
    namespaces = {d["namespace"] for d in project["spec"]["destinations"]}
    assert namespaces == {"rag-prod", "rag-staging", "rag-infra"}
    repos = set(project["spec"]["sourceRepos"])
    for spec in _app_specs():
        if spec["project"] == "ragfleet":
            sources = spec.get("sources") or [spec["source"]]
            assert {s["repoURL"] for s in sources} <= repos | {"{{ .chartRepo }}"}
            assert spec["destination"]["namespace"] in namespaces
    for appset in _by_kind("ApplicationSet"):
        for element in appset["spec"]["generators"][0]["list"]["elements"]:
            assert element["chartRepo"] in repos


def test_sync_policies_prune_self_heal_retry_and_create_namespaces() -> None:
    for spec in _app_specs():
        policy = spec["syncPolicy"]
        assert policy["automated"] == {"prune": True, "selfHeal": True}
        assert policy["retry"]["limit"] >= 1
        assert policy["retry"]["backoff"]["factor"] >= 2
        if spec["project"] == "ragfleet":
            assert "CreateNamespace=true" in policy["syncOptions"]


def test_infra_syncs_before_the_application() -> None:
    (project,) = _by_kind("AppProject")
    infra = _by_kind("ApplicationSet")
    apps = [a for a in _by_kind("Application") if a["spec"]["project"] == "ragfleet"]
    assert infra and apps
    assert _wave(project) < min(_wave(doc) for doc in infra)
    assert max(_wave(doc) for doc in infra) < 0 < min(_wave(app) for app in apps)


def test_one_application_per_environment_with_its_values_file() -> None:
    apps = {a["spec"]["destination"]["namespace"]: a for a in _by_kind("Application")}
    for environment in ENVIRONMENTS.values():
        source = apps[environment.namespace]["spec"]["source"]
        assert source["path"] == str(CHART_DIR.relative_to(REPO_ROOT))
        assert source["helm"]["valueFiles"] == [environment.values_file]
        assert (CHART_DIR / environment.values_file).is_file()


def test_replica_diffs_are_ignored_and_respected_at_sync() -> None:
    for app in _by_kind("Application"):
        if app["spec"]["project"] != "ragfleet":
            continue
        ignored = app["spec"]["ignoreDifferences"]
        assert any(
            d["kind"] == "Deployment" and "/spec/replicas" in d["jsonPointers"] for d in ignored
        )
        assert "RespectIgnoreDifferences=true" in app["spec"]["syncPolicy"]["syncOptions"]


def test_application_set_is_strict_and_points_at_existing_values_files() -> None:
    for appset in _by_kind("ApplicationSet"):
        assert appset["spec"]["goTemplate"] is True
        assert "missingkey=error" in appset["spec"]["goTemplateOptions"]
        for element in appset["spec"]["generators"][0]["list"]["elements"]:
            assert (INFRA_DIR / f"{element['name']}-values.yaml").is_file()
            assert element["chartVersion"][0].isdigit(), "upstream chart versions are pinned"


@pytest.mark.parametrize("path", sorted(INFRA_DIR.glob("*-values.yaml")), ids=lambda p: p.name)
def test_infra_values_keep_secrets_out_of_git(path: Path) -> None:
    assert isinstance(yaml.safe_load(path.read_text(encoding="utf-8")), dict)
    text = path.read_text(encoding="utf-8").lower()
    assert "latest" not in text
    assert "password:" not in text.replace("existingsecretpasswordkey:", "")


def test_qdrant_runs_on_the_storage_pool_with_a_storage_class() -> None:
    values = yaml.safe_load((INFRA_DIR / "qdrant-values.yaml").read_text(encoding="utf-8"))
    assert values["nodeSelector"] == {"ragfleet.io/node-pool": "storage"}
    assert values["persistence"]["storageClassName"]
    assert values["image"]["tag"].startswith("v")
