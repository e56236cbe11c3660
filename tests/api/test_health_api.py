from __future__ import annotations

from dataclasses import replace

from fastapi.testclient import TestClient

from ragfleet.registry.repository import Registry
from ragfleet.services import Services
from tests.utils.jobs import ingest_text


def test_liveness_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {
        "registry": "ok",
        "vector_store": "ok",
        "embeddings": "ok",
    }
    assert 'ragfleet_ready{dependency="registry"} 1.0' in client.get("/metrics").text


def test_readiness_names_the_failed_dependency(client: TestClient, services: Services) -> None:
    working = services.tasks
    broken = Registry("postgresql+psycopg://ragfleet@127.0.0.1:1/none")
    services.tasks = replace(working, registry=broken)
    try:
        response = client.get("/readyz")
    finally:
        broken.close()
        services.tasks = working
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["registry"].startswith("failed")
    assert body["checks"]["vector_store"] == "ok"
    exposition = client.get("/metrics").text
    assert 'ragfleet_ready{dependency="registry"} 0.0' in exposition
    assert 'ragfleet_ready{dependency="vector_store"} 1.0' in exposition


def test_metrics_use_route_templates(client: TestClient) -> None:
    doc = ingest_text(client, "# T\n\nSome text.", source="t")
    client.get(f"/v1/documents/{doc['document_id']}")
    client.post("/v1/search", json={"query": "text"})
    text = client.get("/metrics").text
    assert (
        'ragfleet_http_requests_total{method="GET",route="/v1/documents/{document_id}",status="2xx"}'
        in text
    )
    assert 'ragfleet_query_stage_duration_seconds_count{stage="search"}' in text
    assert 'ragfleet_ingest_jobs_total{outcome="succeeded"}' in text
    assert doc["document_id"] not in text


def test_request_id_is_echoed(client: TestClient) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": "abc123"})
    assert response.headers["x-request-id"] == "abc123"
    assert len(client.get("/healthz").headers["x-request-id"]) == 32
    odd = client.get("/healthz", headers={b"X-Request-ID": b"\xff\xfe bad id"})
    assert odd.status_code == 200 and len(odd.headers["x-request-id"]) == 32


def test_openapi_lists_operations(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    operations = {op["operationId"] for path in spec["paths"].values() for op in path.values()}
    assert {"create_documents", "search", "query", "get_job", "readyz"} <= operations
