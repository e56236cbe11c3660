from __future__ import annotations

import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient

from ragfleet.domain import utcnow
from ragfleet.embedding import Embedder
from ragfleet.ingest.parsers import parse_text
from ragfleet.registry.repository import Registry
from ragfleet.services import Services, build_services
from ragfleet.settings import Settings
from tests.utils.config import make_settings
from tests.utils.documents import GUIDE_MD
from tests.utils.jobs import wait_for_job


def ingest_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("ingest-") and t.is_alive()]


@pytest.fixture
def settings(tmp_path) -> Settings:  # type: ignore[no-untyped-def]
    return make_settings(tmp_path, jobs={"concurrency": 2})


def test_stop_ends_every_thread(services: Services) -> None:
    assert len(ingest_threads()) == 2
    services.runner.stop()
    assert ingest_threads() == []


def test_a_crash_around_processing_fails_the_jobs(
    client: TestClient, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(job_ids: object, **options: object) -> object:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(services.indexer, "process", crash)
    accepted = client.post("/v1/documents", json={"text": GUIDE_MD, "source": "g"}).json()
    job = wait_for_job(client, accepted["data"][0]["job_id"])
    assert job["status"] == "failed" and "disk on fire" in job["error"]
    document = client.get(f"/v1/documents/{job['document_id']}").json()
    assert document["status"] == "failed"
    # The document is not locked behind the crashed job: it can be submitted again.
    monkeypatch.undo()
    retried = client.post("/v1/documents", json={"text": GUIDE_MD, "source": "g"}).json()
    assert wait_for_job(client, retried["data"][0]["job_id"])["status"] == "succeeded"


class StealingEmbedder:
    """The real model; on its second call another worker takes the job over (reconciliation)."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.name = inner.name
        self.dimensions = inner.dimensions
        self.calls = 0
        self.registry: Registry | None = None
        self.job_id = ""

    def embed(self, texts: list[str], *, interactive: bool = False) -> Any:
        self.calls += 1
        if self.calls == 2 and self.registry is not None:
            later = utcnow() + timedelta(hours=1)
            self.registry.requeue_orphans("reconciler", utcnow(), later, None)
            assert self.registry.start_jobs([self.job_id], "thief")
        return self.inner.embed(texts, interactive=interactive)

    def embed_query(self, text: str) -> Any:
        return self.inner.embed_query(text)

    def check(self) -> None:
        self.inner.check()

    def close(self) -> None:
        self.inner.close()


def test_a_run_that_lost_its_claim_stops_and_leaves_the_job_and_points_alone(
    tmp_path: Path, embedder: Embedder
) -> None:
    stealing = StealingEmbedder(embedder)
    settings = make_settings(tmp_path, jobs={"embed_batch": 4})
    services = build_services(settings, cast(Embedder, stealing), run_jobs=False)
    try:
        text = "\n\n".join(f"# Part {n}\n\nPart {n} covers topic {n}." for n in range(12))
        (accepted,) = services.admission.accept(
            [parse_text(text, None, "long", {})], "default", None
        )
        stealing.registry, stealing.job_id = services.registry, accepted.job_id
        outcome = services.indexer.process([accepted.job_id], worker="victim")
        assert (outcome.retry, outcome.requeue) == ([], [])
        job = services.registry.get_job(accepted.job_id)
        assert (job.status, job.worker, job.attempts) == ("running", "thief", 2)
        # Only the first batch was written; nothing was discarded under the new owner.
        assert services.store.count("default", accepted.document_id) == 4
    finally:
        services.close()


def test_a_restart_takes_back_jobs_an_earlier_process_left_running(
    tmp_path: Path, embedder: Embedder
) -> None:
    services = build_services(make_settings(tmp_path), embedder, run_jobs=False)
    try:
        (accepted,) = services.admission.accept(
            [parse_text(GUIDE_MD, None, "guide", {})], "default", None
        )
        # A container that was replaced (another host name) died mid-job a moment ago.
        services.registry.start_jobs([accepted.job_id], "ragfleet@old-container")
        services.runner.start()
        deadline = time.monotonic() + 60
        while services.registry.get_job(accepted.job_id).status != "succeeded":
            assert time.monotonic() < deadline, "the job was not taken back"
            time.sleep(0.05)
        assert services.registry.get_job(accepted.job_id).attempts == 2
    finally:
        services.close()
