"""Cancelling jobs: queued or mid-run, by the job route or by deleting the document."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from ragfleet.api.app import create_app
from ragfleet.cli.main import app as cli
from ragfleet.embedding import Embedder
from ragfleet.services import Services, build_services
from tests.utils.config import make_settings
from tests.utils.documents import ASTRONOMY_MD, GUIDE_MD
from tests.utils.embedders import GatedEmbedder
from tests.utils.jobs import ingest_text, wait_for_job

SLOW = "SLOWDOWN"


@pytest.fixture
def gated(
    tmp_path: Path, embedder: Embedder
) -> Iterator[tuple[TestClient, Services, GatedEmbedder]]:
    gate = GatedEmbedder(embedder, SLOW)
    services = build_services(make_settings(tmp_path), gate)
    try:
        with TestClient(create_app(services=services)) as client:
            yield client, services, gate
    finally:
        gate.gate.set()
        services.close()


def test_a_queued_job_is_cancelled_and_can_be_retried(
    client: TestClient, services: Services
) -> None:
    services.runner.stop()  # nothing runs: the job stays queued
    accepted = client.post("/v1/documents", json={"text": GUIDE_MD, "source": "g"}).json()
    job_id = accepted["data"][0]["job_id"]

    cancelled = client.post(f"/v1/jobs/{job_id}/cancel")
    again = client.post(f"/v1/jobs/{job_id}/cancel")

    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert again.status_code == 409 and again.json()["code"] == "conflict"
    assert client.get("/v1/jobs", params={"status": "cancelled"}).json()["count"] == 1
    # The document is free again: a new submission is accepted, and so is a retry.
    retried = client.post(f"/v1/jobs/{job_id}/retry")
    assert retried.status_code == 202 and retried.json()["status"] == "queued"


def test_cancel_mid_run_keeps_the_previous_version_and_removes_the_new_one(
    gated: tuple[TestClient, Services, GatedEmbedder],
) -> None:
    client, services, gate = gated
    first = ingest_text(client, GUIDE_MD, source="guide")
    doc_id = first["document_id"]
    live = services.store.count("default", doc_id)
    second = client.post(
        "/v1/documents", json={"text": ASTRONOMY_MD + "\n" + SLOW, "source": "guide"}
    ).json()["data"][0]
    assert gate.entered.wait(30)  # the run is embedding the new version

    response = client.post(f"/v1/jobs/{second['job_id']}/cancel")
    gate.gate.set()

    assert response.status_code == 200
    services.runner.pause(30)
    job = wait_for_job(client, second["job_id"])
    assert job["status"] == "cancelled" and job["stage"] == "cancelled"
    assert services.store.count("default", doc_id) == live  # only the old version's points
    document = client.get(f"/v1/documents/{doc_id}").json()
    assert document["status"] == "indexed"
    texts = [h["text"] for h in client.post("/v1/search", json={"query": "planets"}).json()["data"]]
    assert texts and not any("Jupiter" in text for text in texts)


def test_deleting_a_document_cancels_its_running_job(
    gated: tuple[TestClient, Services, GatedEmbedder],
) -> None:
    client, services, gate = gated
    accepted = client.post(
        "/v1/documents", json={"text": GUIDE_MD + "\n" + SLOW, "source": "g"}
    ).json()["data"][0]
    assert gate.entered.wait(30)

    deleted = client.delete(f"/v1/documents/{accepted['document_id']}")
    gate.gate.set()
    services.runner.pause(30)

    assert deleted.status_code == 204
    assert client.get(f"/v1/jobs/{accepted['job_id']}").status_code == 404
    assert client.get(f"/v1/documents/{accepted['document_id']}").status_code == 404
    assert services.store.count("default", accepted["document_id"]) == 0


def test_cancel_refuses_unknown_and_finished_jobs(client: TestClient) -> None:
    done = ingest_text(client, GUIDE_MD, source="g")
    assert client.post("/v1/jobs/nope/cancel").status_code == 404
    finished = client.post(f"/v1/jobs/{done['job_id']}/cancel")
    assert finished.status_code == 409
    assert "succeeded" in finished.json()["message"]


def test_the_cli_cancels_beside_the_running_owner(
    client: TestClient, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    services.runner.stop()
    accepted = client.post("/v1/documents", json={"text": GUIDE_MD, "source": "g"}).json()
    job_id = accepted["data"][0]["job_id"]
    monkeypatch.setenv("RAGFLEET_DATA_DIR", str(services.settings.data_dir))

    first = CliRunner().invoke(cli, ["jobs", "cancel", job_id])
    again = CliRunner().invoke(cli, ["jobs", "cancel", job_id])
    unknown = CliRunner().invoke(cli, ["jobs", "cancel", "nope"])

    assert first.exit_code == 0, first.output
    assert client.get(f"/v1/jobs/{job_id}").json()["status"] == "cancelled"
    assert again.exit_code == 1 and "only active jobs" in again.stderr
    assert unknown.exit_code == 1 and "not found" in unknown.stderr
