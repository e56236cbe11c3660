from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient

from ragfleet.api.app import create_app
from ragfleet.embedding import Embedder
from ragfleet.errors import DependencyError
from ragfleet.retrieval.filters import Condition
from ragfleet.retrieval.store import VectorStore
from ragfleet.services import Services, build_services
from tests.utils.config import make_settings
from tests.utils.documents import ASTRONOMY_MD, GUIDE_MD, make_pdf
from tests.utils.embedders import FaultyEmbedder
from tests.utils.jobs import ingest_text, wait_for_job


def chunk_count(client: TestClient, document_id: str) -> int:
    count: int = client.get(f"/v1/documents/{document_id}").json()["chunk_count"]
    return count


def search_ids(client: TestClient, query: str, **body: object) -> list[str]:
    response = client.post("/v1/search", json={"query": query, **body})
    assert response.status_code == 200, response.text
    return [hit["document_id"] for hit in response.json()["data"]]


def test_upload_files_then_search(client: TestClient) -> None:
    files = [
        ("files", ("guide.md", GUIDE_MD.encode(), "text/markdown")),
        (
            "files",
            ("report.pdf", make_pdf(["Quarterly revenue grew by ten percent."]), "application/pdf"),
        ),
    ]
    response = client.post(
        "/v1/documents", files=files, data={"collection": "docs", "metadata": '{"team": "core"}'}
    )
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["count"] == 2
    for item in accepted["data"]:
        assert item["status"] == "queued"
        job = wait_for_job(client, item["job_id"])
        assert (job["status"], job["progress"], job["error"]) == ("succeeded", 1.0, None)
    hits = client.post(
        "/v1/search", json={"query": "revenue growth", "collection": "docs", "top_k": 1}
    ).json()["data"]
    assert hits[0]["source"] == "report.pdf" and hits[0]["page"] == 1
    assert hits[0]["metadata"] == {"team": "core"}
    listed = client.get("/v1/documents", params={"collection": "docs"}).json()
    assert listed["count"] == 2
    assert {d["status"] for d in listed["data"]} == {"indexed"}


def test_json_document_reingest_is_a_no_op(client: TestClient) -> None:
    first = ingest_text(client, GUIDE_MD, source="guide")
    second = client.post("/v1/documents", json={"text": GUIDE_MD, "source": "guide"}).json()[
        "data"
    ][0]
    assert second["document_id"] == first["document_id"]
    assert second["status"] == "succeeded"
    assert client.get(f"/v1/jobs/{second['job_id']}").json()["stage"] == "unchanged"
    assert chunk_count(client, first["document_id"]) == 2


def test_changed_document_replaces_its_chunks(client: TestClient, services: Services) -> None:
    first = ingest_text(client, GUIDE_MD, source="guide")
    assert services.store.count("default", first["document_id"]) == 2
    second = ingest_text(client, ASTRONOMY_MD, source="guide")
    assert second["document_id"] == first["document_id"]
    assert services.store.count("default", first["document_id"]) == 1
    assert search_ids(client, "install on linux", mode="sparse") == []
    assert search_ids(client, "planet rings")[0] == first["document_id"]


def test_failed_reingest_keeps_previous_version(tmp_path: Path, embedder: Embedder) -> None:
    services = build_services(make_settings(tmp_path), FaultyEmbedder(embedder, poison="EXPLODE"))
    try:
        with TestClient(create_app(services=services)) as client:
            good = ingest_text(client, GUIDE_MD, source="guide")
            bad = ingest_text(client, ASTRONOMY_MD + "\nEXPLODE", source="guide")
            assert bad["job"]["status"] == "failed"
            assert "embeddings: connection refused" in bad["job"]["error"]
            document = client.get(f"/v1/documents/{good['document_id']}").json()
            assert document["status"] == "indexed" and document["chunk_count"] == 2
            assert services.store.count("default", good["document_id"]) == 2
            assert search_ids(client, "install on linux")[0] == good["document_id"]
            new = ingest_text(client, "# Fresh\n\nEXPLODE now.", source="fresh")
            assert client.get(f"/v1/documents/{new['document_id']}").json()["status"] == "failed"
            assert services.store.count("default", new["document_id"]) == 0
    finally:
        services.close()


