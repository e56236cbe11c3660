"""Policy checks on the rendered output of every scenario. Each check is a function returning
violations, so the negative tests below can prove it catches what it claims to."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from typing import Any

import helm_python
import pytest

from ragfleet.deploy.render import Manifest, render_chart
from tests.deploy.deploy_helpers import CHART_DIR

Obj = dict[str, Any]
GPU_TAINT = {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet"}


def _objects(manifests: Sequence[Manifest], kind: str) -> list[Obj]:
    return [m.obj for m in manifests if m.kind == kind]


def _workloads(manifests: Sequence[Manifest]) -> list[Obj]:
    return [m.obj for m in manifests if m.kind in WORKLOAD_KINDS]


def _containers(workload: Obj) -> Iterator[Obj]:
    spec = workload["spec"]["template"]["spec"]
    yield from spec.get("initContainers", [])
    yield from spec["containers"]


def _targets(manifests: Sequence[Manifest], kind: str) -> set[str]:
    return {
        obj["spec"]["scaleTargetRef"]["name"]
        for obj in _objects(manifests, kind)
        if obj["spec"]["scaleTargetRef"].get("kind", "Deployment") == "Deployment"
    }


def container_violations(manifests: Sequence[Manifest]) -> list[str]:
    """Requests/limits, probes, non-root, read-only root, no privilege, pinned images."""
    problems: list[str] = []
    for workload in _workloads(manifests):
        name = workload["metadata"]["name"]
        pod = workload["spec"]["template"]["spec"]
        pod_security = pod.get("securityContext", {})
        if pod_security.get("seccompProfile", {}).get("type") != "RuntimeDefault":
            problems.append(f"{name}: no RuntimeDefault seccomp profile")
        for container in _containers(workload):
            where = f"{name}/{container['name']}"
            resources = container.get("resources", {})
            for section in ("requests", "limits"):
                if not {"cpu", "memory"} <= set(resources.get(section, {})):
                    problems.append(f"{where}: {section} lack cpu or memory")
            for probe in ("livenessProbe", "readinessProbe"):
                if probe not in container:
                    problems.append(f"{where}: no {probe}")
            security = container.get("securityContext", {})
            if not (security.get("runAsNonRoot") or pod_security.get("runAsNonRoot")):
                problems.append(f"{where}: may run as root")
            if security.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{where}: root filesystem is writable")
            if security.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{where}: privilege escalation allowed")
            if "ALL" not in security.get("capabilities", {}).get("drop", []):
                problems.append(f"{where}: capabilities not dropped")
            image = container["image"]
            if "@sha256:" not in image and (
                ":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest")
            ):
                problems.append(f"{where}: image {image} is not pinned")
    return problems


def autoscaler_replica_violations(manifests: Sequence[Manifest]) -> list[str]:
    """A Deployment scaled by KEDA or an HPA must not carry spec.replicas."""
    owned = _targets(manifests, "ScaledObject") | _targets(manifests, "HorizontalPodAutoscaler")
    return [
        f"{obj['metadata']['name']}: replicas set although an autoscaler owns it"
        for obj in _objects(manifests, "Deployment")
        if obj["metadata"]["name"] in owned and "replicas" in obj["spec"]
    ]


def hpa_vpa_violations(manifests: Sequence[Manifest]) -> list[str]:
    """An acting VPA must not control a resource an HPA scales the same workload on."""
    hpa_resources: dict[str, set[str]] = {}
    for hpa in _objects(manifests, "HorizontalPodAutoscaler"):
        target = hpa["spec"]["scaleTargetRef"]["name"]
        for metric in hpa["spec"].get("metrics", []):
            if metric["type"] in ("Resource", "ContainerResource"):
                resource = metric.get("resource") or metric["containerResource"]
                hpa_resources.setdefault(target, set()).add(resource["name"])
    for scaled in _objects(manifests, "ScaledObject"):
        target = scaled["spec"]["scaleTargetRef"]["name"]
        for trigger in scaled["spec"]["triggers"]:
            if trigger["type"] in ("cpu", "memory"):
                hpa_resources.setdefault(target, set()).add(trigger["type"])
    problems: list[str] = []
    for vpa in _objects(manifests, "VerticalPodAutoscaler"):
        target = vpa["spec"]["targetRef"]["name"]
        if vpa["spec"].get("updatePolicy", {}).get("updateMode", "Auto") == "Off":
            continue
        policies = vpa["spec"].get("resourcePolicy", {}).get("containerPolicies", [{}])
        controlled = {r for p in policies for r in p.get("controlledResources", ["cpu", "memory"])}
        if overlap := controlled & hpa_resources.get(target, set()):
            problems.append(f"{target}: HPA and acting VPA both on {sorted(overlap)}")
    return problems


def gpu_violations(manifests: Sequence[Manifest]) -> list[str]:
    """GPU pods request nvidia.com/gpu, tolerate the GPU taint and use the NVIDIA runtime."""
    problems: list[str] = []
    for workload in _workloads(manifests):
        pod = workload["spec"]["template"]["spec"]
        gpus = [
            c for c in _containers(workload) if "nvidia.com/gpu" in c["resources"].get("limits", {})
        ]
        tolerates = any(
            all(t.get(k) == v for k, v in GPU_TAINT.items()) for t in pod.get("tolerations", [])
        )
        name = workload["metadata"]["name"]
        if gpus and not tolerates:
            problems.append(f"{name}: requests a GPU but does not tolerate the GPU taint")
        if gpus and not pod.get("runtimeClassName"):
            problems.append(f"{name}: requests a GPU without a runtimeClassName")
        if tolerates and not gpus:
            problems.append(f"{name}: tolerates the GPU taint without requesting a GPU")
    return problems


def _selects(selector: Obj, labels: dict[str, str]) -> bool:
    if not all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        value = labels.get(expression["key"])
        if expression["operator"] == "In" and value not in expression["values"]:
            return False
        if expression["operator"] == "NotIn" and value in expression["values"]:
            return False
    return True


def network_policy_violations(manifests: Sequence[Manifest]) -> list[str]:
    """Ingress is denied by default, and each workload's ports are open only to named peers."""
    policies = [
        p for p in _objects(manifests, "NetworkPolicy") if "Ingress" in p["spec"]["policyTypes"]
    ]
    problems: list[str] = []
    if not any(p["spec"]["podSelector"] == {} and not p["spec"].get("ingress") for p in policies):
        problems.append("no default-deny ingress NetworkPolicy")
    for workload in _workloads(manifests):
        labels = workload["spec"]["template"]["metadata"]["labels"]
        name = workload["metadata"]["name"]
        rules = [
            rule
            for policy in policies
            if _selects(policy["spec"]["podSelector"], labels)
            for rule in policy["spec"].get("ingress", [])
        ]
        if any(not rule.get("from") or not rule.get("ports") for rule in rules):
            problems.append(f"{name}: an ingress rule admits any peer or any port")
        open_ports = {port["port"] for rule in rules for port in rule.get("ports", [])}
        for container in _containers(workload):
            for port in container.get("ports", []):
                if port["containerPort"] not in open_ports:
                    problems.append(f"{name}: port {port['containerPort']} has no policy path")
    return problems


