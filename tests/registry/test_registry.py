"""The registry on SQLite and on the real PostgreSQL server, and the whole API on PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import inspect

from ragfleet.api.app import create_app
from ragfleet.domain import JobStatus
from ragfleet.embedding import Embedder
from ragfleet.errors import ConflictError
from ragfleet.ingest.parsers import parse_text
from ragfleet.registry.repository import PendingIngest, Registry
from ragfleet.services import build_services
from tests.conftest import ingest_text, make_settings
from tests.utils.documents import ASTRONOMY_MD, GUIDE_MD


@pytest.fixture(params=["sqlite", "postgres"])
def registry_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'registry.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


def pending(source: str, text: str) -> PendingIngest:
    doc = parse_text(text, None, source, {"k": "v"})
    return PendingIngest(f"doc-{source}", "default", doc.content_hash(), doc, ["*"])


def test_migrations_and_job_lifecycle(registry_url: str) -> None:
    registry = Registry(registry_url)
    registry.migrate()
    registry.migrate()  # idempotent
    tables = set(inspect(registry.engine).get_table_names())
    assert {"documents", "document_groups", "jobs", "job_payloads", "feedback"} <= tables

    (job,) = registry.enqueue([pending("a", GUIDE_MD)])
    assert registry.active_jobs(["doc-a"])["doc-a"].id == job.id
    assert registry.unfinished_job_ids() == [job.id]
    ((started, document, acl),) = registry.start_jobs([job.id])
    assert started.attempts == 1 and document.title == "Guide" and acl == ["*"]
    registry.set_progress([job.id], "indexing", 0.5)
    assert registry.get_job(job.id).progress == 0.5
    assert registry.finish_jobs([(started, document, acl, 2)]) == set()
    doc = registry.get_document("doc-a")
    assert (doc.status, doc.chunk_count, doc.metadata_) == ("indexed", 2, {"k": "v"})
    assert registry.finished([job.id, "unknown"]) == {job.id}

    (retry,) = registry.enqueue([pending("a", ASTRONOMY_MD)])
    registry.start_jobs([retry.id])
    registry.fail_job(retry.id, "embeddings: down")
    doc = registry.get_document("doc-a")
    assert doc.status == "indexed" and doc.error == "embeddings: down"
    assert registry.get_job(retry.id).status == JobStatus.FAILED.value
    rows, total = registry.list_jobs("failed", 10, 0)
    assert total == 1 and rows[0].id == retry.id
    registry.close()


def test_api_on_postgres(postgres_url: str, tmp_path: Path, embedder: Embedder) -> None:
    services = build_services(make_settings(tmp_path, database={"url": postgres_url}), embedder)
    try:
        with TestClient(create_app(services=services)) as client:
            doc = ingest_text(client, GUIDE_MD, source="guide")
            assert doc["job"]["status"] == "succeeded"
            assert client.get("/readyz").json()["checks"]["registry"] == "ok"
            hits = client.post("/v1/search", json={"query": "linux install"}).json()["data"]
            assert hits[0]["document_id"] == doc["document_id"]
    finally:
        services.close()


def test_database_refuses_a_second_active_job(registry_url: str) -> None:
    """Two submissions racing past the in-flight check: the database keeps only one."""
    registry = Registry(registry_url)
    registry.migrate()
    registry.enqueue([pending("a", GUIDE_MD)])
    with pytest.raises(ConflictError):
        registry.enqueue([pending("a", ASTRONOMY_MD)])
    assert len(registry.unfinished_job_ids()) == 1
    registry.close()
