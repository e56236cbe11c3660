"""An app factory for security tests: settings as keywords, on a recording LLM endpoint."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ragfleet.api.app import create_app
from ragfleet.embedding import Embedder
from ragfleet.services import build_services
from tests.utils.config import make_settings
from tests.utils.llm_stub import StubState, llm_stub

StartApp = Callable[..., TestClient]


@pytest.fixture
def recording_llm() -> Iterator[tuple[str, StubState]]:
    """The /v1 URL of an OpenAI-compatible endpoint that records every request."""
    with llm_stub() as stub:
        yield stub


@pytest.fixture
def start_app(tmp_path: Path, embedder: Embedder) -> Iterator[StartApp]:
    """Start an app from settings keywords (the data directory is the test's); every app
    started is closed at the end of the test."""
    with ExitStack() as stack:

        def start(headers: dict[str, str] | None = None, **overrides: Any) -> TestClient:
            services = build_services(make_settings(tmp_path, **overrides), embedder)
            stack.callback(services.close)
            app = create_app(services=services)
            return stack.enter_context(TestClient(app, headers=headers))

        yield start