CHECKS = [
    container_violations,
    autoscaler_replica_violations,
    hpa_vpa_violations,
    gpu_violations,
    network_policy_violations,
]


@pytest.mark.parametrize("check", CHECKS, ids=lambda check: check.__name__)
def test_rendered_output_passes_policy(check: Any, manifests: tuple[Manifest, ...]) -> None:
    assert check(manifests) == []


def test_no_secret_objects_and_secrets_only_by_reference(manifests: tuple[Manifest, ...]) -> None:
    assert not [m for m in manifests if m.kind == "Secret"]
    (config,) = (m.obj for m in manifests if m.kind == "ConfigMap" and m.name.endswith("-config"))
    secret_settings = {
        "RAGFLEET_DATABASE__URL",
        "RAGFLEET_REDIS__URL",
        "RAGFLEET_QDRANT__API_KEY",
        "RAGFLEET_AUTH__API_KEYS",
    }
    assert not secret_settings & set(config["data"])
    assert config["data"]["RAGFLEET_SERVER__HOST"] == "0.0.0.0"
    for workload in (m.obj for m in manifests if m.kind == "Deployment"):
        for container in workload["spec"]["template"]["spec"]["containers"]:
            for env in container.get("env", []):
                if env["name"] in secret_settings | {"HF_TOKEN"}:
                    assert "secretKeyRef" in env["valueFrom"], env


def test_environments_wire_every_secret_and_keda_auth(
    environment_manifests: dict[Any, tuple[Manifest, ...]],
) -> None:
    for manifests in environment_manifests.values():
        (api,) = (m.obj for m in manifests if m.kind == "Deployment" and m.name.endswith("-api"))
        env_names = {e["name"] for e in api["spec"]["template"]["spec"]["containers"][0]["env"]}
        assert {"RAGFLEET_DATABASE__URL", "RAGFLEET_REDIS__URL", "RAGFLEET_AUTH__API_KEYS"} <= (
            env_names
        )
        (auth,) = (m.obj for m in manifests if m.kind == "TriggerAuthentication")
        worker_scaler = next(
            m.obj for m in manifests if m.kind == "ScaledObject" and m.name.endswith("-worker")
        )
        (trigger,) = worker_scaler["spec"]["triggers"]
        assert trigger["type"] in {"redis", "redis-sentinel"}  # Sentinel: test_distributed_fleet
        assert trigger["metadata"]["listName"] == "ingest"
        assert trigger["authenticationRef"]["name"] == auth["metadata"]["name"]
        assert worker_scaler["spec"]["fallback"]["replicas"] >= 1


