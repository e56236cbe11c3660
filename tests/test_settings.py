from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from ragfleet.cli.main import app
from ragfleet.embedding.factory import onnx_precision
from ragfleet.settings import Settings
from ragfleet.settings_doc import markdown_table

ROOT = Path(__file__).resolve().parents[1]


def test_env_reaches_nested_groups(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAGFLEET_LLM__BASE_URL", "http://vllm:8000/v1")
    monkeypatch.setenv("RAGFLEET_RETRIEVAL__TOP_K", "7")
    monkeypatch.setenv("RAGFLEET_AUTH__API_KEYS", '[{"key": "k-123", "groups": ["eng"]}]')
    settings = Settings(_env_file=None)
    assert settings.llm.base_url == "http://vllm:8000/v1"
    assert settings.retrieval.top_k == 7
    assert settings.auth.api_keys[0].groups == ["eng"]
    assert settings.database_url.startswith("sqlite:///")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"RAGFLEET_RETRIEVAL__TOP_K": "0"}, "retrieval.top_k"),
        ({"RAGFLEET_CHUNKING__OVERLAP_TOKENS": "500"}, "overlap_tokens must be smaller"),
        ({"RAGFLEET_EMBEDDINGS__BACKEND": "openai"}, "embeddings.base_url is required"),
        ({"RAGFLEET_EMBEDDINGS__BATCH_WORKERS": "0"}, "embeddings.batch_workers"),
        ({"RAGFLEET_EMBEDDINGS__BATCH_PRECISION": "int4"}, "embeddings.batch_precision"),
        (
            {
                "RAGFLEET_EMBEDDINGS__BATCH_RUNTIME": "torch",
                "RAGFLEET_EMBEDDINGS__BATCH_PRECISION": "int8",
            },
            "embeddings.batch_precision int8 needs batch_runtime onnx",
        ),
        ({"RAGFLEET_DATABASE__URL": "mysql://x"}, "database.url"),
        ({"RAGFLEET_REDIS__URL": "http://redis:6379"}, "redis.url"),
        ({"RAGFLEET_LLM__BASE_URL": "vllm:8000/v1"}, "llm.base_url"),
        ({"RAGFLEET_QDRANT__URL": "ftp://qdrant"}, "qdrant.url"),
        ({"RAGFLEET_TRACING__OTLP_ENDPOINT": "http://"}, "tracing.otlp_endpoint"),
        ({"RAGFLEET_DEFAULT_COLLECTION": "Has Spaces"}, "default_collection"),
        ({"RAGFLEET_ENVIRONMENT": "production"}, "auth.api_keys must be set"),
        (
            {"RAGFLEET_ENVIRONMENT": "staging", "RAGFLEET_AUTH__API_KEYS": '[{"key": "changeme"}]'},
            "placeholder secret",
        ),
    ],
)
def test_invalid_settings_fail_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ValidationError, match=message.split(".")[-1]):
        Settings(_env_file=None)
    result = CliRunner().invoke(app, ["search", "anything"])
    assert result.exit_code == 2
    assert "invalid setting" in result.output
    assert message.split(".")[0] in result.output


def test_the_torch_runtime_runs_float_weights_unless_int8_is_asked_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert Settings(_env_file=None).embeddings.batch_precision == "int8"
    monkeypatch.setenv("RAGFLEET_EMBEDDINGS__BATCH_RUNTIME", "torch")
    monkeypatch.setenv("RAGFLEET_EMBEDDINGS__QUERY_RUNTIME", "torch")
    embeddings = Settings(_env_file=None).embeddings
    assert onnx_precision(embeddings.batch_runtime, embeddings.batch_precision) == "float32"
    assert onnx_precision(embeddings.query_runtime, embeddings.query_precision) == "float32"
    assert onnx_precision("onnx", embeddings.batch_precision) == "int8"
    monkeypatch.setenv("RAGFLEET_EMBEDDINGS__QUERY_PRECISION", "int8")
    with pytest.raises(ValidationError, match="query_precision int8 needs query_runtime onnx"):
        Settings(_env_file=None)


def test_configuration_doc_is_current() -> None:
    assert (ROOT / "docs" / "configuration.md").read_text() == markdown_table(), (
        "run: ragfleet config > docs/configuration.md"
    )
