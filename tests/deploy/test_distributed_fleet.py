"""The distributed fleet: Qdrant as a three-peer cluster, PostgreSQL as a three-instance
CloudNativePG Cluster with backups, Valkey with three Sentinels (release valkey-ha) beside the
standalone release valkey, and the ragfleet chart finding the Redis master through those
Sentinels (KEDA included) in the environments that turn it on.

The upstream charts are not vendored, so their values files and Argo CD elements are checked
against the value names of the pinned charts; the ragfleet chart is rendered by Helm, also as
prod pins it (values-prod.yaml follows main, prod's chart a release tag), and the custom
resources are validated against their CRD schemas."""

from __future__ import annotations

import io
import re
import subprocess
import tarfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import helm_python
import pytest
import yaml

from ragfleet.deploy.environments import ENVIRONMENTS, EnvironmentName
from ragfleet.deploy.render import Manifest, load_values, merge_values, render_chart
from ragfleet.settings import RedisSettings
from tests.deploy.deploy_helpers import (
    ARGOCD_DIR,
    CHART_DIR,
    CRD_SCHEMA_DIR,
    INFRA_DIR,
    REPO_ROOT,
    crd_schemas_missing,
    load_yaml_documents,
    render_scenario,
    requires_crd_schemas,
    validate_custom_resource,
)

Obj = dict[str, Any]
ZONE = "topology.kubernetes.io/zone"
HOST = "kubernetes.io/hostname"
PROD = ENVIRONMENTS[EnvironmentName.PROD]


def _values(name: str) -> Obj:
    values: Obj = yaml.safe_load((INFRA_DIR / f"{name}-values.yaml").read_text(encoding="utf-8"))
    return values


def _infra_element(name: str) -> Obj:
    """The rag-infra ApplicationSet element of an upstream chart (its release is ``name``)."""
    (appset,) = (
        doc
        for doc in load_yaml_documents(ARGOCD_DIR / "apps" / "infra.yaml")
        if doc["kind"] == "ApplicationSet"
    )
    elements = appset["spec"]["generators"][0]["list"]["elements"]
    (element,) = (e for e in elements if e["name"] == name)
    assert appset["spec"]["template"]["spec"]["sources"][0]["helm"]["releaseName"] == "{{ .name }}"
    return dict(element)


def _chart_version(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in _infra_element(name)["chartVersion"].split("."))


def _manifest(name: str) -> list[Obj]:
    return load_yaml_documents(INFRA_DIR / "manifests" / f"{name}.yaml")


def _external_secret_keys() -> dict[str, set[str]]:
    """Secret name -> its keys, for every ExternalSecret of rag-infra."""
    return {
        doc["spec"]["target"]["name"]: {item["secretKey"] for item in doc["spec"]["data"]}
        for doc in _manifest("secrets")
    }


