from __future__ import annotations

import threading

import pytest
from fastapi.testclient import TestClient

from ragfleet.services import Services
from ragfleet.settings import Settings
from tests.conftest import make_settings, wait_for_job
from tests.utils.documents import GUIDE_MD


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

    monkeypatch.setattr(services.ingestion, "process", crash)
    accepted = client.post("/v1/documents", json={"text": GUIDE_MD, "source": "g"}).json()
    job = wait_for_job(client, accepted["data"][0]["job_id"])
    assert job["status"] == "failed" and "disk on fire" in job["error"]
    document = client.get(f"/v1/documents/{job['document_id']}").json()
    assert document["status"] == "failed"
    # The document is not locked behind the crashed job: it can be submitted again.
    monkeypatch.undo()
    retried = client.post("/v1/documents", json={"text": GUIDE_MD, "source": "g"}).json()
    assert wait_for_job(client, retried["data"][0]["job_id"])["status"] == "succeeded"
