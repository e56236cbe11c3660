"""What keeps one request from stalling the process for everyone.

- ``BodyLimit``: every route refuses a body over its limit with 413 before reading it
  (``Content-Length``) or as soon as a streamed body passes it; document uploads get the upload
  limit, every other route ``admission.max_json_bytes``.
- ``QuerySlots``: searches and questions run at most ``admission.max_inflight_queries`` at once;
  a request that finds no slot within ``admission.queue_timeout_s`` gets 503 with
  ``Retry-After`` instead of queueing without bound, and a request whose client has already
  gone is dropped before any work is done.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI
from fastapi.responses import Response
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ragfleet.api.errors import error_response
from ragfleet.errors import DocumentTooLargeError, OverloadedError
from ragfleet.settings import AdmissionSettings
from ragfleet.telemetry import metrics

UPLOAD_PATH = "/v1/documents"


class ClientGoneError(Exception):
    """The client disconnected before its request was computed; nobody reads the answer."""


class BodyLimit:
    """ASGI middleware: 413 for bodies over the route's limit, before they are read whole."""

    def __init__(self, app: ASGIApp, settings: AdmissionSettings) -> None:
        self.app = app
        self.settings = settings

    def limit_for(self, path: str) -> int:
        if path.rstrip("/") == UPLOAD_PATH:
            return self.settings.max_upload_request_bytes
        return self.settings.max_json_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length", b"").decode("latin-1")
        if declared.isdigit() and int(declared) > limit:
            await too_large(limit, scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # An HTTPException passes FastAPI's body parsing unchanged (others become 400).
                    raise HTTPException(413, over(limit))
            return message

        await self.app(scope, counted, send)


def over(limit: int) -> str:
    return f"the request body is over this route's {limit}-byte limit"


async def too_large(limit: int, scope: Scope, receive: Receive, send: Send) -> None:
    response = error_response(413, DocumentTooLargeError.code, over(limit))
    await response(scope, receive, send)


class QuerySlots:
    def __init__(self, settings: AdmissionSettings) -> None:
        self._slots = asyncio.Semaphore(settings.max_inflight_queries)
        self._timeout = settings.queue_timeout_s

    @asynccontextmanager
    async def hold(self, request: Request) -> AsyncIterator[None]:
        """A slot for the request's work; 503 when none frees up in time."""
        try:
            await asyncio.wait_for(self._slots.acquire(), self._timeout)
        except TimeoutError:
            metrics.REQUESTS_SHED.labels("overloaded").inc()
            raise OverloadedError(
                "too many searches and questions at once; retry shortly", retry_after=1
            ) from None
        try:
            if await request.is_disconnected():
                metrics.REQUESTS_SHED.labels("disconnected").inc()
                raise ClientGoneError
            yield
        finally:
            self._slots.release()


def get_query_slots(request: Request) -> QuerySlots:
    slots: QuerySlots = request.app.state.query_slots
    return slots


QuerySlotsDep = Annotated[QuerySlots, Depends(get_query_slots)]

CLIENT_CLOSED_REQUEST = 499  # nobody reads it; it shows in the access log and metrics


def install(app: FastAPI, settings: AdmissionSettings) -> None:
    """Add the body limit (before any route reads a body) and the query slots."""
    app.state.query_slots = QuerySlots(settings)
    app.add_middleware(BodyLimit, settings=settings)

    @app.exception_handler(ClientGoneError)
    async def _gone(_: Request, __: ClientGoneError) -> Response:
        return Response(status_code=CLIENT_CLOSED_REQUEST)