def _required_anti_affinity(affinity: Obj) -> dict[str, Obj]:
    """topologyKey -> label selector of each required pod anti-affinity term."""
    terms = affinity["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    return {term["topologyKey"]: term["labelSelector"]["matchLabels"] for term in terms}


# --- Qdrant -------------------------------------------------------------------------------------


def test_qdrant_is_a_three_peer_cluster_spread_over_zones_and_hosts() -> None:
    values = _values("qdrant")
    assert _chart_version("qdrant") >= (1, 13, 0)
    assert values["replicaCount"] == 3
    cluster = values["config"]["cluster"]
    assert cluster["enabled"] is True and cluster["p2p"]["port"] == 6335
    # The chart's pod labels: name qdrant, instance the release (the element's name).
    pods = {"app.kubernetes.io/name": "qdrant", "app.kubernetes.io/instance": "qdrant"}
    assert _required_anti_affinity(values["affinity"]) == {ZONE: pods, HOST: pods}
    assert values["podDisruptionBudget"] == {"enabled": True, "maxUnavailable": 1}
    assert values["nodeSelector"] == {"ragfleet.io/node-pool": "storage"}
    assert values["persistence"]["storageClassName"] == "premium-rwo"


def test_qdrant_gets_its_api_key_without_helm_lookup() -> None:
    """apiKey.valueFrom makes the chart copy the Secret with lookup, which Argo CD never runs."""
    values = _values("qdrant")
    assert "apiKey" not in values and "readOnlyApiKey" not in values
    (env,) = (e for e in values["env"] if e["name"] == "QDRANT__SERVICE__API_KEY")
    reference = env["valueFrom"]["secretKeyRef"]
    assert reference["key"] in _external_secret_keys()[reference["name"]]


@requires_crd_schemas
def test_every_qdrant_peer_is_scraped_with_the_api_key() -> None:
    assert _values("qdrant")["metrics"]["serviceMonitor"]["enabled"] is False
    (monitor,) = _manifest("qdrant-servicemonitor")
    validate_custom_resource(monitor)
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    # The headless Service lists every pod; the chart labels it component cluster-discovery.
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector["app.kubernetes.io/component"] == "cluster-discovery"
    (endpoint,) = monitor["spec"]["endpoints"]
    credentials = endpoint["authorization"]["credentials"]
    assert credentials["key"] in _external_secret_keys()[credentials["name"]]


def test_new_collections_are_sharded_and_replicated_over_the_peers() -> None:
    peers = _values("qdrant")["replicaCount"]
    for environment in ENVIRONMENTS:
        config = _one(render_scenario(environment.value), "ConfigMap", "-config")["data"]
        assert int(config["RAGFLEET_QDRANT__SHARD_NUMBER"]) == peers
        assert 2 <= int(config["RAGFLEET_QDRANT__REPLICATION_FACTOR"]) <= peers


# --- PostgreSQL ---------------------------------------------------------------------------------


def _cnpg_schemas_missing() -> bool:
    """Whether the catalog lacks the CloudNativePG schemas (the shared one does: point
    RAGFLEET_CRD_SCHEMAS at a catalog extracted from the operator's chart to run the check)."""
    if crd_schemas_missing():
        return True
    return not (CRD_SCHEMA_DIR / "postgresql.cnpg.io" / "cluster_v1.json").is_file()


requires_cnpg_schemas = pytest.mark.skipif(
    _cnpg_schemas_missing(), reason=f"CloudNativePG schemas not found in {CRD_SCHEMA_DIR}"
)


def _cluster() -> Obj:
    (cluster,) = _manifest("postgresql")
    return cluster


def test_postgresql_runs_three_instances_one_per_zone_with_synchronous_replication() -> None:
    spec = _cluster()["spec"]
    assert spec["instances"] == 3
    affinity = spec["affinity"]
    assert affinity["enablePodAntiAffinity"] is True
    assert (affinity["topologyKey"], affinity["podAntiAffinityType"]) == (ZONE, "required")
    assert spec["enablePDB"] is True
    synchronous = spec["postgresql"]["synchronous"]
    assert synchronous["method"] == "any"
    assert 1 <= synchronous["number"] < spec["instances"]


def test_postgresql_archives_to_object_storage_with_credentials_from_the_store() -> None:
    backup = _cluster()["spec"]["backup"]
    store = backup["barmanObjectStore"]
    assert re.fullmatch(r"(s3|gs|https)://\S+", store["destinationPath"])
    assert re.fullmatch(r"\d+[dwm]", backup["retentionPolicy"])
    secrets = _external_secret_keys()
    for reference in store["s3Credentials"].values():
        assert reference["key"] in secrets[reference["name"]]
    (scheduled,) = _manifest("postgresql-backup")
    assert scheduled["kind"] == "ScheduledBackup"
    assert scheduled["spec"]["cluster"]["name"] == _cluster()["metadata"]["name"]
    assert scheduled["spec"]["method"] == "barmanObjectStore"
    assert len(scheduled["spec"]["schedule"].split()) == 6, "CloudNativePG's cron has seconds"


def test_the_pinned_operator_still_has_native_barman_cloud() -> None:
    """CloudNativePG 1.31 drops spec.backup.barmanObjectStore; the platform pins chart 0.29
    (CloudNativePG 1.30). A bump past it needs the Barman Cloud plugin first."""
    (appset,) = (
        doc
        for doc in load_yaml_documents(ARGOCD_DIR / "apps" / "platform.yaml")
        if doc["kind"] == "ApplicationSet"
    )
    elements = appset["spec"]["generators"][0]["list"]["elements"]
    (operator,) = (e for e in elements if e["chart"] == "cloudnative-pg")
    major, minor, _ = (int(part) for part in operator["chartVersion"].split("."))
    assert (major, minor) <= (0, 29), "move the backups to the Barman Cloud plugin first"


@requires_cnpg_schemas
def test_cluster_and_scheduled_backup_match_the_cloudnative_pg_crds() -> None:
    for document in (_cluster(), *_manifest("postgresql-backup")):
        validate_custom_resource(document)
    broken = merge_values(_cluster(), {"spec": {"backup": {"barmanObjectStore": {"bucket": 1}}}})
    with pytest.raises(Exception, match="bucket"):
        validate_custom_resource(broken)


def test_the_applications_connect_to_the_primary_service() -> None:
    for environment in ENVIRONMENTS:
        url = urlsplit(_secret_template(environment)["database-url"])
        assert url.hostname == f"{_cluster()['metadata']['name']}-rw.rag-infra.svc.cluster.local"


# --- Valkey: the standalone release and the release with Sentinel ------------------------------

STANDALONE = "valkey"
WITH_SENTINEL = "valkey-ha"
# The Service ports of the valkey chart (service.port, sentinel.service.port), left at default.
VALKEY_PORT = 6379
SENTINEL_PORT = 26379


def _valkey_fullname(release: str) -> str:
    """The valkey chart's fullname: the release name when it contains "valkey", else
    "<release>-valkey". Its Service is named so, its Sentinel Service "<fullname>-sentinel"."""
    return release if "valkey" in release else f"{release}-valkey"


def _store_key(secret: str, key: str) -> str:
    """The secret-store entry behind one key of a rag-infra ExternalSecret."""
    (external,) = (doc for doc in _manifest("secrets") if doc["spec"]["target"]["name"] == secret)
    (item,) = (item for item in external["spec"]["data"] if item["secretKey"] == key)
    return str(item["remoteRef"]["key"])


@pytest.mark.parametrize("release", [STANDALONE, WITH_SENTINEL])
def test_both_valkey_releases_use_the_value_names_of_the_pinned_chart(release: str) -> None:
    element, sentinel_element = _infra_element(release), _infra_element(WITH_SENTINEL)
    assert {key: element[key] for key in ("chartRepo", "chart", "chartVersion")} == {
        key: sentinel_element[key] for key in ("chartRepo", "chart", "chartVersion")
    }
    assert _chart_version(release) >= (1, 0, 0), "Sentinel mode came with chart 1.0"
    values = _values(release)
    # Chart 1.0 refuses the 0.x names (it fails to render while they are set).
    assert not {"dataStorage", "valkeyConfig", "env"} & set(values)
    assert "persistence" not in values.get("replica", {})
    assert values["persistence"]["enabled"] is True and values["persistence"]["size"]
    assert "appendonly yes" in values["extraConfig"]
    auth = values["auth"]
    assert auth["enabled"] is True and "default" in auth["aclUsers"]
    assert "default" in _external_secret_keys()[auth["usersExistingSecret"]]


def test_the_standalone_release_stays_one_pod_behind_the_default_redis_address() -> None:
    """Clients with a redis:// URL write through the release's Service: one pod, no replicas
    behind it, so every write reaches the master."""
    values = _values(STANDALONE)
    assert not values.get("replica", {}).get("enabled", False)
    assert not values.get("sentinel", {}).get("enabled", False)
    defaults = load_values([CHART_DIR / "values.yaml"])["infra"]
    service = f"{_valkey_fullname(STANDALONE)}.{defaults['namespace']}.svc.cluster.local"
    assert defaults["redisAddress"] == f"{service}:{VALKEY_PORT}"


def test_valkey_ha_runs_three_nodes_and_three_sentinels_with_a_majority_quorum() -> None:
    values = _values(WITH_SENTINEL)
    # replica.replicas counts the master too (chart 1.0).
    assert (values["replica"]["enabled"], values["replica"]["replicas"]) == (True, 3)
    sentinel = values["sentinel"]
    assert (sentinel["enabled"], sentinel["replicas"]) == (True, 3)
    assert sentinel["quorum"] == sentinel["replicas"] // 2 + 1
    # The Sentinels' password is the broker password, from the same store entry.
    users = values["auth"]["usersExistingSecret"]
    assert sentinel["passwordKey"] in _external_secret_keys()[sentinel["existingSecret"]]
    assert _store_key(sentinel["existingSecret"], sentinel["passwordKey"]) == _store_key(
        users, "default"
    )


def test_valkey_ha_nodes_and_sentinels_spread_over_zones_with_budgets() -> None:
    values = _values(WITH_SENTINEL)
    sentinel = values["sentinel"]
    # The chart's pod labels: name valkey (valkey-sentinel for the Sentinels), instance the
    # release, i.e. the element's name.
    release = _infra_element(WITH_SENTINEL)["name"]
    nodes = {"app.kubernetes.io/name": "valkey", "app.kubernetes.io/instance": release}
    sentinels = {"app.kubernetes.io/name": "valkey-sentinel", "app.kubernetes.io/instance": release}
    assert _required_anti_affinity(values["affinity"]) == {ZONE: nodes}
    assert _required_anti_affinity(sentinel["affinity"]) == {ZONE: sentinels}
    for budget in (values["podDisruptionBudget"], sentinel["podDisruptionBudget"]):
        assert budget == {"enabled": True, "maxUnavailable": 1}
    # Evictions leave at least a quorum of Sentinels to authorize a failover.
    assert (
        sentinel["replicas"] - sentinel["podDisruptionBudget"]["maxUnavailable"]
        >= sentinel["quorum"]
    )


# --- the ragfleet chart behind Sentinel -----------------------------------------------------------


def _chart_values(environment: EnvironmentName) -> Obj:
    """values.yaml with the environment's file on top, as Helm merges them."""
    return load_values(
        [CHART_DIR / "values.yaml", CHART_DIR / ENVIRONMENTS[environment].values_file]
    )


def _environment_secret(environment: EnvironmentName) -> Obj:
    """The ragfleet-secrets ExternalSecret of the environment."""
    (secret,) = load_yaml_documents(
        REPO_ROOT / "deploy" / "secrets" / environment.value / "ragfleet-secrets.yaml"
    )
    return secret


def _secret_template(environment: EnvironmentName) -> Obj:
    """The data template of the environment's ragfleet-secrets ExternalSecret."""
    template: Obj = _environment_secret(environment)["spec"]["target"]["template"]["data"]
    return template


def _one(manifests: tuple[Manifest, ...] | list[Manifest], kind: str, suffix: str) -> Obj:
    (obj,) = (m.obj for m in manifests if m.kind == kind and m.name.endswith(suffix))
    return obj


def _env(deployment: Obj) -> dict[str, Obj]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e for e in container.get("env", [])}


