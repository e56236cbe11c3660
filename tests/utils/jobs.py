"""Ingest through the HTTP API and wait for the jobs, as a client would."""

from __future__ import annotations

import time
from typing import Any

from fastapi.testclient import TestClient


def wait_for_job(client: TestClient, job_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job: dict[str, Any] = client.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish in {timeout}s")


def ingest_text(client: TestClient, text: str, **fields: Any) -> dict[str, Any]:
    """POST a JSON document, expect 202, and return the acceptance with its finished job."""
    response = client.post("/v1/documents", json={"text": text, **fields})
    assert response.status_code == 202, response.text
    accepted: dict[str, Any] = response.json()["data"][0]
    return {**accepted, "job": wait_for_job(client, accepted["job_id"])}
