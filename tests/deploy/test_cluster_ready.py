"""What a real cluster needs from the chart: every URL the app is given names a Service of the
release, vLLM starts under an arbitrary UID, rollouts fit the model load, Prometheus selects the
monitoring objects, and migrations run once per release."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import helm_python
import pytest

from ragfleet.deploy.render import Manifest, render_chart
from tests.deploy.deploy_helpers import CHART_DIR


def _one(manifests: tuple[Manifest, ...] | list[Manifest], kind: str, suffix: str) -> Any:
    (obj,) = (m.obj for m in manifests if m.kind == kind and m.name.endswith(suffix))
    return obj


def _container_port(deployment: dict[str, Any], name: str) -> int:
    for container in deployment["spec"]["template"]["spec"]["containers"]:
        for port in container.get("ports", []):
            if port["name"] == name:
                return int(port["containerPort"])
    raise AssertionError(f"no port {name}")


def test_every_service_url_in_the_config_is_served_inside_the_release(
    environment_manifests: dict[Any, tuple[Manifest, ...]],
) -> None:
    for manifests in environment_manifests.values():
        config = _one(manifests, "ConfigMap", "-config")["data"]
        for setting in ("RAGFLEET_EMBEDDINGS__BASE_URL", "RAGFLEET_LLM__BASE_URL"):
            url = urlsplit(config[setting])
            services = {m.name: m.obj for m in manifests if m.kind == "Service"}
            assert url.hostname in services, f"{setting} names no Service of the release"
            service = services[url.hostname]
            (port,) = (p for p in service["spec"]["ports"] if p["port"] == url.port)
            deployment = next(
                m.obj
                for m in manifests
                if m.kind == "Deployment"
                and m.obj["spec"]["selector"]["matchLabels"] == service["spec"]["selector"]
            )
            assert _container_port(deployment, port["targetPort"]) == url.port


def test_embedding_server_is_probed_reachable_and_scraped() -> None:
    manifests = render_chart(CHART_DIR, {}, namespace="rag-prod")
    deployment = _one(manifests, "Deployment", "-embeddings")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert "--model-id=sentence-transformers/all-MiniLM-L6-v2" in container["args"]
    assert {"startupProbe", "livenessProbe", "readinessProbe"} <= set(container)
    assert {v["name"] for v in pod["volumes"]} >= {"model-cache", "tmp"}
    egress = _one(manifests, "NetworkPolicy", "-app-egress")["spec"]["egress"]
    selectors = [peer.get("podSelector", {}) for rule in egress for peer in rule["to"]]
    assert deployment["spec"]["selector"] in selectors
    monitor = _one(manifests, "ServiceMonitor", "-embeddings")
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"


def test_an_external_embedding_server_replaces_the_in_cluster_one() -> None:
    values = {
        "embeddings": {"enabled": False},
        "config": {"embeddings": {"baseUrl": "http://tei.example:8080/v1"}},
    }
    manifests = render_chart(CHART_DIR, values, namespace="rag-prod")
    assert not [m for m in manifests if "embeddings" in m.name]
    config = _one(manifests, "ConfigMap", "-config")["data"]
    assert config["RAGFLEET_EMBEDDINGS__BASE_URL"] == "http://tei.example:8080/v1"


def _vllm(manifests: list[Manifest]) -> dict[str, Any]:
    deployment: dict[str, Any] = _one(manifests, "Deployment", "-inference")
    return deployment


def test_vllm_starts_under_an_arbitrary_uid_with_a_read_only_root() -> None:
    deployment = _vllm(render_chart(CHART_DIR, {}, namespace="rag-prod"))
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    env = {e["name"]: e.get("value") for e in container["env"]}
    # getpass.getuser() raises for a UID without a passwd entry unless one of these is set.
    assert env["USER"] and env["LOGNAME"]
    mounts = [m["mountPath"] for m in container["volumeMounts"]]
    cache_dirs = {
        "HOME",
        "XDG_CACHE_HOME",
        "XDG_CONFIG_HOME",
        "HF_HOME",
        "VLLM_CACHE_ROOT",
        "VLLM_CONFIG_ROOT",
        "TORCHINDUCTOR_CACHE_DIR",
        "TRITON_CACHE_DIR",
    }
    for name in cache_dirs:
        assert any(env[name].startswith(mount) for mount in mounts), name


@pytest.mark.parametrize(
    ("access_mode", "strategy"),
    [("ReadWriteOnce", "Recreate"), ("ReadWriteMany", "RollingUpdate")],
)
def test_vllm_rollout_waits_for_the_model_and_surges_only_on_shared_storage(
    access_mode: str, strategy: str
) -> None:
    values = {"inference": {"modelCache": {"accessMode": access_mode}}}
    spec = _vllm(render_chart(CHART_DIR, values, namespace="rag-prod"))["spec"]
    probe = spec["template"]["spec"]["containers"][0]["startupProbe"]
    assert spec["progressDeadlineSeconds"] >= 1200
    assert spec["progressDeadlineSeconds"] > probe["periodSeconds"] * probe["failureThreshold"]
    assert spec["strategy"]["type"] == strategy
    if strategy == "RollingUpdate":
        assert spec["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}


def test_a_deadline_shorter_than_the_startup_budget_is_refused() -> None:
    values = {
        "inference": {"progressDeadlineSeconds": 1200, "probes": {"startupPeriodSeconds": 20}}
    }
    with pytest.raises(helm_python.HelmRenderError, match="startup budget"):
        render_chart(CHART_DIR, values, namespace="rag-prod")


def test_monitoring_objects_carry_the_label_kube_prometheus_stack_selects(
    environment_manifests: dict[Any, tuple[Manifest, ...]],
) -> None:
    renders = [*environment_manifests.values(), tuple(render_chart(CHART_DIR, {}, namespace="x"))]
    for manifests in renders:
        selected = [m for m in manifests if m.kind in {"ServiceMonitor", "PrometheusRule"}]
        assert len(selected) >= 5
        for manifest in selected:
            assert manifest.obj["metadata"]["labels"]["release"] == "kube-prometheus-stack"


def test_migrations_run_once_per_release_before_the_pods(
    environment_manifests: dict[Any, tuple[Manifest, ...]],
) -> None:
    for manifests in environment_manifests.values():
        job = _one(manifests, "Job", "-migrate")
        annotations = job["metadata"]["annotations"]
        assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
        assert annotations["argocd.argoproj.io/hook"] == "PreSync"
        (container,) = job["spec"]["template"]["spec"]["containers"]
        env = {e["name"] for e in container["env"]}
        assert "RAGFLEET_DATABASE__URL" in env
        assert "envFrom" not in container, "the ConfigMap does not exist yet at pre-install"
    # Without a database Secret there is nothing shared to migrate.
    assert not [m for m in render_chart(CHART_DIR, {}, namespace="x") if m.kind == "Job"]


def test_prometheus_sends_the_metrics_token_the_api_requires(
    environment_manifests: dict[Any, tuple[Manifest, ...]],
) -> None:
    for manifests in environment_manifests.values():
        deployment = _one(manifests, "Deployment", "-api")
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        env = {item["name"]: item for item in container["env"]}
        secret = env["RAGFLEET_SERVER__METRICS_TOKEN"]["valueFrom"]["secretKeyRef"]
        (endpoint,) = _one(manifests, "ServiceMonitor", "-api")["spec"]["endpoints"]
        assert endpoint["authorization"] == {"type": "Bearer", "credentials": secret}
