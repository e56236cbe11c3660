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
# One line per write and per query, on a logger of its own so it can be shipped and kept apart.
audit_log = logging.getLogger("ragfleet.audit")

REQUEST_ID_HEADER = b"x-request-id"
TRACE_ID_HEADER = b"x-trace-id"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_SAFE_ID = re.compile(rb"[A-Za-z0-9._:-]{1,64}")


SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
)
# Data responses (JSON, event streams, metrics) never load anything; pages set their own policy.
DATA_CSP = b"default-src 'none'; frame-ancestors 'none'"


def with_security_headers(headers: list[Any]) -> list[Any]:
    """``headers`` plus the security headers a response has not set itself."""
    present = {bytes(name).lower(): bytes(value) for name, value in headers}
    added = [(name, value) for name, value in SECURITY_HEADERS if name not in present]
    html = present.get(b"content-type", b"").startswith(b"text/html")
    if not html and b"content-security-policy" not in present:
        added.append((b"content-security-policy", DATA_CSP))
    return headers + added


def log_collection(request: Request, collection: str) -> None:
    """Name the request's collection in its access and audit log lines."""
    request.state.collection = collection


def log_documents(request: Request, document_ids: list[str]) -> None:
    """Name the documents a write touched in its audit log line."""
    request.state.document_ids = document_ids


def _route_template(scope: Scope, root_path: str) -> str:
    """The label of the route that answered: its path template, or ``<mount>/{path}`` for a
    mounted app (static assets), which extends ``root_path``; "unmatched" for anything else, so
    labels stay few whatever paths clients send."""
    path = getattr(scope.get("route"), "path", None)
    if path:
        return str(path)
    mounted = scope.get("root_path", "")
    if mounted != root_path:
        return f"{mounted.removeprefix(root_path)}/{{path}}"
    return "unmatched"


def _outcome(status: int) -> str:
    if status < 400:
        return "ok"
    return "denied" if status in (401, 403, 429) else "failed"


def audit(scope: Scope, method: str, template: str, status: int, request_id: str) -> None:
    """The audit line of a write or a query (every /v1 call but reads by GET)."""
    if not template.startswith("/v1") or method in ("GET", "HEAD", "OPTIONS"):
        return
    state = scope.get("state", {})
    path_id = scope.get("path_params", {}).get("document_id")
    fields = {
        "key": state.get("key_name"),
        "method": method,
        "route": template,
        "collection": state.get("collection"),
        "document_ids": state.get("document_ids") or ([path_id] if path_id else []),
        "status": status,
        "outcome": _outcome(status),
        "request_id": request_id,
    }
    audit_log.info("%s %s %d key=%s", method, template, status, fields["key"] or "-", extra=fields)


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
        scope.setdefault("state", {})["request_id"] = request_id  # for the 500 handler
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
                message["headers"] = with_security_headers(headers)
            await send(message)

        root_path = scope.get("root_path", "")
        with tracer.start_as_current_span(f"HTTP {method}", context=extract(carrier)) as span:
            trace_id = current_trace_id()
            try:
                await self.app(scope, receive, send_with_ids)
            finally:
                template = _route_template(scope, root_path)
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
                        "key": scope.get("state", {}).get("key_name"),
                    },
                )
                audit(scope, method, template, status, request_id)
                request_id_var.reset(token)