def _uses_sentinel(environment: EnvironmentName) -> bool:
    return bool(_chart_values(environment)["infra"]["redisSentinel"]["enabled"])


@pytest.fixture(params=sorted(ENVIRONMENTS), ids=lambda env: env.value)
def environment(request: pytest.FixtureRequest) -> EnvironmentName:
    name: EnvironmentName = request.param
    return name


@pytest.fixture(
    params=[env for env in sorted(ENVIRONMENTS) if _uses_sentinel(env)], ids=lambda env: env.value
)
def sentinel_environment(request: pytest.FixtureRequest) -> EnvironmentName:
    """The environments whose values turn infra.redisSentinel on."""
    name: EnvironmentName = request.param
    return name


def test_each_environment_uses_the_valkey_release_its_redis_wiring_expects(
    environment: EnvironmentName,
) -> None:
    """With infra.redisSentinel the Secret's redis-url is sentinel:// to the Sentinel Service of
    a rag-infra release that runs Sentinel; without it, redis:// to a standalone release (a
    Service over replicas would send writes to them). Either makes settings the app starts
    with, on the database KEDA reads and with the password of that release."""
    values = _chart_values(environment)
    sentinel, infra = values["infra"]["redisSentinel"], values["infra"]
    keys, secret = values["secrets"]["keys"], _environment_secret(environment)
    template = secret["spec"]["target"]["template"]["data"]
    url = template[keys["redisUrl"]].replace("{{ .valkey_password }}", "pw")
    parsed = urlsplit(url)
    assert parsed.hostname is not None
    service, _, domain = parsed.hostname.partition(".")
    assert domain == f"{infra['namespace']}.svc.cluster.local"
    if sentinel["enabled"]:
        release = service.removesuffix("-sentinel")
        assert (parsed.scheme, parsed.port) == ("sentinel", SENTINEL_PORT)
        assert service == f"{_valkey_fullname(release)}-sentinel"
        release_values = _values(release)
        assert release_values["replica"]["enabled"] and release_values["sentinel"]["enabled"]
        assert sentinel["masterName"] == release_values["sentinel"]["masterSet"]
        assert sentinel["addresses"] == [f"{parsed.hostname}:{parsed.port}"]
    else:
        release = service
        assert (parsed.scheme, parsed.port) == ("redis", VALKEY_PORT)
        assert service == _valkey_fullname(release)
        release_values = _values(release)
        assert not release_values.get("replica", {}).get("enabled", False)
        assert infra["redisAddress"] == f"{parsed.hostname}:{parsed.port}"
    assert _infra_element(release)["chart"] == "valkey"
    master = sentinel["masterName"] if sentinel["enabled"] else None
    assert RedisSettings(url=url, sentinel_master=master).uses_sentinel is sentinel["enabled"]
    assert parsed.path == f"/{values['worker']['keda']['databaseIndex']}"  # KEDA reads that db
    # redis-url and redis-password (KEDA's, and the Sentinels') hold the release's password.
    assert template[keys["redisPassword"]] == "{{ .valkey_password }}"
    (password,) = (
        item for item in secret["spec"]["data"] if item["secretKey"] == "valkey_password"
    )
    users = release_values["auth"]["usersExistingSecret"]
    assert password["remoteRef"]["key"] == _store_key(users, "default")


