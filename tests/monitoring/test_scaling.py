"""The inference autoscaling arithmetic, end to end: the exact trigger queries of the rendered
ScaledObject run in promtool against the series of a night cold start, a burst, steady load and
a scrape outage; KEDA's and the HPA's rules then turn the results into a replica count.

A cold start must ask for exactly one GPU however many requests and API pods wait, never
maxReplicaCount; scale-out follows vLLM's queue one bounded step at a time; missing data is an
error that KEDA answers with its fallback, never a silent zero."""

from __future__ import annotations

import math
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from ragfleet.deploy.render import load_values, render_chart

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "ragfleet"
NAMESPACE = "rag-prod"
HPA_TOLERANCE = 0.1
API_PODS = ("api-0", "api-1", "api-2")


@dataclass(frozen=True)
class Scenario:
    name: str
    series: dict[str, str]
    # The value promtool must find for each trigger; None: the query returns no sample.
    values: dict[str, float | None]
    replicas: int  # running now
    expected: int  # what KEDA/HPA make of it
    extra: dict[str, Any] = field(default_factory=dict)


def api_series(metric: str, values: str, **labels: str) -> dict[str, str]:
    """One series per API pod of the release."""
    extra = "".join(f', {key}="{value}"' for key, value in labels.items())
    return {f'{metric}{{namespace="{NAMESPACE}", pod="{pod}"{extra}}}': values for pod in API_PODS}


def vllm_series(values: str, pod: str = "inference-0") -> dict[str, str]:
    labels = f'namespace="{NAMESPACE}", service="ragfleet-inference", pod="{pod}"'
    return {f"vllm:num_requests_waiting{{{labels}}}": values}


SCENARIOS = [
    Scenario(
        # 03:00, inference at zero: three API pods each hold a few questions, and (as before the
        # wake gauge) each counts a connection fallback every 30 s.
        "night cold start",
        {
            **api_series("ragfleet_llm_requests_held", "4x20"),
            **api_series("ragfleet_llm_fallbacks_total", "0+2x20", reason="connection"),
        },
        {"held": 1, "queue": 0},
        replicas=0,
        expected=1,
    ),
    Scenario(
        # The GPU pod is still loading the model and 40 questions are held: still one replica.
        "cold start while the model loads",
        api_series("ragfleet_llm_requests_held", "13x20"),
        {"held": 1, "queue": 0},
        replicas=1,
        expected=1,
    ),
    Scenario(
        "burst",
        {**api_series("ragfleet_llm_requests_held", "0x20"), **vllm_series("40x20")},
        {"held": 0, "queue": 40},
        replicas=1,
        expected=2,  # ceil(40 / 4) = 10, capped at 4, one step of 1 per period
    ),
    Scenario(
        "steady load",
        {
            **api_series("ragfleet_llm_requests_held", "0x20"),
            **vllm_series("3x20"),
            **vllm_series("4x20", pod="inference-1"),
        },
        {"held": 0, "queue": 7},
        replicas=2,
        expected=2,
    ),
    Scenario(
        "idle at night",
        api_series("ragfleet_llm_requests_held", "0x20"),
        {"held": 0, "queue": 0},
        replicas=1,
        expected=0,
    ),
    Scenario(
        # Prometheus scrapes nothing of the release (wrong selector label, outage): the wake
        # query has no sample, which KEDA reports as an error, not as 0.
        "scrape outage",
        {'up{job="other"}': "1x20"},
        {"held": None, "queue": 0},
        replicas=0,
        expected=1,  # fallback.replicas after failureThreshold errors
    ),
]


@pytest.fixture(scope="module")
def scaled_object() -> dict[str, Any]:
    values = load_values([CHART / "values-prod.yaml"])
    manifests = render_chart(CHART, values, namespace=NAMESPACE)
    (scaled,) = (
        m.obj for m in manifests if m.kind == "ScaledObject" and m.name.endswith("-inference")
    )
    obj: dict[str, Any] = scaled
    return obj


