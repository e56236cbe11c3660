"""Pick an embedding backend from settings; backends are imported only when chosen (the local
model needs torch, which remote-embedding deployments do not install)."""

from __future__ import annotations

from ragfleet.embedding.base import Embedder
from ragfleet.settings import EmbeddingSettings


def build_embedder(settings: EmbeddingSettings) -> Embedder:
    if settings.backend == "openai":
        from ragfleet.embedding.remote import OpenAIEmbedder

        return OpenAIEmbedder(settings)
    from ragfleet.embedding.local import load_local_embedder

    return load_local_embedder(settings.batch_size, settings.threads)
