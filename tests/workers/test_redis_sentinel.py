"""Redis behind Sentinel, on real servers: a Sentinel process of the test's own monitors the test
Redis (or a master and replica of its own, for a failover), and ragfleet reaches the master only
through it: the Redis client helper, the rate limits, and Celery publishing and consuming."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis
from fastapi.testclient import TestClient
from pydantic import SecretStr, ValidationError
from redis.sentinel import MasterNotFoundError, SentinelConnectionPool

from ragfleet.api.app import create_app
from ragfleet.embedding import Embedder
from ragfleet.errors import RateLimitedError
from ragfleet.security.ratelimit import RateLimits
from ragfleet.services import build_services
from ragfleet.settings import LimitSettings, RedisSettings, Settings
from ragfleet.telemetry.redis_client import SentinelMaster, celery_transport_options, open_redis
from ragfleet.workers.celery_app import create_celery
from ragfleet.workers.celery_queue import CeleryQueue
from ragfleet.workers.queues import INGEST_QUEUE
from tests.utils.config import make_settings
from tests.utils.documents import GUIDE_MD
from tests.utils.jobs import ingest_text
from tests.utils.servers import free_port

MASTER = "ragfleet-test"
SENTINEL_PASSWORD = "sentinel-test-password"
STARTUP_S = 20.0


def _wait(check: Callable[[], object], what: str, timeout: float = STARTUP_S) -> None:
    """Poll ``check`` until it returns true; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except redis.RedisError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{what} within {timeout} s")


class SentinelProcess:
    """``redis-server --sentinel`` on a free loopback port, password-protected, monitoring one
    master under ``MASTER`` with a quorum of 1 (it alone decides)."""

    def __init__(self, directory: Path, host: str, port: int) -> None:
        self.port = free_port()
        config = directory / f"sentinel-{self.port}.conf"
        config.write_text(
            f"port {self.port}\nbind 127.0.0.1\ndir {directory}\n"
            f"requirepass {SENTINEL_PASSWORD}\n"
            f"sentinel monitor {MASTER} {host} {port} 1\n"
            f"sentinel down-after-milliseconds {MASTER} 1000\n"
            f"sentinel failover-timeout {MASTER} 10000\n"
        )
        self._process = subprocess.Popen(
            ["redis-server", str(config), "--sentinel"], stdout=subprocess.DEVNULL
        )
        self.admin = redis.Redis(port=self.port, password=SENTINEL_PASSWORD, decode_responses=True)
        _wait(
            lambda: self.admin.sentinel_get_master_addr_by_name(MASTER),
            "the Sentinel did not answer",
        )

    def url(self, database: int) -> str:
        return f"sentinel://127.0.0.1:{self.port}/{database}"

    def master_address(self) -> tuple[str, int]:
        address = self.admin.sentinel_get_master_addr_by_name(MASTER)
        assert isinstance(address, tuple), address
        host, port = address
        assert isinstance(host, str), host  # decode_responses
        return host, int(port)

    def stop(self) -> None:
        self.admin.close()
        self._process.terminate()
        self._process.wait(timeout=10)


def _database(redis_url: str) -> int:
    return int(urlsplit(redis_url).path.strip("/") or 0)


def sentinel_settings(
    url: str, master: str = MASTER, password: str = SENTINEL_PASSWORD
) -> RedisSettings:
    return RedisSettings(url=url, sentinel_master=master, sentinel_password=SecretStr(password))


@pytest.fixture
def sentinel(tmp_path: Path, redis_url: str) -> Iterator[SentinelProcess]:
    """A Sentinel watching the test Redis (whose test database ``redis_url`` empties)."""
    master = urlsplit(redis_url)
    process = SentinelProcess(tmp_path, master.hostname or "127.0.0.1", master.port or 6379)
    yield process
    process.stop()


@pytest.fixture
def direct(redis_url: str) -> Iterator[redis.Redis]:
    """The test Redis, reached without Sentinel, to check what went through it."""
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


# --- settings ----------------------------------------------------------------------------------


