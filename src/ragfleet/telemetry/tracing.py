"""OpenTelemetry spans for requests, query stages and ingestion stages.

The SDK tracer provider is always installed, so every request has a real trace id for the logs
and the ``X-Trace-Id`` header; spans leave the process only when ``tracing.otlp_endpoint`` is set
(OTLP over HTTP, batched). An incoming W3C ``traceparent`` header continues the caller's trace.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ParentBasedTraceIdRatio

from ragfleet.settings import TracingSettings

tracer = trace.get_tracer("ragfleet")
_lock = threading.Lock()
_configured = False


def configure_tracing(settings: TracingSettings) -> None:
    """Install the tracer provider once per process (later calls keep the first)."""
    global _configured
    with _lock:
        if _configured:
            return
        provider = TracerProvider(
            resource=Resource.create({"service.name": settings.service_name}),
            sampler=ParentBasedTraceIdRatio(settings.sample_ratio),
        )
        if settings.otlp_endpoint:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.trace.export import BatchSpanProcessor

            exporter = OTLPSpanExporter(endpoint=settings.otlp_endpoint)
            provider.add_span_processor(BatchSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        _configured = True


def current_trace_id() -> str | None:
    """The active trace id as 32 hex digits, or None outside a trace."""
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


@contextmanager
def span(name: str) -> Iterator[None]:
    with tracer.start_as_current_span(name):
        yield
