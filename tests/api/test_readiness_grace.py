"""Readiness tells a dependency down from a broken process without stalling rollouts forever."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from fastapi.testclient import TestClient

from ragfleet.api.app import create_app
from ragfleet.embedding import Embedder
from ragfleet.registry.repository import Registry
from ragfleet.services import build_services
from tests.utils.config import make_settings


def test_a_dependency_down_past_the_grace_stops_gating_readiness(
    tmp_path: Path, embedder: Embedder
) -> None:
    """Liveness stays the process's own; a shared outage keeps the pod in rotation (degraded),
    reported per dependency, instead of blocking every pod and every rollout."""
    settings = make_settings(tmp_path, server={"readiness_grace_s": 0})
    services = build_services(settings, embedder)
    working = services.tasks
    broken = Registry("postgresql+psycopg://ragfleet@127.0.0.1:1/none")
    try:
        with TestClient(create_app(services=services)) as client:
            services.tasks = replace(working, registry=broken)
            response = client.get("/readyz")
            assert client.get("/healthz").status_code == 200
            exposition = client.get("/metrics").text
            services.tasks = working
            recovered = client.get("/readyz").json()["status"]
    finally:
        broken.close()
        services.close()
    assert response.status_code == 200
    assert response.json()["status"] == "degraded"
    assert response.json()["checks"]["registry"].startswith("failed")
    assert 'ragfleet_ready{dependency="registry"} 0.0' in exposition
    assert recovered == "ready"