def test_a_sentinel_url_without_a_master_name_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match="sentinel_master is required"):
        RedisSettings(url="sentinel://sentinel-0:26379/0")
    with pytest.raises(ValidationError, match="sentinel_master"):
        RedisSettings(url="sentinel://sentinel-0:26379/0", sentinel_master="")
    with pytest.raises(ValidationError, match="not a sentinel:// URL"):
        RedisSettings(url="redis://redis:6379/0", sentinel_master=MASTER)
    with pytest.raises(ValidationError, match="only sentinel:// URLs may be joined"):
        RedisSettings(url="sentinel://a:26379;redis://b:6379", sentinel_master=MASTER)
    with pytest.raises(ValidationError, match="port"):  # each part is a URL of its own
        RedisSettings(url="sentinel://a:26379;sentinel://b:no-port", sentinel_master=MASTER)
    # Through the environment, as in a pod: the error names the variable to add.
    monkeypatch.setenv("RAGFLEET_REDIS__URL", "sentinel://a:26379;sentinel://b:26379")
    with pytest.raises(ValidationError, match="RAGFLEET_REDIS__SENTINEL_MASTER"):
        Settings(_env_file=None)
    monkeypatch.setenv("RAGFLEET_REDIS__SENTINEL_MASTER", MASTER)
    assert Settings(_env_file=None).redis.uses_sentinel


def test_plain_urls_keep_the_plain_client_and_transport() -> None:
    settings = RedisSettings(url="redis://127.0.0.1:6379/0")
    assert not settings.uses_sentinel
    assert celery_transport_options(settings) == {}
    client = open_redis(settings)
    try:
        assert type(client) is redis.Redis
        assert client.connection_pool.connection_kwargs["socket_timeout"] == 10.0
    finally:
        client.close()
    with pytest.raises(ValueError, match="redis.url is not set"):
        open_redis(RedisSettings())


# --- the client helper -------------------------------------------------------------------------


def test_the_helper_reaches_the_master_through_sentinel(
    sentinel: SentinelProcess, direct: redis.Redis, redis_url: str
) -> None:
    client = open_redis(sentinel_settings(sentinel.url(_database(redis_url))))
    try:
        assert isinstance(client, SentinelMaster)
        assert client.set("ragfleet:sentinel-probe", "through-sentinel")
        assert direct.get("ragfleet:sentinel-probe") == b"through-sentinel"
        pool = client.connection_pool
        assert isinstance(pool, SentinelConnectionPool)
        assert pool.get_master_address() == sentinel.master_address()  # type: ignore[no-untyped-call]
    finally:
        client.close()


def test_a_dead_sentinel_in_the_list_is_skipped(
    sentinel: SentinelProcess, direct: redis.Redis, redis_url: str
) -> None:
    dead = f"sentinel://127.0.0.1:{free_port()}/{_database(redis_url)}"
    client = open_redis(sentinel_settings(f"{dead};{sentinel.url(_database(redis_url))}"))
    try:
        client.rpush("ragfleet:sentinel-list", "x")
        assert direct.llen("ragfleet:sentinel-list") == 1
    finally:
        client.close()


def test_wrong_sentinel_password_or_master_name_finds_no_master(
    sentinel: SentinelProcess, redis_url: str
) -> None:
    url = sentinel.url(_database(redis_url))
    for settings in (sentinel_settings(url, password="wrong"), sentinel_settings(url, "nope")):
        client = open_redis(settings)
        try:
            with pytest.raises(MasterNotFoundError):
                client.ping()
        finally:
            client.close()


def test_rate_limits_are_counted_on_the_master_through_sentinel(
    sentinel: SentinelProcess, redis_url: str
) -> None:
    settings = sentinel_settings(sentinel.url(_database(redis_url)))
    limits = LimitSettings(requests_per_minute=2)
    first, second = RateLimits(limits, settings), RateLimits(limits, settings)
    first.request("web")
    first.request("web")
    with pytest.raises(RateLimitedError):
        second.request("web")  # another replica, the same counters


# --- Celery -------------------------------------------------------------------------------------


