"""The registry on SQLite and on the real PostgreSQL server, and the whole API on PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, inspect, update

from ragfleet.api.app import create_app
from ragfleet.domain import JobStatus, utcnow
from ragfleet.embedding import Embedder
from ragfleet.errors import ClaimLostError, ConflictError
from ragfleet.ingest.parsers import parse_text
from ragfleet.registry.repository import PendingIngest, Registry
from ragfleet.registry.tables import JobPayloadRow, JobRow
from ragfleet.services import build_services
from tests.utils.config import make_settings
from tests.utils.documents import ASTRONOMY_MD, GUIDE_MD
from tests.utils.jobs import ingest_text


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
    assert registry.queued_job_ids() == [job.id]
    ((started, document, acl),) = registry.start_jobs([job.id])
    assert started.attempts == 1 and document.title == "Guide" and acl == ["*"]
    assert registry.set_progress([started], "indexing", 0.5) == set()
    assert registry.get_job(job.id).progress == 0.5
    assert registry.finish_jobs([(started, document, acl, 2)]) == set()
    doc = registry.get_document("doc-a")
    assert (doc.status, doc.chunk_count, doc.metadata_) == ("indexed", 2, {"k": "v"})
    assert registry.finished([job.id, "unknown"]) == {job.id}

    (retry,) = registry.enqueue([pending("a", ASTRONOMY_MD)])
    registry.start_jobs([retry.id])
    assert registry.fail_job(retry.id, "embeddings: down", attempt=1)
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
    assert len(registry.queued_job_ids()) == 1
    registry.close()


def test_a_job_is_claimed_once_and_a_lost_claim_writes_nothing(registry_url: str) -> None:
    registry = Registry(registry_url)
    registry.migrate()
    (job,) = registry.enqueue([pending("a", GUIDE_MD)])
    ((first, document, acl),) = registry.start_jobs([job.id], "worker-1")
    assert registry.start_jobs([job.id], "worker-2") == []  # a second delivery does nothing
    # Reconciliation takes the job back (stale heartbeat) and another run claims it.
    later = utcnow() + timedelta(hours=1)
    assert registry.requeue_orphans("worker-3", utcnow(), later, None) == [job.id]
    ((second, _, _),) = registry.start_jobs([job.id], "worker-2")
    assert second.attempts == 2
    # The first run's writes are refused now.
    assert registry.set_progress([first], "indexing", 0.9) == {job.id}
    assert registry.release_jobs([first], "fault", "retrying") == []
    assert not registry.fail_job(job.id, "fault", attempt=first.attempts)
    with pytest.raises(ClaimLostError):
        registry.finish_jobs([(first, document, acl, 2)])
    assert registry.get_job(job.id).worker == "worker-2"
    registry.finish_jobs([(second, document, acl, 2)])
    assert registry.get_job(job.id).status == "succeeded"
    registry.close()


def test_only_orphans_are_requeued(registry_url: str) -> None:
    registry = Registry(registry_url)
    registry.migrate()
    jobs = registry.enqueue(
        [pending(name, GUIDE_MD) for name in ("live", "mine", "stale", "lost", "waiting")]
    )
    live, mine, stale, lost, waiting = (job.id for job in jobs)
    boot = utcnow()
    registry.start_jobs([mine], "node-a")  # started after boot: this process's own job
    registry.start_jobs([live], "node-b")
    registry.start_jobs([stale], "node-c")
    old = utcnow() - timedelta(hours=2)
    with registry.session() as session:
        session.execute(update(JobRow).where(JobRow.id == stale).values(heartbeat_at=old))
        session.execute(
            update(JobRow).where(JobRow.id == lost).values(heartbeat_at=old, created_at=old)
        )
    stale_before = utcnow() - timedelta(minutes=10)
    # Tasks still wait in the list from one hour ago: only queued jobs older than that lost theirs.
    oldest_task = utcnow() - timedelta(hours=1)
    taken = registry.requeue_orphans("node-a", boot, stale_before, oldest_task)
    assert sorted(taken) == sorted([stale, lost])
    assert registry.get_job(mine).status == "running"
    assert registry.get_job(live).status == "running"
    assert registry.get_job(waiting).status == "queued"
    # A reconciler racing on the same rows takes nothing again.
    assert registry.requeue_orphans("node-x", boot, stale_before, oldest_task) == []
    # After node-a restarts, its earlier job is an orphan.
    assert registry.requeue_orphans("node-a", utcnow(), stale_before, None) == [mine]
    registry.close()


def test_a_job_without_its_payload_or_over_its_attempts_fails(registry_url: str) -> None:
    registry = Registry(registry_url)
    registry.migrate()
    missing, tired = registry.enqueue([pending("m", GUIDE_MD), pending("t", GUIDE_MD)])
    with registry.session() as session:
        session.execute(delete(JobPayloadRow).where(JobPayloadRow.job_id == missing.id))
        session.execute(update(JobRow).where(JobRow.id == tired.id).values(attempts=3))
    assert registry.start_jobs([missing.id, tired.id], "w", max_attempts=3) == []
    assert "missing" in (registry.get_job(missing.id).error or "")
    assert registry.get_job(tired.id).error == "gave up after 3 attempts"
    registry.close()


def test_a_redelivered_task_takes_over_only_a_job_past_its_time_limit(registry_url: str) -> None:
    registry = Registry(registry_url)
    registry.migrate()
    (job,) = registry.enqueue([pending("a", GUIDE_MD)])
    registry.start_jobs([job.id], "worker-1")
    limit_ago = utcnow() - timedelta(minutes=30)
    assert registry.start_jobs([job.id], "worker-2", overdue_before=limit_ago) == []
    with registry.session() as session:
        started = utcnow() - timedelta(hours=1)
        session.execute(update(JobRow).where(JobRow.id == job.id).values(started_at=started))
    ((taken, _, _),) = registry.start_jobs([job.id], "worker-2", overdue_before=limit_ago)
    assert (taken.worker, taken.attempts) == ("worker-2", 2)
    registry.close()
