"""Argo CD manifests and the rag-infra values: schema-valid and wired as documented."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from ragfleet.deploy.environments import ENVIRONMENTS, Environment
from tests.deploy.deploy_helpers import (
    ARGOCD_DIR,
    CHART_DIR,
    INFRA_DIR,
    REPO_ROOT,
    load_yaml_documents,
    requires_crd_schemas,
    validate_custom_resource,
)

ARGO_FILES = sorted(ARGOCD_DIR.rglob("*.yaml"))
DOCS = [doc for path in ARGO_FILES for doc in load_yaml_documents(path)]


def _by_kind(kind: str) -> list[dict[str, Any]]:
    return [doc for doc in DOCS if doc["kind"] == kind]


def _app_specs() -> list[dict[str, Any]]:
    """Every Application spec, including the ApplicationSet templates."""
    specs = [app["spec"] for app in _by_kind("Application")]
    specs += [appset["spec"]["template"]["spec"] for appset in _by_kind("ApplicationSet")]
    return specs


def _named(kind: str, name: str) -> dict[str, Any]:
    (doc,) = (doc for doc in _by_kind(kind) if doc["metadata"]["name"] == name)
    return doc


def _env_apps() -> dict[str, dict[str, Any]]:
    """The application's Application per environment namespace."""
    namespaces = {environment.namespace for environment in ENVIRONMENTS.values()}
    return {
        app["spec"]["destination"]["namespace"]: app
        for app in _by_kind("Application")
        if app["spec"]["destination"]["namespace"] in namespaces
    }


def _chart_source(spec: dict[str, Any]) -> dict[str, Any]:
    sources: list[dict[str, Any]] = spec.get("sources") or [spec["source"]]
    (source,) = (s for s in sources if "path" in s)
    return source


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
    project = _named("AppProject", "ragfleet")
    namespaces = {d["namespace"] for d in project["spec"]["destinations"]}
    assert namespaces == {"rag-prod", "rag-staging", "rag-infra"}
    repos = set(project["spec"]["sourceRepos"])
    for spec in _app_specs():
        if spec["project"] == "ragfleet":
            sources = spec.get("sources") or [spec["source"]]
            assert {s["repoURL"] for s in sources} <= repos | {"{{ .chartRepo }}"}
            destination = spec["destination"]["namespace"]
            for env in ("staging", "prod"):
                assert destination.replace("{{ .env }}", env) in namespaces
    for element in _named("ApplicationSet", "rag-infra")["spec"]["generators"][0]["list"][
        "elements"
    ]:
        assert element["chartRepo"] in repos


def test_sync_policies_prune_self_heal_retry_and_create_namespaces() -> None:
    for spec in _app_specs():
        policy = spec["syncPolicy"]
        assert policy["automated"] == {"prune": True, "selfHeal": True}
        assert policy["retry"]["limit"] >= 1
        assert policy["retry"]["backoff"]["factor"] >= 2
        if spec["project"] == "ragfleet":
            assert "CreateNamespace=true" in policy["syncOptions"]


def test_operators_then_infra_then_secrets_then_the_application() -> None:
    order = [
        _named("ApplicationSet", "platform"),
        _named("AppProject", "ragfleet"),
        _named("ApplicationSet", "rag-infra"),
        _named("ApplicationSet", "ragfleet-secrets"),
        *_env_apps().values(),
    ]
    waves = [_wave(doc) for doc in order]
    assert waves[:4] == sorted(set(waves[:4]))
    assert max(waves[:4]) < min(waves[4:])
    assert _wave(_named("Application", "rag-infra-manifests")) == _wave(order[2])


def test_one_application_per_environment_with_its_values_file() -> None:
    apps = _env_apps()
    chart_path = str(CHART_DIR.relative_to(REPO_ROOT))
    for environment in ENVIRONMENTS.values():
        source = _chart_source(apps[environment.namespace]["spec"])
        assert source["path"] == chart_path
        (values_file,) = source["helm"]["valueFiles"]
        assert values_file.rpartition("/")[2] == environment.values_file
        assert (CHART_DIR / environment.values_file).is_file()


def test_prod_runs_a_released_chart_and_staging_follows_main() -> None:
    apps = _env_apps()
    prod = apps["rag-prod"]["spec"]
    chart = _chart_source(prod)
    assert re.fullmatch(r"v\d+\.\d+\.\d+", chart["targetRevision"]), "prod is pinned to a release"
    (values,) = (s for s in prod["sources"] if s.get("ref") == "values")
    assert chart["helm"]["valueFiles"] == ["$values/deploy/helm/ragfleet/values-prod.yaml"]
    assert values["targetRevision"] == "main"
    assert _chart_source(apps["rag-staging"]["spec"])["targetRevision"] == "main"
    # The Promote workflow finds the line it bumps by this marker.
    text = (ARGOCD_DIR / "apps" / "ragfleet-prod.yaml").read_text(encoding="utf-8")
    assert len(re.findall(r"targetRevision: v[\d.]+ # prod-chart-revision$", text, re.M)) == 1


def test_replica_diffs_are_ignored_and_respected_at_sync() -> None:
    for app in _env_apps().values():
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
            if "chart" in element:
                assert re.fullmatch(r"\d+\.\d+\.\d+", element["chartVersion"]), "pinned"
    for element in _named("ApplicationSet", "rag-infra")["spec"]["generators"][0]["list"][
        "elements"
    ]:
        assert (INFRA_DIR / f"{element['name']}-values.yaml").is_file()


