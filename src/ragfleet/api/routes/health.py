"""Liveness, readiness and Prometheus metrics (outside /v1 and without auth).

Liveness checks only the process (a broken process is restarted). Readiness checks the
dependencies, but a dependency failing longer than ``server.readiness_grace_s`` stops gating it:
an outage every pod shares would otherwise remove every endpoint and stall rollouts, when
answering with a 503 that names the dependency serves users better. ``ragfleet_ready`` and the
RagfleetNotReady alert keep reporting it.
"""

from __future__ import annotations

import time

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from ragfleet.api.deps import ServicesDep, require_metrics_token
from ragfleet.api.schemas import Readiness
from ragfleet.errors import RagfleetError
from ragfleet.telemetry import metrics as telemetry

router = APIRouter(tags=["health"])


@router.get("/healthz", operation_id="healthz")
async def healthz() -> dict[str, str]:
    """The process is alive (no dependency is checked). Async, so answers held while inference
    wakes (they occupy threadpool threads) never starve the liveness probe."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    response_model=Readiness,
    operation_id="readyz",
    responses={503: {"model": Readiness, "description": "A dependency failed."}},
)
def readyz(services: ServicesDep, request: Request) -> JSONResponse:
    """Ready when the registry, the vector store and the embedder answer (``degraded`` once one
    has failed past the grace period). Redis is left out on purpose: without it uploads answer
    503, but search and answers keep working."""
    watch = _watch(request)
    grace = services.settings.server.readiness_grace_s
    checks: dict[str, str] = {}
    gating = False
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
        gating |= watch.gates(name, checks[name] == "ok", grace)
    status = "unavailable" if gating else "ready"
    if not gating and any(v != "ok" for v in checks.values()):
        status = "degraded"
    body = Readiness(status=status, checks=checks)
    return JSONResponse(body.model_dump(), status_code=503 if gating else 200)


def _watch(request: Request) -> DependencyWatch:
    state = request.app.state
    if not hasattr(state, "readiness"):
        state.readiness = DependencyWatch()
    watch: DependencyWatch = state.readiness
    return watch


class DependencyWatch:
    """When each dependency began failing, per app, to end its hold on readiness after a grace."""

    def __init__(self) -> None:
        self._since: dict[str, float] = {}

    def gates(self, name: str, ok: bool, grace_s: float) -> bool:
        """Whether ``name``'s state keeps the pod out of rotation now."""
        if ok:
            self._since.pop(name, None)
            return False
        since = self._since.setdefault(name, time.monotonic())
        return time.monotonic() - since < grace_s


@router.get(
    "/metrics",
    operation_id="metrics",
    response_class=Response,
    dependencies=[Depends(require_metrics_token)],
)
def metrics() -> Response:
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
