from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ragfleet.api.app import create_app
from ragfleet.embedding import Embedder
from ragfleet.services import Services, build_services
from tests.utils.config import make_settings
from tests.utils.documents import ASTRONOMY_MD, GUIDE_MD
from tests.utils.jobs import ingest_text

ADMIN = {"Authorization": "Bearer admin-key-123"}
ENG = {"Authorization": "Bearer eng-key-456"}


@pytest.fixture
def keyed(tmp_path: Path, embedder: Embedder) -> Iterator[tuple[TestClient, Services]]:
    keys = [
        {"key": "admin-key-123", "name": "admin", "scopes": ["read", "write", "admin"]},
        {"key": "eng-key-456", "name": "eng", "groups": ["engineering"]},
    ]
    services = build_services(make_settings(tmp_path, auth={"api_keys": keys}), embedder)
    with TestClient(create_app(services=services), headers=ADMIN) as client:
        yield client, services
    services.close()


def test_list_and_drop_collections(keyed: tuple[TestClient, Services]) -> None:
    client, services = keyed
    kept = ingest_text(client, GUIDE_MD, source="guide", collection="docs")
    ingest_text(client, ASTRONOMY_MD, source="astro", collection="space")
    ingest_text(client, "# Pay\n\nSalaries.", source="pay", collection="space", acl=["hr"])
    listed = client.get("/v1/collections").json()
    assert listed["data"] == [
        {"name": "docs", "documents": 1},
        {"name": "space", "documents": 2},
    ]
    eng = client.get("/v1/collections", headers=ENG).json()["data"]
    assert {c["name"]: c["documents"] for c in eng} == {"docs": 1, "space": 1}

    refused = client.delete("/v1/collections/space", headers=ENG)
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
    assert client.delete("/v1/collections/Bad Name").status_code == 400
    assert client.delete("/v1/collections/nothing-here").status_code == 404

    assert client.delete("/v1/collections/space").status_code == 204
    assert services.store.count("space") == 0
    assert client.get("/v1/documents", params={"collection": "space"}).json()["count"] == 0
    body = {"query": "planet rings", "collection": "space"}
    assert client.post("/v1/search", json=body).status_code == 404  # gone
    # The other collection is untouched, and the dropped one can be filled again.
    assert services.store.count("docs", kept["document_id"]) == 2
    again = ingest_text(client, ASTRONOMY_MD, source="astro", collection="space")
    assert again["job"]["status"] == "succeeded"
    assert client.post("/v1/search", json=body).json()["data"][0]["source"] == "astro"


def test_a_collection_with_a_job_in_flight_is_not_dropped(
    keyed: tuple[TestClient, Services],
) -> None:
    client, services = keyed
    ingest_text(client, GUIDE_MD, source="guide", collection="docs")
    services.runner.stop()  # the next job stays queued
    queued = client.post(
        "/v1/documents", json={"text": ASTRONOMY_MD, "source": "astro", "collection": "docs"}
    )
    assert queued.status_code == 202
    response = client.delete("/v1/collections/docs")
    assert response.status_code == 409
    assert queued.json()["data"][0]["job_id"] in response.json()["message"]
    assert client.get("/v1/collections").json()["data"] == [{"name": "docs", "documents": 2}]
