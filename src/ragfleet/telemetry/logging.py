"""Logging set-up: plain text for a terminal, JSON lines for containers and Loki."""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from ragfleet.telemetry.tracing import current_trace_id

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
# Structured fields a log call may pass with ``extra=``; the access log uses them.
ACCESS_FIELDS = (
    "method",
    "route",
    "status",
    "latency_ms",
    "collection",
    "key",
    "document_ids",
    "outcome",
    "request_id",
)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        event: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if request_id := request_id_var.get():
            event["request_id"] = request_id
        if trace_id := current_trace_id():
            event["trace_id"] = trace_id
        for key in ACCESS_FIELDS:
            if (value := record.__dict__.get(key)) is not None:
                event[key] = value
        if record.exc_info:
            event["exception"] = self.formatException(record.exc_info)
        return json.dumps(event, ensure_ascii=False)


class StandardStreamHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to ``sys.stdout`` or ``sys.stderr`` as they are at each record, not as they were
    when logging was set up: whoever swaps a standard stream (a test runner, an embedding
    application) and closes it later leaves no handler writing to a closed file."""

    def __init__(self, name: str) -> None:
        self._standard = name
        super().__init__()

    @property
    def stream(self) -> Any:
        return getattr(sys, self._standard)

    @stream.setter
    def stream(self, _: Any) -> None:
        """The stream is always the current one."""


def configure_logging(level: str, json_format: bool) -> None:
    handler = StandardStreamHandler("stdout" if json_format else "stderr")
    handler.setFormatter(
        JsonFormatter() if json_format else logging.Formatter("%(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Uvicorn's own access log is off (``access_log=False``); ``ragfleet.access`` replaces it.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    for noisy in ("httpx", "httpcore", "transformers"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
