"""Pick an embedding backend from settings; backends are imported only when chosen (the local
model needs onnxruntime, and torch for its one-time export, which remote-embedding deployments
do not install)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ragfleet.embedding.base import Embedder
from ragfleet.settings import EmbeddingSettings

if TYPE_CHECKING:
    from ragfleet.embedding.onnx import Precision


def onnx_precision(runtime: str, precision: Precision) -> Precision:
    """The weights a lane runs: as set on ONNX Runtime, float on torch."""
    return precision if runtime == "onnx" else "float32"


def build_embedder(settings: EmbeddingSettings) -> Embedder:
    if settings.backend == "openai":
        from ragfleet.embedding.remote import OpenAIEmbedder

        return OpenAIEmbedder(settings)
    from ragfleet.embedding.local import load_local_embedder

    return load_local_embedder(
        query_runtime=settings.query_runtime,
        batch_runtime=settings.batch_runtime,
        query_precision=onnx_precision(settings.query_runtime, settings.query_precision),
        batch_precision=onnx_precision(settings.batch_runtime, settings.batch_precision),
        batch_size=settings.batch_size,
        batch_tokens=settings.batch_tokens,
        threads=settings.threads,
        batch_workers=settings.batch_workers,
        cache_dir=settings.cache_dir,
        query_window_s=settings.query_window_ms / 1000,
        query_max_batch=settings.query_max_batch,
    )