@requires_crd_schemas
def test_the_worker_scales_on_the_queue_through_sentinel(
    sentinel_environment: EnvironmentName,
) -> None:
    manifests = render_scenario(sentinel_environment.value)
    values = _chart_values(sentinel_environment)
    scaled = _one(manifests, "ScaledObject", "-worker")
    validate_custom_resource(scaled)
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["type"] == "redis-sentinel"
    metadata = trigger["metadata"]
    sentinel = values["infra"]["redisSentinel"]
    assert metadata["addresses"] == ",".join(sentinel["addresses"])
    assert metadata["sentinelMaster"] == sentinel["masterName"]
    assert metadata["listName"] == "ingest" and "address" not in metadata
    auth = _one(manifests, "TriggerAuthentication", "-worker-redis")
    validate_custom_resource(auth)
    assert trigger["authenticationRef"]["name"] == auth["metadata"]["name"]
    parameters = {ref["parameter"]: ref["key"] for ref in auth["spec"]["secretTargetRef"]}
    key = values["secrets"]["keys"]["redisPassword"]
    assert parameters == {"password": key, "sentinelPassword": key}


def test_the_app_gets_the_sentinel_settings(sentinel_environment: EnvironmentName) -> None:
    manifests = render_scenario(sentinel_environment.value)
    values = _chart_values(sentinel_environment)
    config = _one(manifests, "ConfigMap", "-config")["data"]
    master = values["infra"]["redisSentinel"]["masterName"]
    assert config["RAGFLEET_REDIS__SENTINEL_MASTER"] == master
    keys, secret = values["secrets"]["keys"], values["secrets"]["existingSecret"]
    for component in ("-api", "-worker"):
        env = _env(_one(manifests, "Deployment", component))
        for name, key in (
            ("RAGFLEET_REDIS__URL", keys["redisUrl"]),
            ("RAGFLEET_REDIS__SENTINEL_PASSWORD", keys["redisPassword"]),
        ):
            assert env[name]["valueFrom"]["secretKeyRef"] == {"name": secret, "key": key}
    # The migrations Job reads no ConfigMap (it runs before one exists): it names the master too.
    (job,) = _one(manifests, "Job", "-migrate")["spec"]["template"]["spec"]["containers"]
    job_env = {e["name"]: e for e in job["env"]}
    assert job_env["RAGFLEET_REDIS__SENTINEL_MASTER"]["value"] == master
    assert "secretKeyRef" in job_env["RAGFLEET_REDIS__SENTINEL_PASSWORD"]["valueFrom"]
    egress = _one(manifests, "NetworkPolicy", "-app-egress")["spec"]["egress"]
    infra_ports = {
        port["port"]
        for rule in egress
        if any("namespaceSelector" in peer and "podSelector" not in peer for peer in rule["to"])
        for port in rule["ports"]
    }
    assert values["infra"]["ports"]["redisSentinel"] in infra_ports


