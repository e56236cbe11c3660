"""What the HTTP benchmarks share: a ``ragfleet serve`` on a free loopback port, latency
percentiles, and the server's memory."""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2)

    return {
        "p50_ms": at(0.5),
        "p95_ms": at(0.95),
        "p99_ms": at(0.99),
        "mean_ms": round(statistics.mean(ordered) * 1000, 2),
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_mb(pid: int) -> dict[str, float]:
    """Resident memory now and at its peak (VmRSS, VmHWM) of a process, in MB."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return {
        name: round(int(fields[key].split()[0]) / 1024, 1)
        for name, key in (("rss_mb", "VmRSS"), ("peak_rss_mb", "VmHWM"))
    }


@contextmanager
def serve(data_dir: Path, **env: str) -> Iterator[tuple[str, int]]:
    """``ragfleet serve`` on ``data_dir``; yields its URL and pid once it is ready."""
    port = free_port()
    environment = {
        **os.environ,
        "RAGFLEET_DATA_DIR": str(data_dir),
        "RAGFLEET_LOG__LEVEL": "WARNING",
        **env,
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "ragfleet.cli", "serve", "--no-sample", "--port", str(port)],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        else:
            raise SystemExit("the server did not become ready")
        yield url, server.pid
    finally:
        server.terminate()
        server.wait(timeout=60)
