"""The FastAPI application: built once per process, components created in the lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from ragfleet import __version__
from ragfleet.api import errors, guards, web
from ragfleet.api.middleware import ObservabilityMiddleware
from ragfleet.api.routes import collections, documents, feedback, health, jobs, search
from ragfleet.api.schemas import ErrorBody
from ragfleet.security.keys import KeyRing
from ragfleet.services import Services, build_services
from ragfleet.settings import Settings, get_settings

ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorBody} for code in (400, 401, 403, 404, 409, 413, 415, 422, 429, 503)
}


def create_app(settings: Settings | None = None, services: Services | None = None) -> FastAPI:
    """The app; pass ``services`` to reuse already-built components (the CLI and tests do)."""
    settings = settings or (services.settings if services else get_settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = services is None
        app.state.services = services or build_services(settings)
        try:
            yield
        finally:
            if owned:
                app.state.services.close()

    app = FastAPI(
        title="ragfleet",
        version=__version__,
        description="Ingest documents, search them and answer questions with citations.",
        lifespan=lifespan,
        docs_url=None,  # api.web serves the docs offline, and the schema as a matched route
        redoc_url=None,
        openapi_url=None,
    )
    # Resource routers carry the /v1 prefix themselves, so route templates (metric labels)
    # are the full paths.
    for module in (documents, collections, jobs, search, feedback):
        app.include_router(module.router, responses=ERROR_RESPONSES)
    app.include_router(health.router)
    app.state.keys = KeyRing(settings.auth.api_keys)
    web.install(app, docs=settings.api_docs_enabled)
    errors.install(app)
    guards.install(app, settings.admission)
    app.add_middleware(ObservabilityMiddleware)
    if settings.server.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.server.cors_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
        )
    return app
