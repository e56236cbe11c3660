"""Outbound HTTP to OpenAI-compatible endpoints: explicit timeouts, limits and retries."""

from __future__ import annotations

import logging
import time
from typing import Any

import httpx
from pydantic import SecretStr

from ragfleet.backoff import full_jitter
from ragfleet.errors import DependencyError

logger = logging.getLogger(__name__)

MAX_CONNECTIONS = 32
MAX_KEEPALIVE_CONNECTIONS = 16
CONNECT_TIMEOUT_S = 2.0
PROBE_TIMEOUT_S = 5.0
BACKOFF_BASE_S = 0.2
BACKOFF_CAP_S = 5.0


def build_client(
    base_url: str,
    api_key: SecretStr | None,
    timeout_s: float,
    connect_timeout_s: float = CONNECT_TIMEOUT_S,
) -> httpx.Client:
    headers = {"Authorization": f"Bearer {api_key.get_secret_value()}"} if api_key else {}
    return httpx.Client(
        base_url=base_url.rstrip("/") + "/",
        headers=headers,
        timeout=httpx.Timeout(timeout_s, connect=min(connect_timeout_s, timeout_s)),
        limits=httpx.Limits(
            max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_KEEPALIVE_CONNECTIONS
        ),
    )


def is_transient(exc: Exception) -> bool:
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code in (408, 429) or exc.response.status_code >= 500
    return isinstance(exc, httpx.TransportError)


def post_json(
    client: httpx.Client,
    path: str,
    body: dict[str, Any],
    dependency: str,
    retries: int,
    timeout_s: float | None = None,
) -> Any:
    """POST and decode JSON, retrying transient failures; raise ``DependencyError`` at the end.

    ``timeout_s`` overrides the client's timeout for this call (readiness probes use a short one).
    """
    timeout = httpx.USE_CLIENT_DEFAULT if timeout_s is None else httpx.Timeout(timeout_s)
    for attempt in range(retries + 1):
        try:
            response = client.post(path, json=body, timeout=timeout)
            response.raise_for_status()
            return response.json()
        except (httpx.HTTPError, ValueError) as exc:
            transient = isinstance(exc, httpx.HTTPError) and is_transient(exc)
            if not transient or attempt == retries:
                raise DependencyError(dependency, describe(exc)) from exc
            delay = full_jitter(attempt, BACKOFF_BASE_S, BACKOFF_CAP_S)
            logger.warning(
                "%s failed (%s); retry %d in %.2fs", dependency, describe(exc), attempt + 1, delay
            )
            time.sleep(delay)
    raise AssertionError("unreachable")


def describe(exc: Exception) -> str:
    if isinstance(exc, httpx.HTTPStatusError):
        return f"HTTP {exc.response.status_code} from {exc.request.url}"
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    if isinstance(exc, httpx.ConnectError):
        return "connection refused or unreachable"
    return f"{type(exc).__name__}: {exc}"
