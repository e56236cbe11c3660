from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ragfleet.api.app import create_app
from ragfleet.embedding import Embedder
from ragfleet.services import build_services
from tests.utils.config import make_settings
from tests.utils.documents import ASTRONOMY_MD, GUIDE_MD
from tests.utils.jobs import ingest_text


@pytest.fixture
def indexed(client: TestClient) -> TestClient:
    ingest_text(client, GUIDE_MD, source="guide", metadata={"lang": "en", "year": 2024})
    ingest_text(client, ASTRONOMY_MD, source="astro", metadata={"lang": "fr", "year": 2019})
    return client


@pytest.mark.parametrize("mode", ["hybrid", "dense", "sparse"])
def test_modes_rank_the_relevant_chunk_first(indexed: TestClient, mode: str) -> None:
    body = indexed.post("/v1/search", json={"query": "largest planet", "mode": mode}).json()
    assert body["mode"] == mode
    top = body["data"][0]
    assert top["title"] == "Astronomy" and "Jupiter" in top["text"]
    assert set(top) >= {"score", "document_id", "chunk_id", "section", "metadata"}
    assert "search" in body["timings_ms"]


def test_filters(indexed: TestClient) -> None:
    def titles(filters: dict[str, object]) -> set[str]:
        body = indexed.post("/v1/search", json={"query": "planet install", "filters": filters})
        assert body.status_code == 200, body.text
        return {hit["title"] for hit in body.json()["data"]}

    assert titles({"lang": "fr"}) == {"Astronomy"}
    assert titles({"year": {"gte": 2020}}) == {"Guide"}
    assert titles({"lang": ["en", "fr"]}) == {"Guide", "Astronomy"}
    assert titles({"lang": "de"}) == set()


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"query": ""}, 422, "validation_error"),
        ({"query": "x" * 3000}, 400, "bad_input"),
        ({"query": "x", "top_k": 0}, 400, "bad_input"),
        ({"query": "x", "top_k": 1000}, 400, "bad_input"),
        ({"query": "x", "mode": "fuzzy"}, 422, "validation_error"),
        ({"query": "x", "filters": {"bad key": 1}}, 422, "invalid_filter"),
        ({"query": "x", "filters": {"year": {"between": 1}}}, 422, "invalid_filter"),
        ({"query": "x", "filters": {"year": {"gte": "2020"}}}, 422, "invalid_filter"),
        ({"query": "x", "filters": {"tags": []}}, 422, "invalid_filter"),
        ({"query": "x", "filters": {"tags": [{"a": 1}]}}, 422, "invalid_filter"),
        ({"query": "x", "collection": "../etc"}, 422, "validation_error"),
        ({"query": "x", "extra": True}, 422, "validation_error"),
    ],
)
def test_bad_searches(indexed: TestClient, body: dict[str, object], status: int, code: str) -> None:
    response = indexed.post("/v1/search", json=body)
    assert response.status_code == status, response.text
    assert response.json()["code"] == code


def test_an_unknown_collection_is_named_in_a_404(client: TestClient) -> None:
    response = client.post("/v1/search", json={"query": "anything", "collection": "nothing-here"})
    assert response.status_code == 404 and "nothing-here" in response.json()["message"]


@pytest.fixture
def secured(tmp_path: Path, embedder: Embedder) -> Iterator[TestClient]:
    keys = [
        {"key": "admin-key-123", "name": "admin"},
        {"key": "eng-key-456", "name": "eng", "groups": ["engineering"]},
    ]
    services = build_services(make_settings(tmp_path, auth={"api_keys": keys}), embedder)
    with TestClient(create_app(services=services)) as client:
        client.headers["Authorization"] = "Bearer admin-key-123"
        ingest_text(client, ASTRONOMY_MD, source="public")
        ingest_text(
            client, "# Salaries\n\nThe planet team salaries are secret.", source="hr", acl=["hr"]
        )
        yield client
    services.close()


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/v1/search", {"query": "planet"}),
        ("post", "/v1/query", {"question": "planet?"}),
        ("post", "/v1/documents", {"text": "x"}),
        ("get", "/v1/documents", None),
        ("get", "/v1/jobs", None),
        ("delete", "/v1/documents/some-id", None),
    ],
)
def test_api_keys_are_required(
    secured: TestClient, method: str, path: str, body: dict[str, object] | None
) -> None:
    for headers in ({"Authorization": ""}, {"Authorization": "Bearer wrong"}):
        kwargs: dict[str, object] = {"headers": headers}
        if body is not None:
            kwargs["json"] = body
        response = getattr(secured, method)(path, **kwargs)
        assert response.status_code == 401
        assert response.json()["code"] == "unauthorized"
    assert secured.get("/v1/documents").json()["count"] == 2
    assert secured.get("/healthz", headers={"Authorization": ""}).status_code == 200