def test_plain_redis_keeps_the_redis_scaler_and_no_sentinel_settings() -> None:
    values = merge_values(
        load_values([CHART_DIR / PROD.values_file]),
        {"infra": {"redisSentinel": {"enabled": False}}},
    )
    manifests = render_chart(CHART_DIR, values, namespace=PROD.namespace)
    (trigger,) = _one(manifests, "ScaledObject", "-worker")["spec"]["triggers"]
    assert trigger["type"] == "redis"
    assert trigger["metadata"]["address"] == "valkey.rag-infra.svc.cluster.local:6379"
    assert not {"addresses", "sentinelMaster"} & set(trigger["metadata"])
    auth = _one(manifests, "TriggerAuthentication", "-worker-redis")
    assert [ref["parameter"] for ref in auth["spec"]["secretTargetRef"]] == ["password"]
    assert "RAGFLEET_REDIS__SENTINEL_MASTER" not in _one(manifests, "ConfigMap", "-config")["data"]
    assert "RAGFLEET_REDIS__SENTINEL_PASSWORD" not in _env(_one(manifests, "Deployment", "-api"))


@pytest.mark.parametrize(
    ("sentinel", "message"),
    [
        ({"addresses": ["valkey-sentinel"]}, "addresses"),
        ({"addresses": []}, "addresses"),
        ({"addresses": ["a:26379,b:26379"]}, "addresses"),
        ({"masterName": ""}, "masterName"),
        ({"enabled": "yes"}, "enabled"),
    ],
)
def test_values_schema_refuses_bad_sentinel_values(sentinel: Obj, message: str) -> None:
    with pytest.raises(helm_python.HelmValuesError, match=message):
        render_chart(CHART_DIR, {"infra": {"redisSentinel": sentinel}}, namespace="rag-staging")


