"""What the API shows the outside: error bodies, security headers, /metrics, normalised search."""

from __future__ import annotations

import unicodedata

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from ragfleet import errors
from ragfleet.api import errors as api_errors
from ragfleet.api.middleware import ObservabilityMiddleware
from ragfleet.security.keys import hash_key
from tests.security.conftest import StartApp
from tests.utils.jobs import ingest_text

KEY = "rfk_surface-key-0000000000"
TOKEN = "metrics-token-0123456789"
INTERNALS = "sqlite3.DatabaseError: file is not a database at /srv/ragfleet/registry.db"


def failing_app(exc: Exception) -> TestClient:
    """A bare app with ragfleet's error handlers and middleware whose one route raises."""
    app = FastAPI()

    @app.get("/v1/boom")
    def boom() -> None:
        raise exc

    api_errors.install(app)
    app.add_middleware(ObservabilityMiddleware)
    return TestClient(app, raise_server_exceptions=False)


@pytest.mark.parametrize(
    ("exc", "status", "code", "message"),
    [
        (
            errors.DependencyError("registry", INTERNALS),
            503,
            "dependency_unavailable",
            "registry is unavailable; retry later",
        ),
        (
            TypeError(f"failed to extract enum: {INTERNALS}"),
            500,
            "internal_error",
            "internal error; see the server log",
        ),
    ],
)
def test_errors_carry_code_message_and_request_id_never_internals(
    exc: Exception, status: int, code: str, message: str
) -> None:
    response = failing_app(exc).get("/v1/boom", headers={"X-Request-ID": "req-42"})
    assert response.status_code == status
    assert response.json() == {"code": code, "message": message, "request_id": "req-42"}


def test_security_headers(start_app: StartApp) -> None:
    client = start_app()
    for response in (client.get("/v1/jobs"), client.get("/v1/documents/nope")):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers["content-security-policy"].startswith("default-src 'none'")
    assert client.get("/v1/documents/nope").json()["request_id"]


def test_metrics_need_a_token_outside_development(start_app: StartApp, tmp_path: object) -> None:
    keys = {"api_keys": [{"key_hash": hash_key(KEY), "name": "web"}]}
    closed = start_app(environment="production", auth=keys)
    refused = closed.get("/metrics")
    assert refused.status_code == 403 and "metrics_token" in refused.json()["message"]


def test_metrics_token(start_app: StartApp) -> None:
    client = start_app(server={"metrics_token": TOKEN})
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    scraped = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert scraped.status_code == 200 and "ragfleet_http_requests_total" in scraped.text


def test_decomposed_and_compatibility_forms_match_in_sparse_search(start_app: StartApp) -> None:
    client = start_app()
    ingest_text(client, "# Menu\n\nThe café serves ﬁne crème brûlée.", source="menu")
    for query in ("café", "fine crème", "ＣＡＦＥ́"):
        decomposed = unicodedata.normalize("NFD", query)
        body = client.post("/v1/search", json={"query": decomposed, "mode": "sparse"}).json()
        assert [h["source"] for h in body["data"]] == ["menu"], query


@pytest.mark.parametrize("path", ["/v1/documents", "/v1/jobs"])
def test_huge_offsets_are_refused_not_crashed(start_app: StartApp, path: str) -> None:
    response = start_app().get(path, params={"offset": 2**63})
    assert response.status_code == 422 and response.json()["code"] == "validation_error"


@pytest.mark.parametrize(
    ("environment", "api_docs", "status"),
    [("production", None, 404), ("production", True, 200), ("development", None, 200)],
)
def test_api_docs_are_off_outside_development_unless_asked_for(
    start_app: StartApp, environment: str, api_docs: bool | None, status: int
) -> None:
    keys = {"api_keys": [{"key_hash": hash_key(KEY), "name": "web"}]}
    client = start_app(environment=environment, auth=keys, server={"api_docs": api_docs})
    assert client.get("/docs").status_code == status
    assert client.get("/openapi.json").status_code == status