def test_acl_groups_filter_inside_search(secured: TestClient) -> None:
    def sources(key: str) -> set[str]:
        body = secured.post(
            "/v1/search",
            json={"query": "planet salaries"},
            headers={"Authorization": f"Bearer {key}"},
        ).json()
        return {hit["source"] for hit in body["data"]}

    assert sources("admin-key-123") == {"public", "hr"}
    assert sources("eng-key-456") == {"public"}


def test_acl_groups_guard_documents_and_jobs(secured: TestClient) -> None:
    eng = {"Authorization": "Bearer eng-key-456"}
    admin_docs = secured.get("/v1/documents").json()["data"]
    hr_doc = next(d for d in admin_docs if d["source"] == "hr")
    assert {d["source"] for d in secured.get("/v1/documents", headers=eng).json()["data"]} == {
        "public"
    }
    assert secured.get(f"/v1/documents/{hr_doc['id']}", headers=eng).status_code == 404
    assert secured.delete(f"/v1/documents/{hr_doc['id']}", headers=eng).status_code == 404
    assert secured.get("/v1/jobs", headers=eng).json()["count"] == 1
    # A source the key cannot read is a new document of its own (the answer tells nothing of the
    # other one); granting a group the key lacks is refused.
    response = secured.post("/v1/documents", json={"text": "leak", "source": "hr"}, headers=eng)
    assert response.status_code == 202
    assert response.json()["data"][0]["document_id"] != hr_doc["id"]
    response = secured.post(
        "/v1/documents", json={"text": "x", "source": "new", "acl": ["hr"]}, headers=eng
    )
    assert response.status_code == 403
    response = secured.post(
        "/v1/documents", json={"text": "Engineering notes.", "acl": ["engineering"]}, headers=eng
    )
    assert response.status_code == 202
    assert secured.get(f"/v1/documents/{hr_doc['id']}").json()["acl"] == ["hr"]


def test_writes_need_every_group_of_the_document(secured: TestClient) -> None:
    eng = {"Authorization": "Bearer eng-key-456"}
    shared = ingest_text(
        secured, "# Roadmap\n\nShared plans.", source="roadmap", acl=["engineering", "hr"]
    )
    doc_id = shared["document_id"]
    assert secured.get(f"/v1/documents/{doc_id}", headers=eng).status_code == 200
    # A key with groups writes in a namespace of its own: the same source is its own document.
    own = secured.post("/v1/documents", json={"text": "eng only", "source": "roadmap"}, headers=eng)
    assert own.status_code == 202 and own.json()["data"][0]["document_id"] != doc_id
    deleted = secured.delete(f"/v1/documents/{doc_id}", headers=eng)
    assert deleted.status_code == 403
    document = secured.get(f"/v1/documents/{doc_id}").json()
    assert document["acl"] == ["engineering", "hr"] and document["status"] == "indexed"
    # Public documents of the shared namespace stay as they are, too.
    public = secured.post(
        "/v1/documents", json={"text": "A new planet guide.", "source": "public"}, headers=eng
    )
    assert public.status_code == 202
    sources = [d["source"] for d in secured.get("/v1/documents").json()["data"]]
    assert sources.count("public") == 2


def test_acl_applies_to_answers(secured: TestClient) -> None:
    body = secured.post(
        "/v1/query",
        json={"question": "What are the team salaries?"},
        headers={"Authorization": "Bearer eng-key-456"},
    ).json()
    assert all(c["source"] == "public" for c in body["citations"])
    assert "secret" not in body["answer"]
