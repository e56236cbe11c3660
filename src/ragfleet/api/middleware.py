"""Request id, trace, access log and HTTP metrics, as plain ASGI so streaming responses pass
through untouched."""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from opentelemetry.propagate import extract
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ragfleet.telemetry import metrics
from ragfleet.telemetry.logging import request_id_var
from ragfleet.telemetry.tracing import current_trace_id, tracer

access_log = logging.getLogger("ragfleet.access")

REQUEST_ID_HEADER = b"x-request-id"
TRACE_ID_HEADER = b"x-trace-id"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_SAFE_ID = re.compile(rb"[A-Za-z0-9._:-]{1,64}")


def log_collection(request: Request, collection: str) -> None:
    """Name the request's collection in its access log line."""
    request.state.collection = collection


class ObservabilityMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(REQUEST_ID_HEADER, b"")
        # Echo a caller's id only when it is a plain token; anything else gets a fresh one.
        request_id = incoming.decode() if _SAFE_ID.fullmatch(incoming) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        status = 500
        began = time.perf_counter()
        method = scope["method"] if scope["method"] in METHODS else "OTHER"  # bounded labels
        carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}

        async def send_with_ids(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers: list[Any] = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER, request_id.encode()))
                if trace_id:
                    headers.append((TRACE_ID_HEADER, trace_id.encode()))
                message["headers"] = headers
            await send(message)

        with tracer.start_as_current_span(f"HTTP {method}", context=extract(carrier)) as span:
            trace_id = current_trace_id()
            try:
                await self.app(scope, receive, send_with_ids)
            finally:
                route = scope.get("route")
                template = getattr(route, "path", None) or "unmatched"
                seconds = time.perf_counter() - began
                span.update_name(f"HTTP {method} {template}")
                span.set_attribute("http.route", template)
                span.set_attribute("http.response.status_code", status)
                metrics.HTTP_REQUESTS.labels(template, method, f"{status // 100}xx").inc()
                metrics.HTTP_DURATION.labels(template, method).observe(seconds)
                access_log.info(
                    "%s %s %d",
                    method,
                    template,
                    status,
                    extra={
                        "method": method,
                        "route": template,
                        "status": status,
                        "latency_ms": round(seconds * 1000, 2),
                        "collection": scope.get("state", {}).get("collection"),
                    },
                )
                request_id_var.reset(token)
