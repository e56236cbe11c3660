"""The browser app at ``/`` and the API docs (Swagger UI) at ``/docs``.

Every page and asset is served by the API itself (no CDN), so both work on a machine with no
network. Pages load their scripts and styles from files, never inline, so a Content-Security-Policy
of ``'self'`` allows them. The Swagger UI 5 assets (it renders OpenAPI 3.1) come from the
``fastapi-offline`` wheel; ReDoc is not offered, as its page loads a logo from a CDN.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from ragfleet import __version__
from ragfleet.api.deps import SettingsDep

STATIC = Path(__file__).parent / "static"
DOCS_ASSETS = Path(fastapi_offline.__file__).parent / "static"
APP_ASSETS_URL = "/assets/app"
DOCS_ASSETS_URL = "/assets/docs"

router = APIRouter(include_in_schema=False)
docs_router = APIRouter(include_in_schema=False)


class WebConfig(BaseModel):
    """What the browser app needs to know before its first API call."""

    auth: bool = Field(description="True when /v1 routes need an API key.")
    default_collection: str
    version: str


def _page(name: str) -> FileResponse:
    return FileResponse(STATIC / name, media_type="text/html")


@router.get("/")
def index() -> FileResponse:
    return _page("index.html")


@docs_router.get("/docs")
def swagger_ui() -> FileResponse:
    return _page("docs.html")


@docs_router.get("/openapi.json")
def openapi_schema(request: Request) -> JSONResponse:
    """The OpenAPI document, as a route of this router so metrics and logs name it."""
    return JSONResponse(request.app.openapi())


@router.get("/web/config")
def web_config(settings: SettingsDep) -> WebConfig:
    return WebConfig(
        auth=bool(settings.auth.api_keys),
        default_collection=settings.default_collection,
        version=__version__,
    )


def install(app: FastAPI, *, docs: bool) -> None:
    """Add the pages and mount their assets (create the app with ``docs_url=None``); ``docs``
    adds ``/docs`` and ``/openapi.json`` (``server.api_docs``)."""
    app.include_router(router)
    app.mount(APP_ASSETS_URL, StaticFiles(directory=STATIC), name="app-assets")
    if docs:
        app.include_router(docs_router)
        app.mount(DOCS_ASSETS_URL, StaticFiles(directory=DOCS_ASSETS), name="docs-assets")