def test_sentinel_changes_only_the_redis_wiring(environment: EnvironmentName) -> None:
    """The environment with Sentinel against the same on plain Redis, whichever it runs now: the
    same objects, and only those that carry the Redis settings differ (the Deployments through
    their env and config checksum). That every object is valid Kubernetes is test_chart's."""
    environment_values = load_values([CHART_DIR / ENVIRONMENTS[environment].values_file])
    namespace = ENVIRONMENTS[environment].namespace

    def render(enabled: bool) -> dict[tuple[str, str], Obj]:
        values = merge_values(
            environment_values, {"infra": {"redisSentinel": {"enabled": enabled}}}
        )
        return {
            (m.kind, m.name): m.obj for m in render_chart(CHART_DIR, values, namespace=namespace)
        }

    plain, sentinel = render(False), render(True)
    assert set(plain) == set(sentinel)
    changed = {key for key in plain if plain[key] != sentinel[key]}
    assert changed == {
        ("ConfigMap", "ragfleet-config"),
        ("Deployment", "ragfleet-api"),
        ("Deployment", "ragfleet-worker"),
        ("Job", "ragfleet-migrate"),
        ("ScaledObject", "ragfleet-worker"),
        ("TriggerAuthentication", "ragfleet-worker-redis"),
    }


