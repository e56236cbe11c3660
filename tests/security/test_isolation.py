"""Two tenants, every route, every verb: nothing of one is readable, writable or countable by
the other. A route added to the API without a case here fails ``test_every_route_is_covered``."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from ragfleet.security.keys import hash_key
from tests.security.conftest import StartApp
from tests.utils.jobs import ingest_text

if TYPE_CHECKING:
    # The response type of Starlette's TestClient (httpx2, not the httpx the app uses).
    from httpx2 import Response

RED, BLUE = "rfk_red-isolation-key-0000", "rfk_blue-isolation-key-111"
SECRET = "Vermilion"  # appears only in the red tenant's document
RED_DOC = f"# Red roadmap\n\nThe {SECRET} launch of the planet probe is in March."


@dataclass(frozen=True, slots=True)
class Red:
    """What the red tenant owns, which blue must not reach."""

    document_id: str
    job_id: str
    query_id: str


Probe = Callable[[TestClient, Red], "Response"]

# (method, route template) -> what blue tries against red's things.
PROBES: dict[tuple[str, str], Probe] = {
    ("get", "/v1/documents"): lambda c, r: c.get("/v1/documents"),
    ("post", "/v1/documents"): lambda c, r: c.post(
        "/v1/documents", json={"text": "Blue overwrites.", "source": "roadmap"}
    ),
    ("get", "/v1/documents/{document_id}"): lambda c, r: c.get(f"/v1/documents/{r.document_id}"),
    ("delete", "/v1/documents/{document_id}"): lambda c, r: c.delete(
        f"/v1/documents/{r.document_id}"
    ),
    ("get", "/v1/collections"): lambda c, r: c.get("/v1/collections"),
    ("delete", "/v1/collections/{name}"): lambda c, r: c.delete("/v1/collections/default"),
    ("get", "/v1/jobs"): lambda c, r: c.get("/v1/jobs"),
    ("get", "/v1/jobs/{job_id}"): lambda c, r: c.get(f"/v1/jobs/{r.job_id}"),
    ("post", "/v1/jobs/{job_id}/retry"): lambda c, r: c.post(f"/v1/jobs/{r.job_id}/retry"),
    ("post", "/v1/jobs/{job_id}/cancel"): lambda c, r: c.post(f"/v1/jobs/{r.job_id}/cancel"),
    ("post", "/v1/search"): lambda c, r: c.post(
        "/v1/search", json={"query": f"{SECRET} launch planet probe", "mode": "hybrid"}
    ),
    ("post", "/v1/query"): lambda c, r: c.post(
        "/v1/query", json={"question": f"When is the {SECRET} launch?", "stream": True}
    ),
    ("post", "/v1/feedback"): lambda c, r: c.post(
        "/v1/feedback", json={"query_id": r.query_id, "rating": "down"}
    ),
}
UNAUTHENTICATED = {"/healthz", "/readyz", "/metrics"}


@pytest.fixture
def two_tenants(start_app: StartApp) -> tuple[TestClient, Red]:
    keys: list[dict[str, Any]] = [
        {"key_hash": hash_key(RED), "name": "red", "groups": ["red"]},
        {"key_hash": hash_key(BLUE), "name": "blue", "groups": ["blue"]},
    ]
    client = start_app(auth={"api_keys": keys}, headers={"Authorization": f"Bearer {RED}"})
    red = ingest_text(client, RED_DOC, source="roadmap", acl=["red"])
    asked = client.post("/v1/query", json={"question": f"When is the {SECRET} launch?"})
    assert SECRET in json.dumps(asked.json())  # red itself reads it
    client.headers["Authorization"] = f"Bearer {BLUE}"
    return client, Red(red["document_id"], red["job_id"], asked.json()["query_id"])


def test_every_route_is_covered(two_tenants: tuple[TestClient, Red]) -> None:
    client, _ = two_tenants
    assert isinstance(client.app, FastAPI)
    paths = client.app.openapi()["paths"]
    routes = {(m, p) for p, ops in paths.items() for m in ops if p not in UNAUTHENTICATED}
    assert routes == set(PROBES)


@pytest.mark.parametrize(("method", "route"), list(PROBES), ids=lambda v: str(v))
def test_blue_cannot_reach_red(
    two_tenants: tuple[TestClient, Red], method: str, route: str
) -> None:
    client, red = two_tenants
    response = PROBES[(method, route)](client, red)
    assert response.status_code < 500, response.text
    body = response.text
    sent = str(response.request.url) + response.request.content.decode()
    for leak in (SECRET, red.document_id, red.job_id, red.query_id, "roadmap"):
        if leak not in sent:  # an answer may echo what blue itself sent, nothing more
            assert leak not in body, (leak, body)
    if (method, route) == ("post", "/v1/documents"):  # blue's own namespace: a new document
        assert response.status_code == 202
        assert response.json()["data"][0]["document_id"] != red.document_id
    elif method != "get" or "{" in route:  # writes and single reads: refused or not found
        assert response.status_code in (403, 404) or route in ("/v1/search", "/v1/query")


def test_red_is_untouched_and_uncounted(two_tenants: tuple[TestClient, Red]) -> None:
    client, red = two_tenants
    for probe in PROBES.values():
        probe(client, red)
    # Blue sees and counts only what it wrote itself (its own "roadmap").
    own = client.get("/v1/documents").json()["data"]
    assert [d["source"] for d in own] == ["roadmap"] and own[0]["id"] != red.document_id
    counts = {c["name"]: c["documents"] for c in client.get("/v1/collections").json()["data"]}
    assert counts == {"default": 1}
    jobs = client.get("/v1/jobs").json()["data"]
    assert jobs and red.job_id not in {j["id"] for j in jobs}
    assert red.document_id not in {j["document_id"] for j in jobs}
    client.headers["Authorization"] = f"Bearer {RED}"
    document = client.get(f"/v1/documents/{red.document_id}").json()
    assert document["status"] == "indexed" and document["acl"] == ["red"]
    hits = client.post("/v1/search", json={"query": SECRET}).json()["data"]
    assert hits[0]["document_id"] == red.document_id  # blue's own public one may follow
    assert SECRET in hits[0]["text"]
