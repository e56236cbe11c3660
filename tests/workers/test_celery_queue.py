"""Celery on the real Redis, embedded-store shape: the serving process hosts the worker."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from sqlalchemy import update
from typer.testing import CliRunner

from ragfleet.api.app import create_app
from ragfleet.cli.main import app as cli
from ragfleet.domain import utcnow
from ragfleet.embedding import Embedder
from ragfleet.errors import BadInputError
from ragfleet.registry.repository import Registry
from ragfleet.registry.tables import JobRow
from ragfleet.services import Services, build_services
from ragfleet.settings import Settings
from ragfleet.workers.celery_queue import CeleryQueue
from tests.utils.config import make_settings
from tests.utils.documents import ASTRONOMY_MD, GUIDE_MD
from tests.utils.embedders import FaultyEmbedder, GatedEmbedder
from tests.utils.jobs import ingest_text, wait_for_job
from tests.utils.servers import OwnRedis, restart_redis


def queue_settings(tmp_path: Path, redis_url: str, **overrides: Any) -> Settings:
    jobs = {"retry_backoff_s": 0.05, "retry_backoff_max_s": 0.2, **overrides.pop("jobs", {})}
    return make_settings(tmp_path, redis={"url": redis_url}, jobs=jobs, **overrides)


@pytest.fixture
def settings(tmp_path: Path, redis_url: str) -> Settings:
    return queue_settings(tmp_path, redis_url)


def counter(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
def flaky(settings: Settings, embedder: Embedder) -> Iterator[tuple[TestClient, FaultyEmbedder]]:
    wrapped = FaultyEmbedder(embedder, 0)
    services = build_services(settings, wrapped)
    with TestClient(create_app(services=services)) as client:
        yield client, wrapped
    services.close()


def test_api_enqueues_and_the_worker_indexes(client: TestClient, services: Services) -> None:
    assert isinstance(services.runner, CeleryQueue)
    done = ingest_text(client, GUIDE_MD, source="guide")
    job = done["job"]
    assert (job["status"], job["attempts"], job["progress"]) == ("succeeded", 1, 1.0)
    assert job["worker"] == services.settings.worker_name
    hits = client.post("/v1/search", json={"query": "install on linux"}).json()["data"]
    assert hits[0]["document_id"] == done["document_id"]
    exposition = client.get("/metrics").text
    assert 'ragfleet_queue_depth{queue="ingest"} 0.0' in exposition
    assert "ragfleet_broker_up 1.0" in exposition


def test_cli_async_ingest_follows_the_queued_jobs(
    tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    for number in range(12):
        (folder / f"note-{number}.md").write_text(f"# Note {number}\n\nPlanet number {number}.")
    monkeypatch.setenv("RAGFLEET_DATA_DIR", str(tmp_path / "data"))
    runner = CliRunner()
    refused = runner.invoke(cli, ["ingest", str(folder), "--async"])
    assert refused.exit_code == 2 and "RAGFLEET_REDIS__URL" in refused.stderr
    monkeypatch.setenv("RAGFLEET_REDIS__URL", redis_url)
    result = runner.invoke(cli, ["ingest", str(folder), "--async"])
    assert result.exit_code == 0, result.output
    assert result.stdout.count("indexed") == 12
    listed = runner.invoke(cli, ["search", "planet number 7", "--json", "-k", "1"])
    assert '"source": "' + str(folder / "note-7.md") in listed.stdout


def test_bad_input_fails_at_once_without_retries(
    client: TestClient, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(document: object) -> list[object]:
        raise BadInputError("the table cannot be parsed")

    retried = counter("ragfleet_ingest_jobs_total", outcome="retried")
    monkeypatch.setattr(services.indexer.chunker, "chunk", refuse)
    job = ingest_text(client, GUIDE_MD, source="guide")["job"]
    assert (job["status"], job["attempts"]) == ("failed", 1)
    assert job["error"] == "the table cannot be parsed"
    assert counter("ragfleet_ingest_jobs_total", outcome="retried") == retried


def test_transient_faults_are_retried_until_they_pass(
    flaky: tuple[TestClient, FaultyEmbedder],
) -> None:
    client, embedder = flaky
    retried = counter("ragfleet_ingest_jobs_total", outcome="retried")
    embedder.outages = 2
    job = ingest_text(client, GUIDE_MD, source="guide")["job"]
    assert (job["status"], job["attempts"], job["error"]) == ("succeeded", 3, None)
    assert counter("ragfleet_ingest_jobs_total", outcome="retried") == retried + 2


def test_exhausted_retries_fail_and_keep_the_previous_version(
    tmp_path: Path, redis_url: str, embedder: Embedder
) -> None:
    settings = queue_settings(tmp_path, redis_url, jobs={"max_retries": 2})
    wrapped = FaultyEmbedder(embedder, 0)
    services = build_services(settings, wrapped)
    try:
        with TestClient(create_app(services=services)) as client:
            first = ingest_text(client, GUIDE_MD, source="guide")
            wrapped.outages = 100
            job = ingest_text(client, ASTRONOMY_MD, source="guide")["job"]
            assert (job["status"], job["attempts"]) == ("failed", 3)
            assert job["error"] == "embeddings: connection refused"
            document = client.get(f"/v1/documents/{first['document_id']}").json()
            assert document["status"] == "indexed" and document["chunk_count"] == 2
            wrapped.outages = 0
            hits = client.post("/v1/search", json={"query": "install on linux"}).json()["data"]
            assert hits[0]["document_id"] == first["document_id"]
            # The failed job can be retried once the fault is gone.
            response = client.post(f"/v1/jobs/{job['id']}/retry")
            assert response.status_code == 202, response.text
            again = wait_for_job(client, response.json()["id"])
            assert again["status"] == "succeeded"
            assert client.get(f"/v1/documents/{first['document_id']}").json()["chunk_count"] == 1
    finally:
        services.close()


def test_retry_is_only_for_the_latest_failed_job(
    client: TestClient, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(document: object) -> list[object]:
        raise BadInputError("bad table")

    succeeded = ingest_text(client, GUIDE_MD, source="guide")["job"]
    response = client.post(f"/v1/jobs/{succeeded['id']}/retry")
    assert response.status_code == 409 and response.json()["code"] == "conflict"
    monkeypatch.setattr(services.indexer.chunker, "chunk", refuse)
    failed = ingest_text(client, ASTRONOMY_MD, source="astro")["job"]
    monkeypatch.undo()
    replaced = ingest_text(client, ASTRONOMY_MD + "\nMore.", source="astro")["job"]
    assert replaced["status"] == "succeeded"
    response = client.post(f"/v1/jobs/{failed['id']}/retry")
    assert response.status_code == 409 and "superseded" in response.json()["message"]
    assert client.post("/v1/jobs/nope/retry").status_code == 404


def test_reconciliation_requeues_orphaned_jobs(settings: Settings, embedder: Embedder) -> None:
    services = build_services(settings, embedder, run_jobs=False)
    try:
        docs = [
            parse_doc(GUIDE_MD, "running-elsewhere"),
            parse_doc(ASTRONOMY_MD, "lost-message"),
        ]
        accepted = services.admission.accept(docs, "default", None)
        running, lost = (a.job_id for a in accepted)
        services.registry.start_jobs([running], "ragfleet@a-node-that-died")
        old = utcnow().replace(year=2020)
        with services.registry.session() as session:
            session.execute(update(JobRow).values(heartbeat_at=old, created_at=old))
        requeued = counter("ragfleet_jobs_requeued_total")
        services.runner.start()  # the worker reconciles as it starts
        for job_id in (running, lost):
            job = wait_registry(services, job_id)
            assert job.status == "succeeded"
        assert wait_registry(services, running).attempts == 2
        assert counter("ragfleet_jobs_requeued_total") == requeued + 2
    finally:
        services.close()


def test_in_flight_and_identical_resubmissions(settings: Settings, embedder: Embedder) -> None:
    services = build_services(settings, embedder, run_jobs=False)  # nothing consumes yet
    try:
        with TestClient(create_app(services=services)) as client:
            first = client.post("/v1/documents", json={"text": GUIDE_MD, "source": "g"})
            job_id = first.json()["data"][0]["job_id"]
            again = client.post("/v1/documents", json={"text": ASTRONOMY_MD, "source": "g"})
            assert again.status_code == 409 and job_id in again.json()["message"]
            assert services.runner.pending() == 1  # one task in Redis, not two
            services.runner.start()
            assert wait_for_job(client, job_id)["status"] == "succeeded"
            same = client.post("/v1/documents", json={"text": GUIDE_MD, "source": "g"}).json()
            assert same["data"][0]["status"] == "succeeded"
            assert services.runner.pending() == 0
    finally:
        services.close()


def test_workers_reconnect_after_redis_restarts(client: TestClient) -> None:
    ingest_text(client, GUIDE_MD, source="before")
    restart_redis()
    job = ingest_text(client, ASTRONOMY_MD, source="after")["job"]
    assert job["status"] == "succeeded"


def parse_doc(text: str, source: str) -> Any:
    from ragfleet.ingest.parsers import parse_text

    return parse_text(text, None, source, {})


def wait_registry(services: Services, job_id: str, timeout: float = 60) -> JobRow:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = services.registry.get_job(job_id)
        if job.status in ("succeeded", "failed"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish in {timeout}s")


def test_shutdown_requeues_the_running_job_and_the_next_process_finishes_it(
    tmp_path: Path, redis_url: str, embedder: Embedder
) -> None:
    settings = queue_settings(tmp_path, redis_url, jobs={"embed_batch": 4})
    text = "\n\n".join(f"# Part {n}\n\nPart {n} explains topic {n}." for n in range(120))
    services = build_services(settings, embedder)
    try:
        (accepted,) = services.admission.accept([parse_doc(text, "long")], "default", None)
        services.runner.submit([accepted.job_id])
        deadline = time.monotonic() + 60
        while services.registry.get_job(accepted.job_id).progress < 0.3:
            assert time.monotonic() < deadline, "indexing did not start"
            time.sleep(0.02)
    finally:
        services.close()  # a rolling update stops the process mid-document
    registry = Registry(settings.database_url)
    interrupted = registry.get_job(accepted.job_id)
    registry.close()
    assert (interrupted.status, interrupted.stage, interrupted.attempts) == (
        "queued",
        "requeued",
        1,
    )
    restarted = build_services(settings, embedder)
    try:
        done = wait_registry(restarted, accepted.job_id)
        assert (done.status, done.attempts) == ("succeeded", 2)
        expected = len(restarted.indexer.chunker.chunk(parse_doc(text, "long")))
        assert restarted.registry.get_document(accepted.document_id).chunk_count == expected
        assert restarted.store.count("default", accepted.document_id) == expected
    finally:
        restarted.close()


def test_uploads_answer_503_while_redis_is_down_and_search_keeps_working(
    tmp_path: Path, embedder: Embedder
) -> None:
    settings = queue_settings(tmp_path, "redis://127.0.0.1:1/0")
    services = build_services(settings, embedder, run_jobs=False)
    try:
        with TestClient(create_app(services=services)) as client:
            response = client.post("/v1/documents", json={"text": GUIDE_MD, "source": "g"})
            assert response.status_code == 503
            assert response.json()["code"] == "dependency_unavailable"
            assert client.get("/v1/jobs").json()["count"] == 0
            assert client.post("/v1/search", json={"query": "install"}).status_code == 200
            assert client.get("/readyz").status_code == 200
            assert "ragfleet_broker_up 0.0" in client.get("/metrics").text
    finally:
        services.close()


def test_jobs_whose_tasks_a_redis_crash_lost_finish_without_a_restart(
    tmp_path: Path, embedder: Embedder
) -> None:
    own = OwnRedis()
    own.start()
    gate = GatedEmbedder(embedder, "SLOWDOWN")
    settings = queue_settings(
        tmp_path, own.url, worker={"heartbeat_interval_s": 0.5, "concurrency": 1}
    )
    services = build_services(settings, gate)
    try:
        with TestClient(create_app(services=services)) as client:
            first = client.post("/v1/documents", json={"text": GUIDE_MD + "\nSLOWDOWN"})
            assert gate.entered.wait(30)  # the only worker thread is busy with the first job
            texts = [f"# Note {n}\n\nPlanet number {n} orbits a star." for n in range(5)]
            waiting = [
                client.post("/v1/documents", json={"text": text, "source": f"n{n}"}).json()
                for n, text in enumerate(texts)
            ]
            own.kill()  # the five waiting tasks die with it
            own.start()
            gate.gate.set()
            jobs = [wait_for_job(client, first.json()["data"][0]["job_id"])]
            jobs += [wait_for_job(client, w["data"][0]["job_id"]) for w in waiting]
            assert [job["status"] for job in jobs] == ["succeeded"] * 6
            for accepted in waiting:
                doc_id = accepted["data"][0]["document_id"]
                row = services.registry.get_document(doc_id)
                assert services.store.count("default", doc_id) == row.chunk_count == 1
            assert counter("ragfleet_broker_resets_total") >= 1
    finally:
        gate.gate.set()
        services.close()
        own.kill()
