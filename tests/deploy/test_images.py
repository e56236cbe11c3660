"""Dockerfile (hadolint plus parsed rules) and compose.yaml (the local stack)."""

from __future__ import annotations

import json
import re
import subprocess
from typing import Any

import pytest
import yaml

from tests.deploy.deploy_helpers import REPO_ROOT
from tests.utils.tools import dev_tool

DOCKERFILE = REPO_ROOT / "Dockerfile"
COMPOSE = REPO_ROOT / "compose.yaml"


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs with line continuations joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    pairs = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            instruction, _, arguments = stripped.partition(" ")
            pairs.append((instruction.upper(), arguments.strip()))
    return pairs


def _stages() -> dict[str, list[tuple[str, str]]]:
    stages: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] = []
    for instruction, arguments in _instructions():
        if instruction == "FROM":
            name = arguments.split()[-1]
            current = stages.setdefault(name, [])
        current.append((instruction, arguments))
    return stages


def test_hadolint_is_clean() -> None:
    hadolint = dev_tool("hadolint")
    result = subprocess.run(
        [hadolint, "--no-color", "--failure-threshold", "info", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_base_image_is_a_pinned_python_3_11_slim() -> None:
    args = dict(a.split("=", 1) for i, a in _instructions() if i == "ARG" and "=" in a)
    assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+", args["PYTHON_IMAGE"])
    for instruction, arguments in _instructions():
        if instruction == "FROM":
            assert arguments.split()[0] in {"${PYTHON_IMAGE}", "runtime"}


def test_targets_api_and_worker_run_as_fixed_non_root_with_exec_form() -> None:
    stages = _stages()
    assert {"builder", "runtime", "api", "worker"} <= set(stages)
    runtime = dict(stages["runtime"])
    assert runtime["USER"] == "10001:10001"
    assert any("--uid 10001" in a for i, a in stages["runtime"] if i == "RUN")
    for target, command in (("api", ["ragfleet", "serve"]), ("worker", ["ragfleet", "worker"])):
        instructions = dict(stages[target])
        assert json.loads(instructions["CMD"]) == command
        assert "CMD [" in instructions["HEALTHCHECK"]
    assert "http://127.0.0.1:8000/healthz" in dict(stages["api"])["HEALTHCHECK"]
    assert list(stages)[-1] == "api", "the default build target is the api"


def test_final_stages_hold_no_compilers_caches_or_torch() -> None:
    stages = _stages()
    for name in ("runtime", "api", "worker"):
        for instruction, arguments in stages[name]:
            assert instruction != "COPY" or "--from=builder" in arguments
            assert not re.search(r"apt-get install|gcc|build-essential|g\+\+", arguments)
            if instruction == "RUN" and "pip install" in arguments:
                assert "--no-cache-dir" in arguments
                assert "--mount=type=bind,from=builder" in arguments, "wheels stay out of layers"
                assert "torch" not in arguments


def test_torch_only_with_the_local_extra_pinned_from_the_cpu_index() -> None:
    builder = " ".join(a for i, a in _stages()["builder"] if i == "RUN")
    assert 'ARG EXTRAS=""' in DOCKERFILE.read_text(encoding="utf-8")
    # torch alone (no dependencies) from the CPU index; everything else from the hashed locks.
    cpu_torch = r'--no-deps\s+--index-url https://download.pytorch.org/whl/cpu "torch==2.13.0"'
    assert re.search(cpu_torch, builder)
    assert builder.count("--require-hashes") == 2
    assert builder.endswith("pip wheel --no-cache-dir --wheel-dir /wheels --no-deps .")


def test_dockerignore_sends_only_the_build_inputs() -> None:
    lines = (REPO_ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    assert lines[lines.index("*")] == "*"
    assert {"!pyproject.toml", "!README.md", "!src/"} <= set(lines)


# --- compose.yaml ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return document


def test_compose_has_the_full_stack(compose: dict[str, Any]) -> None:
    expected = {"qdrant", "redis", "postgres", "api", "worker", "vllm"}
    expected |= {"prometheus", "grafana", "loki", "promtail"}
    assert set(compose["services"]) == expected
    assert compose["services"]["vllm"]["profiles"] == ["gpu"]
    devices = compose["services"]["vllm"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia"


def test_compose_images_are_pinned(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        if "build" in service:
            assert service["build"]["target"] == name
            continue
        repository, _, tag = service["image"].rpartition(":")
        assert repository and re.match(r"v?\d+\.\d+", tag), f"{name}: {service['image']}"


def test_compose_services_have_healthchecks_and_conditional_dependencies(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    for name, service in services.items():
        assert service["healthcheck"]["test"][0] == "CMD", name
        for dependency, options in service.get("depends_on", {}).items():
            assert dependency in services
            assert options["condition"] == "service_healthy", f"{name} -> {dependency}"
    assert set(services["api"]["depends_on"]) >= {"qdrant", "redis", "postgres"}
    assert services["api"]["depends_on"]["vllm"]["required"] is False


def test_compose_provisions_grafana_and_prometheus_from_the_chart_files(
    compose: dict[str, Any],
) -> None:
    grafana = compose["services"]["grafana"]
    assert any("files/dashboards" in volume for volume in grafana["volumes"])
    datasources = yaml.safe_load(compose["configs"]["grafana-datasources"]["content"])
    assert {d["type"] for d in datasources["datasources"]} == {"prometheus", "loki"}
    prometheus = yaml.safe_load(compose["configs"]["prometheus-config"]["content"])
    jobs = {job["job_name"] for job in prometheus["scrape_configs"]}
    assert {"ragfleet-api", "ragfleet-worker", "ragfleet-inference"} <= jobs
    volumes = compose["services"]["prometheus"]["volumes"]
    assert any(v.startswith("./deploy/helm/ragfleet/files/alerts.yaml:") for v in volumes)
    for volume in volumes + grafana["volumes"]:
        if volume.startswith("./"):
            assert (REPO_ROOT / volume.split(":")[0]).exists(), volume
