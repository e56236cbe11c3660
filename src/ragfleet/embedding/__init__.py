"""Embedders: the bundled local model or an OpenAI-compatible endpoint, behind one protocol."""

from ragfleet.embedding.base import Embedder, build_embedder

__all__ = ["Embedder", "build_embedder"]
