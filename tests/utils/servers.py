"""Control of the real servers the tests use."""

from __future__ import annotations

import socket
import subprocess
import time

import redis

from tests.conftest import REDIS_URL


def restart_redis(timeout: float = 30) -> None:
    """Stop the Redis server without saving and start it again with the options it had."""
    client = redis.Redis.from_url(REDIS_URL)
    options = {key: client.config_get(key)[key] for key in ("bind", "port", "dir", "logfile")}
    try:
        client.shutdown(nosave=True)
    except redis.ConnectionError:
        pass  # the server closes the connection as it exits
    command = ["redis-server", "--daemonize", "yes", "--save", "", "--appendonly", "no"]
    command += ["--bind", *options["bind"].split(), "--port", options["port"]]
    command += ["--dir", options["dir"], "--logfile", options["logfile"]]
    subprocess.run(command, check=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if client.ping():
                return
        except redis.ConnectionError:
            time.sleep(0.1)
    raise AssertionError("Redis did not come back")


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
