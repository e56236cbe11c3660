"""The pages and their assets over HTTP (no browser): served, packaged, matched by route."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ragfleet.api.web import STATIC


def test_pages_reference_only_local_files(client: TestClient) -> None:
    for page in ("/", "/docs"):
        response = client.get(page)
        assert response.status_code == 200 and response.headers["content-type"].startswith(
            "text/html"
        )
        assert "http://" not in response.text and "https://" not in response.text
        assert "<script>" not in response.text  # no inline code: a 'self' CSP allows the page
    assert client.get("/assets/app/app.js").status_code == 200
    assert client.get("/assets/docs/swagger-ui-bundle.js").status_code == 200
    assert client.get("/assets/app/nope.js").status_code == 404


def test_web_config(client: TestClient) -> None:
    assert client.get("/web/config").json() == {
        "auth": False,
        "default_collection": "default",
        "version": client.app.version,  # type: ignore[attr-defined]
    }


@pytest.mark.parametrize("path", ["/docs", "/openapi.json"])
def test_docs_routes_are_named_in_metrics(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 200
    metrics = client.get("/metrics").text
    assert f'ragfleet_http_requests_total{{method="GET",route="{path}",status="2xx"}}' in metrics


def test_assets_are_one_route_in_metrics_found_or_not(client: TestClient) -> None:
    assert client.get("/assets/app/app.js").status_code == 200
    assert client.get("/assets/app/no-such-file.js").status_code == 404
    assert client.get("/no/such/page").status_code == 404
    routes = {
        (route, status)
        for route, status in re.findall(
            r'ragfleet_http_requests_total\{method="GET",route="([^"]+)",status="(\dxx)"',
            client.get("/metrics").text,
        )
    }
    assert {("/assets/app/{path}", "2xx"), ("/assets/app/{path}", "4xx")} <= routes
    assert ("unmatched", "4xx") in routes  # the unknown page
    assert not any("no-such-file" in route or "no/such" in route for route, _ in routes)


def test_openapi_schema_is_the_apps(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert schema["openapi"].startswith("3.1") and "/v1/query" in schema["paths"]
    assert "/" not in schema["paths"]  # the pages are not API operations


def test_assets_are_package_data() -> None:
    pyproject = (Path(__file__).parents[2] / "pyproject.toml").read_text()
    assert '"api/web/static/*"' in pyproject
    assert {p.name for p in STATIC.iterdir()} == {
        "index.html",
        "app.js",
        "app.css",
        "docs.html",
        "docs.js",
    }