def test_infra_comes_from_maintained_charts_and_operators() -> None:
    text = " ".join(path.read_text(encoding="utf-8") for path in ARGO_FILES)
    assert "bitnami" not in text.lower(), "Bitnami's versioned charts and images were withdrawn"
    charts = {
        element["chart"]
        for appset in _by_kind("ApplicationSet")
        for element in appset["spec"]["generators"][0]["list"]["elements"]
        if "chart" in element
    }
    assert {"qdrant", "valkey", "cloudnative-pg", "external-secrets", "keda"} <= charts
    (cluster,) = load_yaml_documents(INFRA_DIR / "manifests" / "postgresql.yaml")
    assert cluster["kind"] == "Cluster" and cluster["apiVersion"] == "postgresql.cnpg.io/v1"
    assert cluster["spec"]["bootstrap"]["initdb"]["secret"]["name"] == "ragfleet-pg-owner"
    for database in load_yaml_documents(INFRA_DIR / "manifests" / "postgresql-databases.yaml"):
        assert (database["kind"], database["apiVersion"]) == ("Database", cluster["apiVersion"])
        assert database["spec"]["cluster"]["name"] == cluster["metadata"]["name"]
    values = yaml.safe_load((CHART_DIR / "values.yaml").read_text(encoding="utf-8"))
    assert values["infra"]["redisAddress"].startswith("valkey.rag-infra.")


def _external_secrets(path: Path) -> dict[str, dict[str, Any]]:
    docs = load_yaml_documents(path)
    assert {doc["apiVersion"] for doc in docs} == {"external-secrets.io/v1"}
    for doc in docs:
        assert doc["spec"]["secretStoreRef"] == {"kind": "ClusterSecretStore", "name": "ragfleet"}
    return {doc["spec"]["target"]["name"]: doc for doc in docs}


_ENVIRONMENTS_BY_NAMESPACE = sorted(ENVIRONMENTS.values(), key=lambda e: e.namespace)


@pytest.mark.parametrize("environment", _ENVIRONMENTS_BY_NAMESPACE)
def test_every_secret_the_release_reads_is_declared_in_git(environment: Environment) -> None:
    values = yaml.safe_load((CHART_DIR / "values.yaml").read_text(encoding="utf-8"))
    env_values = yaml.safe_load((CHART_DIR / environment.values_file).read_text(encoding="utf-8"))
    env = environment.values_file.removeprefix("values-").removesuffix(".yaml")
    secrets = _external_secrets(REPO_ROOT / "deploy" / "secrets" / env / "ragfleet-secrets.yaml")
    secret = secrets[env_values["secrets"]["existingSecret"]]
    assert secret["metadata"]["namespace"] == environment.namespace
    assert set(secret["spec"]["target"]["template"]["data"]) == set(
        values["secrets"]["keys"].values()
    )
    referenced = set(re.findall(r"\{\{ \.(\w+) \}\}", str(secret["spec"]["target"]["template"])))
    assert referenced == {item["secretKey"] for item in secret["spec"]["data"]}


def test_infra_secrets_are_declared_in_git() -> None:
    secrets = _external_secrets(INFRA_DIR / "manifests" / "secrets.yaml")
    valkey = yaml.safe_load((INFRA_DIR / "valkey-values.yaml").read_text(encoding="utf-8"))
    qdrant = yaml.safe_load((INFRA_DIR / "qdrant-values.yaml").read_text(encoding="utf-8"))
    assert valkey["auth"]["usersExistingSecret"] in secrets
    assert {env["valueFrom"]["secretKeyRef"]["name"] for env in qdrant["env"]} <= set(secrets)
    assert "ragfleet-pg-owner" in secrets


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


def test_environments_share_no_state() -> None:
    """Staging and prod use the same infrastructure, never the same data: each has its own
    database (which exists in the cluster), broker and collection prefix, so a staging worker
    can neither see nor run a prod job."""
    (cluster,) = load_yaml_documents(INFRA_DIR / "manifests" / "postgresql.yaml")
    databases = load_yaml_documents(INFRA_DIR / "manifests" / "postgresql-databases.yaml")
    existing = {cluster["spec"]["bootstrap"]["initdb"]["database"]} | {
        database["spec"]["name"] for database in databases
    }
    seen: dict[str, set[tuple[str, ...]]] = {"database": set(), "broker": set(), "prefix": set()}
    for environment in ENVIRONMENTS.values():
        env = environment.values_file.removeprefix("values-").removesuffix(".yaml")
        secret_file = REPO_ROOT / "deploy" / "secrets" / env / "ragfleet-secrets.yaml"
        secrets = _external_secrets(secret_file)
        data = secrets["ragfleet-secrets"]["spec"]["target"]["template"]["data"]
        database = urlsplit(data["database-url"])
        assert database.path.lstrip("/") in existing
        broker = urlsplit(data["redis-url"])
        values = yaml.safe_load((CHART_DIR / environment.values_file).read_text(encoding="utf-8"))
        prefix = values["config"]["extraEnv"].get("RAGFLEET_QDRANT__COLLECTION_PREFIX", "ragfleet_")
        for kind, key in (
            ("database", (database.hostname or "", database.path)),
            ("broker", (broker.hostname or "", broker.path)),
            ("prefix", (prefix,)),
        ):
            assert key not in seen[kind], f"{env} shares its {kind} with another environment"
            seen[kind].add(key)
