"""Body limits on every route, bounded query work with 503 + Retry-After, gone clients dropped."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from starlette.requests import Request
from starlette.types import Message

from ragfleet.api.app import create_app
from ragfleet.api.guards import ClientGoneError, QuerySlots
from ragfleet.embedding import Embedder
from ragfleet.services import build_services
from ragfleet.settings import AdmissionSettings
from tests.utils.config import make_settings
from tests.utils.embedders import GatedEmbedder
from tests.utils.jobs import ingest_text

SMALL = {"max_json_bytes": 2048, "max_upload_request_bytes": 4096}


@pytest.fixture
def small_client(tmp_path: Path, embedder: Embedder) -> Iterator[TestClient]:
    services = build_services(make_settings(tmp_path, admission=SMALL), embedder)
    try:
        with TestClient(create_app(services=services)) as client:
            yield client
    finally:
        services.close()


@pytest.mark.parametrize("route", ["/v1/search", "/v1/query", "/v1/feedback"])
def test_a_declared_oversize_body_is_refused_unread(small_client: TestClient, route: str) -> None:
    body = b'{"query": "' + b"x" * 5000 + b'"}'
    response = small_client.post(route, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json()["code"] == "too_large" and "2048-byte" in response.json()["message"]


def test_a_streamed_oversize_body_is_cut_off(small_client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"query": "'
        for _ in range(100):
            yield b"x" * 1000
        yield b'"}'

    response = small_client.post(
        "/v1/search", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413


def test_uploads_get_the_upload_limit(small_client: TestClient) -> None:
    ok = small_client.post("/v1/documents", json={"text": "short text " * 200})  # ~2.2 kB
    big = small_client.post("/v1/documents", json={"text": "x" * 5000})
    assert ok.status_code == 202
    assert big.status_code == 413
    assert small_client.get("/v1/documents").json()["count"] == 1


def test_queries_beyond_the_slots_are_shed_with_retry_after(
    tmp_path: Path, embedder: Embedder
) -> None:
    gate = GatedEmbedder(embedder, "SLOWDOWN")
    admission = {"max_inflight_queries": 1, "queue_timeout_s": 0.1}
    services = build_services(make_settings(tmp_path, admission=admission), gate)
    try:
        with TestClient(create_app(services=services)) as client:
            ingest_text(client, "# Notes\n\nPlanets orbit stars.", source="n")
            held: list[int] = []
            first = threading.Thread(
                target=lambda: held.append(
                    client.post("/v1/search", json={"query": "SLOWDOWN planets"}).status_code
                )
            )
            first.start()
            assert gate.entered.wait(30)
            shed = client.post("/v1/search", json={"query": "planets"})
            asked = client.post("/v1/query", json={"question": "what orbits?"})
            gate.gate.set()
            first.join(30)
            after = client.post("/v1/search", json={"query": "planets"})
            metrics = client.get("/metrics").text
    finally:
        gate.gate.set()
        services.close()
    assert shed.status_code == 503 and shed.headers["Retry-After"] == "1"
    assert shed.json()["code"] == "overloaded"
    assert asked.status_code == 503
    assert held == [200] and after.status_code == 200
    assert 'ragfleet_requests_shed_total{reason="overloaded"}' in metrics


def test_work_for_a_client_that_left_is_not_done() -> None:
    async def gone() -> Message:
        return {"type": "http.disconnect"}

    async def attempt() -> None:
        request = Request({"type": "http", "method": "POST", "headers": []}, gone)
        async with QuerySlots(AdmissionSettings()).hold(request):
            raise AssertionError("the work ran for a client that had gone")

    with pytest.raises(ClientGoneError):
        asyncio.run(attempt())