def test_inference_scales_to_zero_with_queue_wake_and_working_hours() -> None:
    manifests = render_chart(CHART_DIR, {}, namespace="rag-prod")
    (scaled,) = (m.obj for m in manifests if m.kind == "ScaledObject" and "inference" in m.name)
    assert scaled["spec"]["minReplicaCount"] == 0
    triggers = {t["name"]: t for t in scaled["spec"]["triggers"]}
    assert "vllm:num_requests_waiting" in triggers["queue"]["metadata"]["query"]
    assert "ragfleet_llm_requests_held" in triggers["held"]["metadata"]["query"]
    assert triggers["working-hours"]["metadata"]["desiredReplicas"] != "0"
    (deployment,) = (m.obj for m in manifests if m.kind == "Deployment" and "inference" in m.name)
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["startupProbe"]["httpGet"]["path"] == "/health"
    budget = (
        container["startupProbe"]["periodSeconds"] * container["startupProbe"]["failureThreshold"]
    )
    assert budget >= 600, "model loading needs a startup budget of minutes"
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["dshm"]["emptyDir"]["medium"] == "Memory"
    assert "persistentVolumeClaim" in volumes["model-cache"]


def test_worker_has_long_grace_period_and_exec_probe() -> None:
    manifests = render_chart(CHART_DIR, {}, namespace="rag-prod")
    (worker,) = (m.obj for m in manifests if m.kind == "Deployment" and m.name.endswith("-worker"))
    pod = worker["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] >= 300
    probe = pod["containers"][0]["livenessProbe"]["exec"]["command"]
    assert probe == ["ragfleet", "worker-probe"]


def test_chart_refuses_an_acting_vpa_beside_the_cpu_hpa() -> None:
    with pytest.raises(helm_python.HelmRenderError, match="updateMode"):
        render_chart(CHART_DIR, {"api": {"vpa": {"updateMode": "Auto"}}}, namespace="rag-prod")


# --- the checks themselves catch violations --------------------------------------------------


@pytest.fixture(scope="module")
def good() -> list[Manifest]:
    return render_chart(CHART_DIR, {}, namespace="rag-prod")


def _mutated(
    manifests: list[Manifest], kind: str, suffix: str, path: str, value: Any
) -> list[Manifest]:
    """A copy of ``manifests`` with ``path`` (dotted, ``-`` deletes) set in one object."""
    result = []
    for manifest in manifests:
        obj = copy.deepcopy(manifest.obj)
        if manifest.kind == kind and manifest.name.endswith(suffix):
            *parents, leaf = path.split(".")
            node: Any = obj  # dicts and lists along the path
            for part in parents:
                node = node[int(part)] if part.isdigit() else node[part]
            if value == "-":
                del node[leaf]
            else:
                node[leaf] = value
        result.append(Manifest(manifest.source, obj))
    return result


CONTAINER = "spec.template.spec.containers.0"


@pytest.mark.parametrize(
    ("check", "kind", "suffix", "path", "value"),
    [
        (container_violations, "Deployment", "-api", f"{CONTAINER}.resources", {}),
        (container_violations, "Deployment", "-api", f"{CONTAINER}.readinessProbe", "-"),
        (container_violations, "Deployment", "-worker", f"{CONTAINER}.image", "x/worker:latest"),
        (
            container_violations,
            "Deployment",
            "-api",
            f"{CONTAINER}.securityContext.readOnlyRootFilesystem",
            False,
        ),
        (autoscaler_replica_violations, "Deployment", "-worker", "spec.replicas", 3),
        (autoscaler_replica_violations, "Deployment", "-api", "spec.replicas", 3),
        (
            hpa_vpa_violations,
            "VerticalPodAutoscaler",
            "-api",
            "spec.updatePolicy.updateMode",
            "Auto",
        ),
        (gpu_violations, "Deployment", "-inference", "spec.template.spec.tolerations", []),
        (gpu_violations, "Deployment", "-api", "spec.template.spec.tolerations", [GPU_TAINT]),
        (
            network_policy_violations,
            "NetworkPolicy",
            "-default-deny-ingress",
            "spec.podSelector",
            {"matchLabels": {"a": "b"}},
        ),
        (network_policy_violations, "NetworkPolicy", "-worker", "spec.ingress.0.from", []),
        (
            network_policy_violations,
            "NetworkPolicy",
            "-inference",
            "spec.ingress.0.ports.0.port",
            1,
        ),
    ],
)
def test_policy_checks_catch_violations(
    good: list[Manifest], check: Any, kind: str, suffix: str, path: str, value: Any
) -> None:
    assert check(good) == []
    assert check(_mutated(good, kind, suffix, path, value)) != []
