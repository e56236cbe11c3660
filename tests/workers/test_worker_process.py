"""The standalone ``ragfleet worker`` process: crash recovery, probes, metrics, shutdown.

No Qdrant server runs here, so the worker uses qdrant-client's local mode (``file://``), which one
process at a time may hold: this test enqueues through the registry and Redis directly and opens
the store itself only after the worker has exited.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from qdrant_client import QdrantClient

from ragfleet.ingest.chunker import Chunker
from ragfleet.ingest.parsers import parse_text
from ragfleet.registry.repository import PendingIngest, Registry
from ragfleet.registry.tables import JobRow
from ragfleet.retrieval.qdrant_store import QdrantVectorStore
from ragfleet.settings import Settings
from ragfleet.workers.celery_app import create_celery
from ragfleet.workers.queues import publish_jobs
from tests.utils.servers import free_port

RAGFLEET = Path(sys.executable).parent / "ragfleet"
WORKER_NAME = "ragfleet@crash-test"


@pytest.fixture
def env(tmp_path: Path, redis_url: str, postgres_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "RAGFLEET_DATA_DIR": str(tmp_path / "data"),
        "RAGFLEET_DATABASE__URL": postgres_url,
        "RAGFLEET_REDIS__URL": redis_url,
        "RAGFLEET_QDRANT__URL": f"file://{tmp_path / 'qdrant'}",
        "RAGFLEET_JOBS__EMBED_BATCH": "2",  # many small steps: the kill lands mid-document
        "RAGFLEET_WORKER__NAME": WORKER_NAME,
        "RAGFLEET_WORKER__CONCURRENCY": "1",
        "RAGFLEET_WORKER__HEARTBEAT_INTERVAL_S": "1",
        "RAGFLEET_WORKER__METRICS_PORT": str(free_port()),
    }


@pytest.fixture
def settings(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    for key, value in env.items():
        if key.startswith("RAGFLEET_"):
            monkeypatch.setenv(key, value)
    return Settings(_env_file=None)


@pytest.fixture
def registry(settings: Settings) -> Iterator[Registry]:
    built = Registry(settings.database_url)
    built.migrate()
    yield built
    built.close()


class Worker:
    """A ``ragfleet worker`` subprocess in its own process group."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log.open("ab")
        self.process = subprocess.Popen(
            [str(RAGFLEET), "worker"],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def terminate(self, timeout: float = 60) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def close(self) -> None:
        if self.process.poll() is None:
            self.kill()
        self.log.close()


def wait_for(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def probe(env: dict[str, str]) -> int:
    return subprocess.run([str(RAGFLEET), "worker-probe"], env=env, capture_output=True).returncode


def long_document(settings: Settings) -> tuple[PendingIngest, int]:
    text = "\n\n".join(
        f"# Section {n}\n\nParagraph {n} talks about topic {n} in some detail." for n in range(1200)
    )
    document = parse_text(text, "Long", "long.md", {})
    chunking = settings.chunking
    expected = len(Chunker(chunking.target_tokens, chunking.overlap_tokens).chunk(document))
    return PendingIngest("doc-long", "default", document.content_hash(), document, ["*"]), expected


def test_a_killed_worker_s_job_completes_after_restart_with_exact_chunks(
    tmp_path: Path, env: dict[str, str], settings: Settings, registry: Registry
) -> None:
    pending, expected = long_document(settings)
    assert expected > 5 * 2  # several embed steps
    (job,) = registry.enqueue([pending])
    app = create_celery(settings)
    publish_jobs(app, [job.id])
    log = tmp_path / "worker.log"
    first = Worker(env, log)
    try:
        wait_for(lambda: registry.get_job(job.id).progress >= 0.3, 120, "indexing to start")
        assert probe(env) == 0
        metrics = urllib.request.urlopen(
            f"http://127.0.0.1:{env['RAGFLEET_WORKER__METRICS_PORT']}/metrics", timeout=5
        ).read()
        assert b"ragfleet_worker_up 1.0" in metrics
        assert b"\nragfleet_ready{" not in metrics  # readiness is the API's
        assert b'ragfleet_queue_depth{queue="ingest"}' in metrics
        first.kill()
    finally:
        first.close()
    stuck: JobRow = registry.get_job(job.id)
    assert (stuck.status, stuck.worker) == ("running", WORKER_NAME) and stuck.progress < 1
    time.sleep(3.5)  # three heartbeat intervals without a beat
    assert probe(env) == 1

    second = Worker(env, log)
    try:
        wait_for(lambda: registry.get_job(job.id).status == "succeeded", 120, "the job")
        assert second.terminate() == 0  # SIGTERM: warm shutdown
    finally:
        second.close()
    done = registry.get_job(job.id)
    assert (done.attempts, done.error) == (2, None)
    assert registry.get_document("doc-long").chunk_count == expected
    store = QdrantVectorStore(QdrantClient(path=str(tmp_path / "qdrant")), "ragfleet_")
    try:
        assert store.count("default", "doc-long") == expected
    finally:
        store.close()


def test_a_worker_refuses_the_embedded_store(env: dict[str, str]) -> None:
    del env["RAGFLEET_QDRANT__URL"]
    result = subprocess.run([str(RAGFLEET), "worker"], env=env, capture_output=True, text=True)
    assert result.returncode == 2 and "RAGFLEET_QDRANT__URL" in result.stderr
    env["RAGFLEET_QDRANT__URL"] = "file:///tmp/unused"
    result = subprocess.run(
        [str(RAGFLEET), "worker", "-Q", "nope"], env=env, capture_output=True, text=True
    )
    assert result.returncode == 2 and "unknown queue 'nope'" in result.stderr
