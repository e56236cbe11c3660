"""Control of the real servers the tests use."""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import time

import redis

from tests.utils.config import REDIS_URL


def restart_redis(timeout: float = 30) -> None:
    """Restart the Redis server: with ``RAGFLEET_TEST_REDIS_RESTART`` (a command, e.g. a container
    restart), or by stopping the local server unsaved and starting it with the options it had."""
    client = redis.Redis.from_url(REDIS_URL)
    if command := os.environ.get("RAGFLEET_TEST_REDIS_RESTART"):
        subprocess.run(shlex.split(command), check=True)
    else:
        options = {key: _config(client, key) for key in ("bind", "port", "dir", "logfile")}
        try:
            client.shutdown(nosave=True)
        except redis.ConnectionError:
            pass  # the server closes the connection as it exits
        start = ["redis-server", "--daemonize", "yes", "--save", "", "--appendonly", "no"]
        start += ["--bind", *options["bind"].split(), "--port", options["port"]]
        start += ["--dir", options["dir"], "--logfile", options["logfile"]]
        subprocess.run(start, check=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if client.ping():
                return
        except redis.ConnectionError:
            time.sleep(0.1)
    raise AssertionError("Redis did not come back")


def _config(client: redis.Redis, key: str) -> str:
    """One setting of the running server."""
    value = client.config_get(key)[key]
    assert value is not None, f"Redis reports no {key!r} setting"
    return value


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class OwnRedis:
    """A Redis server of the test's own on a free loopback port, to kill and start at will
    (unsaved, like the one in production without persistence)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10) -> None:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no"]
        self._process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        client = redis.Redis(port=self.port)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                try:
                    if client.ping():
                        return
                except redis.ConnectionError:
                    time.sleep(0.05)
        finally:
            client.close()
        raise AssertionError("own Redis did not start")

    def kill(self) -> None:
        """SIGKILL: everything in memory is gone, as after a crash."""
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None
