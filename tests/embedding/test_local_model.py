"""The bundled model on ONNX Runtime: agreement with torch, the int8 weights, the one-time export
and quantization, the lanes."""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

import numpy as np
import onnx as onnx_format
import pytest

from ragfleet.embedding import Embedder
from ragfleet.embedding.base import Matrix
from ragfleet.embedding.lanes import Encoder, QueryLane
from ragfleet.embedding.local import LocalEmbedder, TorchEncoder, sub_batches
from ragfleet.embedding.onnx import (
    OnnxEncoder,
    default_cache_dir,
    ensure_onnx_model,
    quantize_onnx,
    usable_cpus,
)
from ragfleet.errors import DependencyError

TEXTS = [
    "",
    "x",
    "Vitamin D deficiency raises the risk of hip fractures in older adults.",
    "Qdrant stores dense and sparse vectors and filters payloads.",
    "Größere Modelle brauchen mehr Speicher; les modèles plus grands aussi.",
    "Transcription factors bind DNA upstream of the promoter. " * 60,  # truncated at 256
    "What is the effect of aspirin on cardiovascular events?",
    "Helm charts deploy services to Kubernetes clusters.",
]


@pytest.fixture(scope="module")
def onnx() -> OnnxEncoder:
    return OnnxEncoder(ensure_onnx_model(default_cache_dir()), None)


@pytest.fixture(scope="module")
def int8() -> OnnxEncoder:
    return OnnxEncoder(ensure_onnx_model(default_cache_dir(), "int8"), None, "int8")


class Recording:
    """The real encoder, with each batch recorded; ``hold`` blocks batches while clear, and a
    text containing ``poison`` fails its batch."""

    def __init__(self, inner: Encoder) -> None:
        self.inner = inner
        self.batches: list[list[str]] = []
        self.hold = threading.Event()
        self.hold.set()
        self.entered = threading.Event()

    @property
    def dimensions(self) -> int:
        return self.inner.dimensions

    @property
    def rows_per_run(self) -> int | None:
        return self.inner.rows_per_run

    def tokens(self, texts: list[str]) -> list[int]:
        return self.inner.tokens(texts)

    def encode(self, texts: list[str]) -> Matrix:
        self.entered.set()
        self.hold.wait(timeout=30)
        self.batches.append(list(texts))
        if any("poison" in text for text in texts):
            raise DependencyError("embeddings", "poisoned batch")
        return self.inner.encode(texts)


def make_embedder(
    query: Encoder, batch: Encoder, *, batch_size: int, workers: int
) -> LocalEmbedder:
    """An embedder on the given encoders, with a query lane that never waits for company."""
    return LocalEmbedder(
        query,
        batch,
        batch_size=batch_size,
        batch_tokens=4096,
        workers=workers,
        lane=QueryLane(query, 0.0, 8),
    )


def cosines(a: Matrix, b: Matrix) -> Matrix:
    result: Matrix = np.sum(a * b, axis=1)
    return result


def test_onnx_and_torch_embeddings_agree(onnx: OnnxEncoder) -> None:
    torch_vectors = TorchEncoder(None).encode(TEXTS)
    onnx_vectors = onnx.encode(TEXTS)
    assert onnx_vectors.shape == torch_vectors.shape == (len(TEXTS), 384)
    assert cosines(onnx_vectors, torch_vectors).min() >= 0.999


@pytest.mark.parametrize("precision", ["onnx", "int8"])
def test_padding_and_neighbours_do_not_change_a_vector(
    precision: str, request: pytest.FixtureRequest
) -> None:
    encoder: OnnxEncoder = request.getfixturevalue(precision)
    alone = np.vstack([encoder.encode([text]) for text in TEXTS])
    assert cosines(alone, encoder.encode(TEXTS)).min() >= 0.9999
    assert cosines(alone[::-1], encoder.encode(TEXTS[::-1])).min() >= 0.9999


def test_int8_vectors_stay_close_to_the_float_ones_and_rank_alike(
    onnx: OnnxEncoder, int8: OnnxEncoder
) -> None:
    documents = TEXTS[2:]
    assert cosines(int8.encode(documents), onnx.encode(documents)).min() >= 0.98
    queries = [
        "do older people with low vitamin D break their hips",
        "a vector database that filters on payload fields",
        "install services on a Kubernetes cluster with charts",
    ]
    expected = [0, 1, 5]  # indices into documents
    for vectors in (onnx.encode(documents), int8.encode(documents)):
        scores = onnx.encode(queries) @ vectors.T
        assert list(np.argmax(scores, axis=1)) == expected