# --- production's pinned chart ------------------------------------------------------------------


def _prod_chart_revision() -> str:
    """The git revision (a release tag) prod's Application takes the chart from."""
    (app,) = load_yaml_documents(ARGOCD_DIR / "apps" / "ragfleet-prod.yaml")
    (chart,) = (source for source in app["spec"]["sources"] if "path" in source)
    assert chart["path"] == CHART_DIR.relative_to(REPO_ROOT).as_posix()
    return str(chart["targetRevision"])


def _chart_at(revision: str, dest: Path) -> Path | None:
    """The chart as committed at ``revision``, extracted under ``dest`` (git archive, which
    leaves the clone untouched); None when this clone lacks the revision or is no clone."""
    chart = CHART_DIR.relative_to(REPO_ROOT).as_posix()
    try:
        archive = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "archive", "--format=tar", revision, "--", chart],
            capture_output=True,
            check=False,
        )
    except FileNotFoundError:  # no git
        return None
    if archive.returncode != 0:
        return None
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(dest, filter="data")
    return dest / chart


def _git(*args: str) -> str:
    done = subprocess.run(["git", "-C", str(REPO_ROOT), *args], capture_output=True, check=False)
    return done.stdout.decode() if done.returncode == 0 else ""


def _last_commit_of_chart_version(version: str) -> str | None:
    """Where a release tag of chart ``version`` sits when the clone has no tags: the last commit
    before the chart's version moved on from it (HEAD if it has not)."""
    chart_yaml = (CHART_DIR / "Chart.yaml").relative_to(REPO_ROOT).as_posix()
    newer = "HEAD"
    for commit in _git("log", "--format=%H", "--", chart_yaml).split():
        shown = yaml.safe_load(_git("show", f"{commit}:{chart_yaml}") or "{}")
        if str(shown.get("version")) == version:
            return newer
        newer = f"{commit}^"
    return None


def test_values_prod_renders_with_the_chart_prod_pins(tmp_path: Path) -> None:
    """values-prod.yaml follows main while prod's chart stays at the released tag until Promote
    moves it: a values key that tag does not know fails prod's sync (its schema refuses it)."""
    revision = _prod_chart_revision()
    chart = _chart_at(revision, tmp_path)
    if chart is None:  # no tags in this clone: the commit the tag's chart version ended at
        fallback = _last_commit_of_chart_version(revision.removeprefix("v"))
        chart = _chart_at(fallback, tmp_path) if fallback else None
    if chart is None:
        pytest.skip(f"prod's chart revision {revision} is not in this clone (shallow?)")
    values = load_values([CHART_DIR / PROD.values_file])
    manifests = render_chart(chart, values, namespace=PROD.namespace)
    for component in ("-api", "-worker"):
        assert _env(_one(manifests, "Deployment", component))["RAGFLEET_REDIS__URL"]["valueFrom"]


def test_a_chart_taken_from_git_refuses_values_keys_it_does_not_know(tmp_path: Path) -> None:
    """The check above at a revision every clone holds: an unknown key fails as it would in prod,
    and a revision the clone lacks is reported missing rather than taken as passing."""
    chart = _chart_at("HEAD", tmp_path / "head")
    if chart is None:
        pytest.skip("not a git clone")
    values = merge_values(load_values([CHART_DIR / PROD.values_file]), {"infra": {"notAKey": 1}})
    with pytest.raises(helm_python.HelmValuesError, match="notAKey"):
        render_chart(chart, values, namespace=PROD.namespace)
    assert _chart_at("refs/tags/v0.0.0-never-released", tmp_path / "missing") is None