def test_delete_removes_chunks(client: TestClient, services: Services) -> None:
    doc = ingest_text(client, GUIDE_MD, source="guide")
    assert client.delete(f"/v1/documents/{doc['document_id']}").status_code == 204
    assert services.store.count("default", doc["document_id"]) == 0
    assert client.get(f"/v1/documents/{doc['document_id']}").status_code == 404
    assert client.delete(f"/v1/documents/{doc['document_id']}").status_code == 404


def test_resubmitting_in_flight_document_conflicts(client: TestClient, services: Services) -> None:
    services.runner.stop()  # nothing runs: the first job stays queued
    first = client.post("/v1/documents", json={"text": GUIDE_MD, "source": "guide"})
    assert first.status_code == 202
    again = client.post("/v1/documents", json={"text": ASTRONOMY_MD, "source": "guide"})
    assert again.status_code == 409
    assert first.json()["data"][0]["job_id"] in again.json()["message"]
    assert client.get("/v1/jobs", params={"status": "queued"}).json()["count"] == 1


@pytest.mark.parametrize(
    ("kwargs", "status", "code"),
    [
        (
            {"files": [("files", ("a.exe", b"MZ", "application/octet-stream"))]},
            415,
            "unsupported_type",
        ),
        ({"files": [("files", ("a.txt", b"   \n ", "text/plain"))]}, 422, "empty_document"),
        ({"files": [("files", ("a.pdf", b"%PDF-1.4 junk", "application/pdf"))]}, 400, "bad_input"),
        # Bytes no text encoding explains (Latin-1 and other legacy text is decoded).
        (
            {"files": [("files", ("a.txt", b"\x00\x81\x8d\x8f" * 20, "text/plain"))]},
            400,
            "bad_input",
        ),
        ({"files": [("files", ("a.txt", b"x" * 5000, "text/plain"))]}, 413, "too_large"),
        (
            {"files": [("files", ("a.txt", b"ok", "text/plain"))], "data": {"metadata": "[1]"}},
            400,
            "bad_input",
        ),
        (
            {
                "files": [("files", ("a.txt", b"ok", "text/plain"))],
                "data": {"collection": "Bad Name"},
            },
            400,
            "bad_input",
        ),
        ({"data": {"collection": "x"}}, 415, "unsupported_type"),
        ({"files": [("other", ("a.txt", b"ok", "text/plain"))]}, 400, "bad_input"),
        ({"json": {"text": "   "}}, 400, "bad_input"),
        ({"json": {"text": "ok", "unknown": 1}}, 422, "validation_error"),
        ({"json": {"text": "ok", "metadata": {"bad key": 1}}}, 422, "validation_error"),
        ({"content": b"{nope", "headers": {"content-type": "application/json"}}, 400, "bad_input"),
        ({"content": b"hello", "headers": {"content-type": "text/plain"}}, 415, "unsupported_type"),
        (
            {"content": b'{"text": "caf\xe9"}', "headers": {"content-type": "application/json"}},
            400,
            "bad_input",
        ),
        (
            {"content": b"[" * 2000 + b"]" * 2000, "headers": {"content-type": "application/json"}},
            400,
            "bad_input",
        ),
        (
            {
                "files": [("files", ("a.txt", b"ok", "text/plain"))],
                "data": {"metadata": "[" * 2000 + "]" * 2000},
            },
            400,
            "bad_input",
        ),
        ({"json": {"text": "ok", "acl": ["x" * 257]}}, 400, "bad_input"),
        ({"json": {"text": "ok", "acl": [" "]}}, 400, "bad_input"),
        ({"json": {"text": "ok", "acl": [f"g{n}" for n in range(65)]}}, 400, "bad_input"),
    ],
)
def test_bad_uploads_are_refused_and_change_nothing(
    tmp_path: Path, embedder: Embedder, kwargs: dict[str, Any], status: int, code: str
) -> None:
    settings = make_settings(tmp_path, limits={"max_upload_bytes": 4096})
    services = build_services(settings, embedder)
    try:
        with TestClient(create_app(services=services)) as client:
            response = client.post("/v1/documents", **kwargs)
            assert response.status_code == status, response.text
            body = response.json()
            assert body["code"] == code and body["message"]
            assert client.get("/v1/documents").json()["count"] == 0
            assert client.get("/v1/jobs").json()["count"] == 0
    finally:
        services.close()