def test_export_and_quantization_happen_once_and_leave_no_partial_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root_filters = list(logging.getLogger().filters)
    with caplog.at_level(logging.INFO):
        quantized = ensure_onnx_model(tmp_path / "cache", "int8")
    assert not [r for r in caplog.records if r.name == "root"]  # the quantizer's chatter
    assert logging.getLogger().filters == root_filters
    model = ensure_onnx_model(tmp_path / "cache")
    stamps = {path: path.stat().st_mtime_ns for path in (model, quantized)}
    assert ensure_onnx_model(tmp_path / "cache") == model
    assert ensure_onnx_model(tmp_path / "cache", "int8") == quantized
    assert {path: path.stat().st_mtime_ns for path in stamps} == stamps
    assert {p.name for p in (tmp_path / "cache").iterdir()} == {model.name, quantized.name}
    graph = onnx_format.load(str(quantized)).graph
    weights = {tensor.name for tensor in graph.initializer}
    float_products = {
        node.name
        for node in graph.node
        if node.op_type == "MatMul" and weights.intersection(node.input)
    }
    assert float_products == {f"/model/encoder/layer.{k}/output/dense/MatMul" for k in range(3)}
    assert sum(node.op_type == "MatMulInteger" for node in graph.node) == 6 * 6 - 3


def test_quantizing_a_graph_of_another_shape_is_a_clear_error(tmp_path: Path) -> None:
    helper = onnx_format.helper
    product = helper.make_node("MatMul", ["x", "w"], ["y"], name="/other/MatMul")
    weight = helper.make_tensor("w", onnx_format.TensorProto.FLOAT, [2, 2], [1.0, 0.0, 0.0, 1.0])
    graph = helper.make_graph(
        [product],
        "other",
        [helper.make_tensor_value_info("x", onnx_format.TensorProto.FLOAT, [1, 2])],
        [helper.make_tensor_value_info("y", onnx_format.TensorProto.FLOAT, [1, 2])],
        [weight],
    )
    onnx_format.save(helper.make_model(graph), str(tmp_path / "other.onnx"))
    with pytest.raises(DependencyError, match="not the expected graph"):
        quantize_onnx(tmp_path / "other.onnx", tmp_path / "other-int8.onnx")
    assert not (tmp_path / "other-int8.onnx").exists()


def test_an_unwritable_cache_dir_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(DependencyError, match="RAGFLEET_EMBEDDINGS__CACHE_DIR"):
        ensure_onnx_model(blocker / "cache")


def run_concurrently(lane: QueryLane, texts: list[str]) -> list[Matrix]:
    results: list[Matrix] = [np.zeros(0, dtype=np.float32)] * len(texts)

    def one(index: int) -> None:
        results[index] = lane.embed(texts[index])

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(texts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_concurrent_queries_share_batches_and_get_their_own_vectors(onnx: OnnxEncoder) -> None:
    spy = Recording(onnx)
    lane = QueryLane(spy, window_s=0.2, max_batch=3)
    spy.hold.clear()  # the first batch waits, so the other queries queue up behind it
    texts = TEXTS[2:8] + TEXTS[2:4]
    first = threading.Thread(target=lane.embed, args=("warm",))
    first.start()
    spy.entered.wait(timeout=30)
    results = threading.Thread(target=lambda: out.extend(run_concurrently(lane, texts)))
    out: list[Matrix] = []
    results.start()
    spy.hold.set()
    results.join()
    first.join()
    assert sum(len(batch) for batch in spy.batches) == len(texts) + 1
    assert len(spy.batches) < len(texts) + 1  # batched, not one call per query
    assert max(len(batch) for batch in spy.batches) <= 3
    expected = onnx.encode(texts)
    assert cosines(np.vstack(out), expected).min() >= 0.9999


def test_a_failed_batch_fails_its_callers_and_the_lane_goes_on(onnx: OnnxEncoder) -> None:
    lane = QueryLane(Recording(onnx), window_s=0.0, max_batch=8)
    with pytest.raises(DependencyError, match="poisoned"):
        lane.embed("poison pill")
    assert lane.embed("a healthy query").shape == (384,)


def test_ingestion_yields_to_a_query_in_flight(onnx: OnnxEncoder) -> None:
    query, batch = Recording(onnx), Recording(onnx)
    embedder = make_embedder(query, batch, batch_size=2, workers=1)
    order: list[str] = []
    query.hold.clear()

    def search() -> None:
        embedder.embed_query("q")
        order.append("q")

    def ingest() -> None:
        embedder.embed(TEXTS)
        order.append("ingest")

    searching = threading.Thread(target=search)
    searching.start()
    query.entered.wait(timeout=30)
    ingesting = threading.Thread(target=ingest)
    ingesting.start()
    ingesting.join(timeout=0.2)  # ingestion is waiting for the query
    assert batch.batches == []
    query.hold.set()
    searching.join()
    ingesting.join()
    assert order == ["q", "ingest"]
    assert [len(b) for b in batch.batches] == [2, 2, 2, 2]


class Concurrency(Recording):
    """Counts how many batches run at the same time."""

    def __init__(self, inner: Encoder) -> None:
        super().__init__(inner)
        self._lock = threading.Lock()
        self.running = 0
        self.most = 0

    def encode(self, texts: list[str]) -> Matrix:
        with self._lock:
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            return super().encode(texts)
        finally:
            with self._lock:
                self.running -= 1


def test_parallel_sub_batches_keep_input_order_and_their_bound(onnx: OnnxEncoder) -> None:
    query, batch = Recording(onnx), Concurrency(onnx)
    embedder = make_embedder(query, batch, batch_size=1, workers=2)
    batch.hold.clear()  # runs wait inside the encoder: the pool fills up
    callers = [threading.Thread(target=embedder.embed, args=(TEXTS,)) for _ in range(3)]
    for caller in callers:
        caller.start()
    deadline = time.monotonic() + 10
    while batch.running < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)  # room for a third run, were the bound broken
    assert batch.running == 2
    batch.hold.set()
    out = embedder.embed(TEXTS)
    for caller in callers:
        caller.join()
    assert cosines(out, onnx.encode(TEXTS)).min() >= 0.9999
    assert len(batch.batches) == 4 * len(TEXTS)  # one row per run: batch_size=1
    assert batch.most == 2  # every caller shares the two workers


