"""Dashboards and alerts read metrics the code exports; PromQL parses; alerts fire as designed;
a real Prometheus scrapes the API; logs carry request and trace ids and no document text."""

from __future__ import annotations

import io
import json
import logging
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
import yaml
from fastapi.testclient import TestClient

from ragfleet.api.app import create_app
from ragfleet.embedding import Embedder
from ragfleet.services import Services, build_services
from ragfleet.telemetry.logging import JsonFormatter, configure_logging
from tests.utils.config import make_settings
from tests.utils.documents import GUIDE_MD
from tests.utils.jobs import ingest_text
from tests.utils.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
FILES = ROOT / "deploy" / "helm" / "ragfleet" / "files"
ALERTS = FILES / "alerts.yaml"
ALERT_TESTS = ROOT / "deploy" / "monitoring" / "alerts_test.yaml"
DASHBOARDS = sorted((FILES / "dashboards").glob("*.json"))
# Metrics other exporters provide: Prometheus itself, vLLM (pinned in the chart) and
# kube-state-metrics.
EXTERNAL = {
    "up",
    "vllm:num_requests_running",
    "vllm:num_requests_waiting",
    "vllm:gpu_cache_usage_perc",
    "vllm:time_to_first_token_seconds_bucket",
    "vllm:generation_tokens_total",
    "kube_deployment_status_replicas",
}
METRIC = re.compile(r"\bragfleet_[a-z0-9_]+|\bvllm:[a-z0-9_:]+|\bkube_[a-z0-9_]+|\bup(?=\{)")


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool is required (Debian package prometheus; `make test` installs it)")
    return path


def dashboard_queries() -> list[tuple[str, str]]:
    queries = []
    for path in DASHBOARDS:
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel["targets"]:
                queries.append((f"{path.stem}: {panel['title']}", target["expr"]))
    return queries


def alert_queries() -> list[tuple[str, str]]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [(rule["alert"], rule["expr"]) for group in groups for rule in group["rules"]]


@pytest.fixture
def queue_client(tmp_path: Path, redis_url: str, embedder: Embedder) -> Iterator[TestClient]:
    """The API with the queue (so the worker and queue metrics are live too)."""
    settings = make_settings(tmp_path, redis={"url": redis_url})
    services = build_services(settings, embedder)
    with TestClient(create_app(services=services)) as client:
        yield client
    services.close()


def test_every_metric_a_panel_or_alert_reads_is_exported(queue_client: TestClient) -> None:
    ingest_text(queue_client, GUIDE_MD, source="guide")
    queue_client.post("/v1/query", json={"question": "How do I install on Linux?"})
    queue_client.post("/v1/feedback", json={"query_id": "q", "rating": "up"})
    queue_client.get("/readyz")
    exposition = queue_client.get("/metrics").text
    exported = {line.split("{")[0].split(" ")[0] for line in exposition.splitlines() if line}
    used = {
        name for _, expr in dashboard_queries() + alert_queries() for name in METRIC.findall(expr)
    }
    assert used, "no metric names found"
    missing = sorted(n for n in used if n.startswith("ragfleet_") and n not in exported)
    assert missing == []
    assert sorted(n for n in used if not n.startswith("ragfleet_") and n not in EXTERNAL) == []


def test_dashboards_have_units_unique_ids_and_a_datasource_variable() -> None:
    assert {p.stem for p in DASHBOARDS} == {"overview", "ingestion", "inference"}
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text())
        names = [v["name"] for v in dashboard["templating"]["list"]]
        assert "datasource" in names
        ids = [panel["id"] for panel in dashboard["panels"]]
        assert len(ids) == len(set(ids)), path.name
        for panel in dashboard["panels"]:
            assert panel["fieldConfig"]["defaults"]["unit"], (path.name, panel["title"])
            assert panel["datasource"]["uid"] == "${datasource}"


def test_alerts_have_severity_summary_and_a_runbook_section() -> None:
    runbook = (ROOT / "docs" / "runbook.md").read_text()
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    for rule in (rule for group in groups for rule in group["rules"]):
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert rule["annotations"]["summary"]
        assert f"\n## {rule['alert']}\n" in runbook
        assert rule["annotations"]["runbook_url"] == f"docs/runbook.md#{rule['alert'].lower()}"