def test_acl_change_alone_is_a_new_version(client: TestClient, services: Services) -> None:
    first = ingest_text(client, GUIDE_MD, source="guide")
    before = client.get(f"/v1/documents/{first['document_id']}").json()
    second = ingest_text(client, GUIDE_MD, source="guide", acl=["ops"])
    assert second["status"] == "queued" and second["job"]["status"] == "succeeded"
    after = client.get(f"/v1/documents/{first['document_id']}").json()
    assert after["version"] != before["version"] and after["acl"] == ["ops"]
    assert services.store.count("default", first["document_id"]) == 2
    hits = client.post("/v1/search", json={"query": "install linux"}).json()["data"]
    assert len(hits) == 2 and len({h["chunk_id"] for h in hits}) == 2
    assert {h["document_id"] for h in hits} == {first["document_id"]}


class FlakyDeleteStore:
    """The real store, whose deletes fail while ``failing`` is set."""

    def __init__(self, inner: VectorStore) -> None:
        self.inner = inner
        self.failing = False

    def delete(self, collection: str, conditions: list[Condition]) -> None:
        if self.failing:
            raise DependencyError("qdrant", "connection reset")
        self.inner.delete(collection, conditions)

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


def test_old_version_left_by_a_failed_clean_up_goes_on_the_next_ingest(
    client: TestClient, services: Services
) -> None:
    flaky = FlakyDeleteStore(services.store)
    services.indexer.store = cast(VectorStore, flaky)
    first = ingest_text(client, GUIDE_MD, source="guide")
    flaky.failing = True
    second = ingest_text(client, ASTRONOMY_MD, source="guide")
    assert second["job"]["status"] == "succeeded"
    doc_id = first["document_id"]
    assert services.store.count("default", doc_id) == 3  # new version live, old one stale
    hits = client.post("/v1/search", json={"query": "install linux planet"}).json()["data"]
    assert len(hits) == 2  # chunk 0 of each version is the same chunk: one copy is shown
    flaky.failing = False
    again = ingest_text(client, ASTRONOMY_MD, source="guide")
    assert again["status"] == "succeeded"
    assert services.store.count("default", doc_id) == 1
    assert search_ids(client, "install on linux", mode="sparse") == []


def test_full_queue_refuses_and_stores_nothing(tmp_path: Path, embedder: Embedder) -> None:
    services = build_services(make_settings(tmp_path, jobs={"queue_size": 1}), embedder)
    services.runner.stop()  # nothing drains the queue
    try:
        with TestClient(create_app(services=services)) as client:
            assert (
                client.post("/v1/documents", json={"text": "one", "source": "a"}).status_code == 202
            )
            response = client.post("/v1/documents", json={"text": "two", "source": "b"})
            assert response.status_code == 503 and response.json()["code"] == "overloaded"
            assert client.get("/v1/documents").json()["count"] == 1
            assert client.get("/v1/jobs").json()["count"] == 1
    finally:
        services.close()


def test_oversized_json_document(tmp_path: Path, embedder: Embedder) -> None:
    services = build_services(make_settings(tmp_path, limits={"max_upload_bytes": 2048}), embedder)
    try:
        with TestClient(create_app(services=services)) as client:
            response = client.post("/v1/documents", json={"text": "word " * 1000})
            assert response.status_code == 413
            assert client.get("/v1/jobs").json()["count"] == 0
    finally:
        services.close()


def test_unknown_ids_are_404(client: TestClient) -> None:
    for path in ("/v1/documents/nope", "/v1/jobs/nope"):
        response = client.get(path)
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"


def test_pagination(client: TestClient) -> None:
    for n in range(3):
        ingest_text(client, f"Document number {n} about topic {n}.", source=f"s{n}")
    page = client.get("/v1/documents", params={"limit": 2, "offset": 2}).json()
    assert page["count"] == 3 and len(page["data"]) == 1
    assert client.get("/v1/documents", params={"limit": 0}).status_code == 422


def test_jsonl_upload_makes_one_document_per_record(client: TestClient) -> None:
    lines = "\n".join(
        json.dumps({"_id": str(i), "title": f"T{i}", "text": f"Record {i} text."}) for i in range(3)
    )
    response = client.post(
        "/v1/documents", files=[("files", ("r.jsonl", lines.encode(), "application/jsonl"))]
    )
    assert response.status_code == 202
    assert len({d["document_id"] for d in response.json()["data"]}) == 3
