"""Metadata limits hold on every way a document arrives, and nothing is stored on a refusal."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
from fastapi.testclient import TestClient

from ragfleet.domain import validate_metadata
from ragfleet.errors import BadInputError

if TYPE_CHECKING:
    # The response type of Starlette's TestClient (httpx2, not the httpx the app uses).
    from httpx2 import Response

WIDE = {f"k{n}": n for n in range(2000)}


def assert_refused(
    response: Response, client: TestClient, fragment: str, status: int = 400
) -> None:
    assert response.status_code == status, response.text
    assert fragment in response.json()["message"]
    assert client.get("/v1/documents").json()["count"] == 0
    assert client.get("/v1/jobs").json()["count"] == 0


def test_non_finite_numbers_are_refused_in_a_json_body(client: TestClient) -> None:
    body = '{"text": "hello world", "metadata": {"x": NaN}}'
    response = client.post(
        "/v1/documents", content=body, headers={"Content-Type": "application/json"}
    )
    assert_refused(response, client, "finite", status=422)  # a field error, as on every route


@pytest.mark.parametrize(
    ("name", "payload"),
    [
        ("records.jsonl", json.dumps({"text": "a record", **WIDE}).encode()),
        ("records.json", json.dumps([{"text": "a record", **WIDE}]).encode()),
        ("nan.json", b'[{"text": "a record", "score": NaN}]'),
    ],
)
def test_json_files_get_the_same_limits(client: TestClient, name: str, payload: bytes) -> None:
    response = client.post("/v1/documents", files=[("files", (name, payload, "application/json"))])
    assert response.status_code == 400, response.text
    assert client.get("/v1/documents").json()["count"] == 0


def test_the_form_metadata_field_is_checked(client: TestClient) -> None:
    response = client.post(
        "/v1/documents",
        files=[("files", ("a.txt", b"some text", "text/plain"))],
        data={"metadata": json.dumps(WIDE)},
    )
    assert_refused(response, client, "at most 64 metadata keys")


@pytest.mark.parametrize(
    ("metadata", "fragment"),
    [
        ({"x": float("inf")}, "finite"),
        ({"x": "y" * 5000}, "4096"),
        ({"x": list(range(300))}, "256 list items"),
        ({"x": [True]}, "string, number"),
        ({"bad key": 1}, "letters, digits"),
        ({"x": {"nested": 1}}, "string, number"),
    ],
)
def test_validate_metadata_refuses(metadata: dict[str, object], fragment: str) -> None:
    with pytest.raises(BadInputError, match=fragment):
        validate_metadata(metadata)


def test_validate_metadata_keeps_good_values() -> None:
    good = {"lang": "en", "year": 2024, "score": 0.5, "draft": False, "tags": ["a", "b"]}
    assert validate_metadata(good) == good
