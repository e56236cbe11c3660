"""Embedders: the bundled local model or an OpenAI-compatible endpoint, behind one protocol."""

from ragfleet.embedding.base import Embedder
from ragfleet.embedding.factory import build_embedder

__all__ = ["Embedder", "build_embedder"]
