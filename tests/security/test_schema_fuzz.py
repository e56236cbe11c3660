"""Schemathesis against the OpenAPI schema, in process: no server error, every response as the
schema documents it. Bounded and deterministic: a few derandomized examples per operation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err, Ok
from schemathesis.errors import InvalidSchema
from schemathesis.specs.openapi.checks import response_schema_conformance

from ragfleet.api.app import create_app
from ragfleet.embedding import Embedder
from ragfleet.services import build_services
from tests.utils.config import make_settings
from tests.utils.documents import GUIDE_MD
from tests.utils.jobs import ingest_text

EXAMPLES_PER_OPERATION = 8

Operation = schemathesis.APIOperation[Any, Any, Any, Any]


def ok(result: Ok[Operation] | Err[InvalidSchema]) -> Operation:
    """The operation, or the schema error that stood in its way."""
    if isinstance(result, Err):
        raise result.err()
    return result.ok()


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Iterator[FastAPI]:
    """One app for every operation, with a document in, its lifespan running."""
    services = build_services(make_settings(tmp_path_factory.mktemp("fuzz")), embedder)
    app = create_app(services=services)
    with TestClient(app) as client:  # runs the lifespan; the schema's calls share the app
        ingest_text(client, GUIDE_MD, source="guide")
        yield app
    services.close()


def operations() -> list[str]:
    """Every operation of the schema, as METHOD path (the test ids)."""
    app = create_app(make_settings(Path("/nonexistent")))
    schema = schemathesis.openapi.from_dict(app.openapi())
    return [ok(op).label for op in schema.get_all_operations()]


# Schemathesis's multipart bodies draw from ``random`` inside a strategy; Hypothesis warns.
@pytest.mark.filterwarnings("ignore:Do not use the `random` module inside strategies")
@pytest.mark.parametrize("label", operations())
def test_no_server_errors_and_documented_responses(api: FastAPI, label: str) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", api)
    operation = next(ok(op) for op in schema.get_all_operations() if ok(op).label == label)

    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case[Operation]) -> None:
        case.call_and_validate(checks=[not_a_server_error, response_schema_conformance])

    run()