def test_celery_publishes_and_a_worker_consumes_through_sentinel(
    tmp_path: Path,
    sentinel: SentinelProcess,
    direct: redis.Redis,
    redis_url: str,
    embedder: Embedder,
) -> None:
    redis_settings = {
        "url": sentinel.url(_database(redis_url)),
        "sentinel_master": MASTER,
        "sentinel_password": SENTINEL_PASSWORD,
    }
    settings = make_settings(
        tmp_path, redis=redis_settings, jobs={"retry_backoff_s": 0.05, "retry_backoff_max_s": 0.2}
    )
    options = create_celery(settings).conf.broker_transport_options
    assert options["master_name"] == MASTER
    assert options["sentinel_kwargs"]["password"] == SENTINEL_PASSWORD
    services = build_services(settings, embedder)
    try:
        assert isinstance(services.runner, CeleryQueue)
        with services.runner.app.connection_for_write() as connection:
            assert type(connection.transport).__name__ == "SentinelTransport"
        with TestClient(create_app(services=services)) as client:
            job = ingest_text(client, GUIDE_MD, source="guide")["job"]
            assert (job["status"], job["attempts"]) == ("succeeded", 1)
            assert "ragfleet_broker_up 1.0" in client.get("/metrics").text
        assert direct.llen(INGEST_QUEUE) == 0  # the task went through the master and was taken
        assert direct.exists("ragfleet:epoch")  # the worker's broker view wrote there too
    finally:
        services.close()


# --- failover -----------------------------------------------------------------------------------


class _Server:
    """A throwaway redis-server on a free port (unsaved), optionally a replica of another; its
    files (a replica's synchronisation dump) stay in ``directory``."""

    def __init__(self, directory: Path, replica_of: int | None = None) -> None:
        self.port = free_port()
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no", "--dir", str(directory)]
        command += ["--dbfilename", f"dump-{self.port}.rdb"]
        if replica_of is not None:
            command += ["--replicaof", "127.0.0.1", str(replica_of)]
        self._process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        self.client = redis.Redis(port=self.port, decode_responses=True)
        _wait(self.client.ping, f"redis-server on {self.port} did not start")

    def role(self) -> str:
        return str(self.client.role()[0])

    def stop(self) -> None:
        """SIGKILL: nothing to keep, and a master would wait for its replicas on SIGTERM."""
        self.client.close()
        self._process.kill()
        self._process.wait(timeout=10)


def _promotable(sentinel: SentinelProcess) -> bool:
    """The Sentinel learnt the replica from the master and reads it as in sync."""
    return any(
        replica["master-link-status"] == "ok" and not replica["is_sdown"]
        for replica in sentinel.admin.sentinel_slaves(MASTER)
    )


@pytest.fixture
def replicated(tmp_path: Path) -> Iterator[tuple[_Server, _Server, SentinelProcess]]:
    master = _Server(tmp_path)
    replica = _Server(tmp_path, replica_of=master.port)
    _wait(
        lambda: master.client.info("replication")["connected_slaves"] == 1,
        "the replica did not attach",
    )
    sentinel = SentinelProcess(tmp_path, "127.0.0.1", master.port)
    _wait(lambda: _promotable(sentinel), "the Sentinel did not see a healthy replica")
    yield master, replica, sentinel
    sentinel.stop()
    replica.stop()
    master.stop()


def test_a_failover_moves_the_client_to_the_new_master(
    replicated: tuple[_Server, _Server, SentinelProcess],
) -> None:
    master, replica, sentinel = replicated
    client = open_redis(sentinel_settings(sentinel.url(0)))
    try:
        client.set("before", "1")
        assert sentinel.master_address() == ("127.0.0.1", master.port)
        sentinel.admin.sentinel_failover(MASTER)
        _wait(lambda: replica.role() == "master", "the replica was not promoted")
        _wait(
            lambda: sentinel.master_address() == ("127.0.0.1", replica.port),
            "the Sentinel did not name the new master",
        )
        # Until the Sentinel turns the old master into a replica it still takes writes (the
        # window min-replicas-to-write narrows in production); after that, the same client,
        # without a restart, is refused there (READONLY), asks the Sentinel and moves over.
        _wait(lambda: master.role() == "slave", "the old master was not reconfigured")
        _wait(lambda: client.set("after", "2"), "the client did not reach the new master")
        assert replica.client.get("after") == "2"
        assert replica.client.get("before") == "1"  # replicated before the failover
    finally:
        client.close()