def test_int8_rows_are_spread_over_runs_one_each(int8: OnnxEncoder) -> None:
    query, batch = Recording(int8), Recording(int8)
    embedder = make_embedder(query, batch, batch_size=64, workers=2)
    vectors = embedder.embed(TEXTS)
    assert [len(texts) for texts in batch.batches] == [1] * len(TEXTS)
    assert cosines(vectors, np.vstack([int8.encode([t]) for t in TEXTS])).min() >= 0.9999
    lane = QueryLane(query, 0.05, 8)  # a window would gather queries that int8 runs apart
    threads = [threading.Thread(target=lane.embed, args=(t,)) for t in TEXTS[:4]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [len(texts) for texts in query.batches] == [1] * 4


def test_a_failed_parallel_sub_batch_fails_the_call(onnx: OnnxEncoder) -> None:
    query = Recording(onnx)
    embedder = make_embedder(query, Recording(onnx), batch_size=1, workers=2)
    with pytest.raises(DependencyError, match="poisoned"):
        embedder.embed([*TEXTS, "poison pill"])
    assert embedder.embed(TEXTS[:2]).shape == (2, 384)


def test_sub_batches_are_sorted_and_bounded_in_rows_and_padded_tokens() -> None:
    lengths = [50, 3, 256, 10, 12, 300, 11, 49]
    groups = sub_batches(lengths, most=3, budget=120)
    assert sorted(i for group in groups for i in group) == list(range(len(lengths)))
    assert [[lengths[i] for i in group] for group in groups] == [
        [3, 10, 11],
        [12, 49],
        [50],
        [256],
        [300],  # longer than the budget alone: still embedded, on its own
    ]
    assert sub_batches([], most=3, budget=120) == []


def test_torch_and_onnx_count_tokens_alike(onnx: OnnxEncoder) -> None:
    counts = onnx.tokens(TEXTS)
    assert counts == TorchEncoder(None).tokens(TEXTS)
    assert counts[0] == 2 and max(counts) == 256  # [CLS] [SEP]; truncated at the window


def test_batches_come_back_in_input_order(embedder: Embedder, int8: OnnxEncoder) -> None:
    vectors = embedder.embed(TEXTS)  # batches run the default int8 weights
    assert cosines(vectors, np.vstack([int8.encode([t]) for t in TEXTS])).min() >= 0.9999
    assert embedder.embed([]).shape == (0, embedder.dimensions)


def test_a_query_embeds_as_a_float_batch_of_one_does(embedder: Embedder, onnx: OnnxEncoder) -> None:
    text = "which planet has rings"
    query = embedder.embed_query(text)
    assert float(query @ onnx.encode([text])[0]) >= 0.9999
    assert float(query @ embedder.embed([text])[0]) >= 0.98  # the int8 batch weights


@pytest.mark.parametrize(
    ("cpu_max", "expected"),
    [("max 100000", 8), ("150000 100000", 2), ("50000 100000", 1), ("garbage", 8)],
)
def test_usable_cpus_follow_the_container_quota(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cpu_max: str, expected: int
) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)))  # an 8-core node
    (tmp_path / "cpu.max").write_text(cpu_max + "\n")
    assert usable_cpus(tmp_path / "cpu.max") == expected
    assert usable_cpus(tmp_path / "missing") == 8