def test_every_query_parses(tmp_path: Path) -> None:
    subprocess.run([promtool(), "check", "rules", str(ALERTS)], check=True, capture_output=True)
    rules = [
        {"record": f"ragfleet:dashboard_query_{n}", "expr": expr}
        for n, (_, expr) in enumerate(dashboard_queries())
    ]
    wrapped = tmp_path / "dashboards.rules.yaml"
    wrapped.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    result = subprocess.run(
        [promtool(), "check", "rules", str(wrapped)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_alerts_fire_on_bad_series_and_stay_silent_on_good_ones() -> None:
    result = subprocess.run(
        [promtool(), "test", "rules", str(ALERT_TESTS)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    tested = set(re.findall(r"alertname: (\w+)", ALERT_TESTS.read_text()))
    assert tested == {name for name, _ in alert_queries()}


@pytest.fixture
def served(services: Services) -> Iterator[str]:
    """The API on a real loopback port."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(services=services), host="127.0.0.1", port=port, log_config=None)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the API did not start"
        time.sleep(0.05)
    yield f"127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def test_a_real_prometheus_scrapes_the_api_and_evaluates_the_slo_queries(
    served: str, tmp_path: Path
) -> None:
    prometheus = shutil.which("prometheus")
    if prometheus is None:
        pytest.fail("prometheus is required (Debian package prometheus; `make test` installs it)")
    base = f"http://{served}"
    with httpx.Client(base_url=base, timeout=30) as api:
        for _ in range(3):
            api.post("/v1/query", json={"question": "How do I install on Linux?"})
            api.get("/v1/documents/missing")
    config = tmp_path / "prometheus.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "scrape_configs": [
                    {"job_name": "ragfleet-api", "static_configs": [{"targets": [served]}]}
                ],
                "rule_files": [str(ALERTS)],
            }
        )
    )
    port = free_port()
    process = subprocess.Popen(
        [
            prometheus,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as prom:

            def query(expr: str) -> list[dict[str, object]]:
                try:
                    response = prom.get("/api/v1/query", params={"query": expr})
                except httpx.TransportError:
                    return []
                if response.status_code == 503:  # still starting
                    return []
                body = response.json()
                assert body["status"] == "success", body
                result: list[dict[str, object]] = body["data"]["result"]
                return result

            latency = (
                "histogram_quantile(0.95, sum by (le) "
                '(rate(ragfleet_http_request_duration_seconds_bucket{route="/v1/query"}[1m])))'
            )
            errors = (
                'sum(rate(ragfleet_http_requests_total{status="4xx"}[1m])) '
                "/ sum(rate(ragfleet_http_requests_total[1m]))"
            )
            deadline = time.monotonic() + 60
            with httpx.Client(base_url=base, timeout=30) as api:
                while not (query(latency) and query(errors)):
                    assert time.monotonic() < deadline, "Prometheus never evaluated the queries"
                    api.post("/v1/query", json={"question": "How do I install on Linux?"})
                    api.get("/v1/documents/missing")
                    time.sleep(0.5)
            (p95,) = query(latency)
            (ratio,) = query(errors)
            assert 0 < float(p95["value"][1]) < 5  # type: ignore[index]
            assert 0 < float(ratio["value"][1]) < 1  # type: ignore[index]
            (up,) = query('up{job="ragfleet-api"}')
            assert up["value"][1] == "1"  # type: ignore[index]
            groups = prom.get("/api/v1/rules").json()["data"]["groups"]
            rules = [rule for group in groups for rule in group["rules"]]
            assert len(rules) == len(alert_queries())
            assert {rule["health"] for rule in rules} == {"ok"}, rules
    finally:
        process.terminate()
        process.wait(10)


def test_logs_are_json_with_request_and_trace_ids_and_no_document_text(
    client: TestClient,
) -> None:
    secret = "Zanzibar-unique-passage-text"
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.INFO)
    try:
        ingest_text(client, f"# Notes\n\n{secret} is here.", source="notes")
        response = client.post(
            "/v1/query",
            json={"question": f"Where is {secret}?"},
            headers={"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
        )
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    assert response.status_code == 200
    assert response.headers["x-trace-id"] == "0af7651916cd43dd8448eb211c80319c"
    events = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert secret not in stream.getvalue()
    access = [e for e in events if e["logger"] == "ragfleet.access" and e["route"] == "/v1/query"]
    assert len(access) == 1
    (event,) = access
    assert event["request_id"] == response.headers["x-request-id"]
    assert event["trace_id"] == "0af7651916cd43dd8448eb211c80319c"
    assert (event["method"], event["status"]) == ("POST", 200) and event["latency_ms"] > 0
    assert event["collection"] == "default"


def test_promtail_keeps_ids_out_of_loki_labels() -> None:
    config = yaml.safe_load((ROOT / "deploy" / "monitoring" / "promtail.yaml").read_text())
    (job,) = config["scrape_configs"]
    stages = {key: value for stage in job["pipeline_stages"] for key, value in stage.items()}
    assert set(stages["json"]["expressions"]) >= {"level", "request_id", "trace_id"}
    assert set(stages["labels"]) == {"level", "logger"}
    assert {"request_id", "trace_id"} <= set(stages["structured_metadata"])
    targets = {rule.get("target_label") for rule in job["relabel_configs"]}
    assert {"namespace", "app", "component"} <= targets


def test_logging_follows_a_swapped_standard_stream_and_survives_its_closing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        configure_logging("INFO", json_format=False)
        swapped = io.StringIO()
        monkeypatch.setattr(sys, "stderr", swapped)
        logging.getLogger("ragfleet.test").info("to the swapped stream")
        assert swapped.getvalue() == "INFO ragfleet.test: to the swapped stream\n"
        swapped.close()  # as a test runner closes its capture
        monkeypatch.undo()
        later = io.StringIO()
        monkeypatch.setattr(sys, "stderr", later)
        logging.getLogger("ragfleet.test").info("after the close")
        assert later.getvalue() == "INFO ragfleet.test: after the close\n"
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
