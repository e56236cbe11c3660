"""Liveness, readiness and Prometheus metrics (outside /v1 and without auth)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from ragfleet.api.deps import ServicesDep
from ragfleet.api.schemas import Readiness
from ragfleet.errors import RagfleetError
from ragfleet.telemetry import metrics as telemetry

router = APIRouter(tags=["health"])


@router.get("/healthz", operation_id="healthz")
def healthz() -> dict[str, str]:
    """The process is alive (no dependency is checked)."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    response_model=Readiness,
    operation_id="readyz",
    responses={503: {"model": Readiness, "description": "A dependency failed."}},
)
def readyz(services: ServicesDep) -> JSONResponse:
    """Ready when the registry, the vector store and the embedder answer. Redis is left out on
    purpose: without it uploads answer 503, but search and answers keep working."""
    checks: dict[str, str] = {}
    for name, check in (
        ("registry", services.registry.check),
        ("vector_store", services.store.check),
        ("embeddings", services.embedder.check),
    ):
        try:
            check()
            checks[name] = "ok"
        except RagfleetError as exc:
            checks[name] = f"failed: {exc.message}"
        telemetry.READY.labels(name).set(1 if checks[name] == "ok" else 0)
    ready = all(v == "ok" for v in checks.values())
    body = Readiness(status="ready" if ready else "unavailable", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)


@router.get("/metrics", operation_id="metrics", response_class=Response)
def metrics() -> Response:
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
