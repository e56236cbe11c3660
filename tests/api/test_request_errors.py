"""Malformed or mistyped bodies get the same clear answer on every route."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient


@pytest.mark.parametrize("route", ["/v1/search", "/v1/query", "/v1/feedback"])
def test_invalid_json_is_a_400_that_says_where(client: TestClient, route: str) -> None:
    response = client.post(
        route, content=b'{"query": "x",, }', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "bad_input"
    assert (
        body["message"].startswith("the body is not valid JSON") and "character" in body["message"]
    )


@pytest.mark.parametrize("route", ["/v1/search", "/v1/query", "/v1/documents"])
def test_a_text_body_on_a_json_route_is_a_415(client: TestClient, route: str) -> None:
    response = client.post(route, content=b"hello", headers={"Content-Type": "text/plain"})
    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_type"


@pytest.mark.parametrize(
    ("route", "body", "field"),
    [
        ("/v1/search", {"top_k": 3}, "query"),
        ("/v1/query", {"top_k": 3}, "question"),
        ("/v1/documents", {"title": "no text"}, "text"),
    ],
)
def test_missing_fields_are_a_422_on_every_route(
    client: TestClient, route: str, body: dict[str, object], field: str
) -> None:
    response = client.post(route, json=body)
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"
    assert field in response.json()["message"]