def prometheus_triggers(scaled: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {
        t["name"]: t["metadata"] for t in scaled["spec"]["triggers"] if t["type"] == "prometheus"
    }


def run_promtool(tmp_path: Path, scenario: Scenario, triggers: dict[str, dict[str, str]]) -> None:
    """promtool checks every trigger query yields the scenario's value at minute 15."""
    exprs = []
    for name, metadata in triggers.items():
        value = scenario.values[name]
        samples = [] if value is None else [{"labels": "{}", "value": value}]
        exprs.append({"expr": metadata["query"], "eval_time": "15m", "exp_samples": samples})
    series = [{"series": key, "values": values} for key, values in scenario.series.items()]
    test = {
        "rule_files": [],
        "evaluation_interval": "30s",
        "tests": [{"interval": "30s", "input_series": series, "promql_expr_test": exprs}],
    }
    path = tmp_path / "scaling_test.yaml"
    path.write_text(yaml.safe_dump(test, sort_keys=False))
    promtool = shutil.which("promtool")
    assert promtool, "promtool is required (Debian package prometheus; `make test` installs it)"
    result = subprocess.run([promtool, "test", "rules", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def desired_replicas(scaled: dict[str, Any], values: dict[str, float | None], current: int) -> int:
    """KEDA and the HPA it drives, for the prometheus triggers (night: the cron one is inactive).

    A trigger without a sample and ignoreNullValues "false" fails; after failureThreshold failed
    polls KEDA applies fallback.replicas. Otherwise: no active trigger scales to
    minReplicaCount; from 0, activation goes to max(minReplicaCount, 1); above that the HPA
    asks ceil(value / threshold) per trigger (AverageValue), takes the largest, holds within its
    tolerance, caps at maxReplicaCount and adds at most the scale-up policy's step."""
    spec = scaled["spec"]
    triggers = prometheus_triggers(scaled)
    if any(
        values[name] is None and t["ignoreNullValues"] == "false" for name, t in triggers.items()
    ):
        return int(spec["fallback"]["replicas"])
    active = any(
        (values[name] or 0) > float(t["activationThreshold"]) for name, t in triggers.items()
    )
    if not active:
        return int(spec["minReplicaCount"])
    if current == 0:
        return max(int(spec["minReplicaCount"]), 1)
    wanted = max(
        math.ceil((values[name] or 0) / float(t["threshold"])) for name, t in triggers.items()
    )
    usage = max(
        (values[name] or 0) / (float(t["threshold"]) * current) for name, t in triggers.items()
    )
    if abs(usage - 1) <= HPA_TOLERANCE:
        wanted = current
    wanted = min(max(wanted, 1), int(spec["maxReplicaCount"]))
    if wanted > current:
        behavior = spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleUp"]
        step = max(p["value"] for p in behavior["policies"] if p["type"] == "Pods")
        wanted = min(wanted, current + step)
    return wanted


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_trigger_queries_and_replicas(
    tmp_path: Path, scaled_object: dict[str, Any], scenario: Scenario
) -> None:
    triggers = prometheus_triggers(scaled_object)
    assert set(triggers) == set(scenario.values)
    run_promtool(tmp_path, scenario, triggers)
    assert desired_replicas(scaled_object, scenario.values, scenario.replicas) == scenario.expected


def test_a_cold_start_never_jumps_to_the_ceiling(scaled_object: dict[str, Any]) -> None:
    ceiling = scaled_object["spec"]["maxReplicaCount"]
    assert ceiling > 1, "prod can scale out, so the cap below is a real one"
    replicas = 0
    # Night: held requests keep the wake trigger at its clamped 1 through ten KEDA polls.
    for _ in range(10):
        replicas = desired_replicas(scaled_object, {"held": 1, "queue": 0}, replicas)
        assert replicas == 1
    assert scaled_object["spec"]["fallback"]["replicas"] == 1
