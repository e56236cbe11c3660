"""The one way ragfleet opens Redis: a plain ``redis://`` URL, or the master that Redis Sentinel
names for a ``sentinel://`` URL.

Sentinel URLs follow kombu's format (several ``;``-separated; the first carries the master's
password and database), so Celery's broker and the clients opened here read one setting alike.
A Sentinel-managed client asks the Sentinels for the master's address whenever it connects, and
drops its connections when the master moves: a failover needs no restart.

It sits in telemetry, the lowest layer that reads the settings, because both the rate limits
(security) and the broker views (workers) open Redis.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit

import redis
from redis.sentinel import Sentinel, SentinelConnectionPool

from ragfleet.settings import RedisSettings

SENTINEL_PORT = 26379
HEALTH_CHECK_INTERVAL_S = 10


class SentinelMaster(redis.Redis):
    """The master of a Sentinel set; closing it also closes the connections to the Sentinels."""

    def close(self) -> None:
        try:
            super().close()
        finally:
            pool = self.connection_pool
            if isinstance(pool, SentinelConnectionPool):
                pool.sentinel_manager.close()


def _sentinel_kwargs(settings: RedisSettings, timeout_s: float) -> dict[str, Any]:
    """How to reach the Sentinels themselves: their password, and the same timeouts."""
    options: dict[str, Any] = {"socket_timeout": timeout_s, "socket_connect_timeout": timeout_s}
    if settings.sentinel_password is not None:
        options["password"] = settings.sentinel_password.get_secret_value()
    return options


def celery_transport_options(settings: RedisSettings) -> dict[str, Any]:
    """What kombu's Sentinel transport needs beyond the URL; nothing for plain Redis."""
    if not settings.uses_sentinel:
        return {}
    return {
        "master_name": settings.sentinel_master,
        "sentinel_kwargs": _sentinel_kwargs(settings, settings.socket_timeout_s),
    }


def _open_sentinel_master(
    url: str, master: str, settings: RedisSettings, options: dict[str, Any]
) -> redis.Redis:
    parts = [urlsplit(part) for part in url.split(";")]
    first = parts[0]
    database = first.path.strip("/")
    sentinel = Sentinel(  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
        [(part.hostname or "127.0.0.1", part.port or SENTINEL_PORT) for part in parts],
        sentinel_kwargs=_sentinel_kwargs(settings, options["socket_timeout"]),
        db=int(database) if database else 0,
        username=unquote(first.username) if first.username else None,
        password=unquote(first.password) if first.password else None,
        **options,
    )
    client: SentinelMaster = sentinel.master_for(  # type: ignore[no-untyped-call]
        master, redis_class=SentinelMaster
    )
    return client


def open_redis(settings: RedisSettings, timeout_s: float | None = None) -> redis.Redis:
    """A client of the Redis master; ``timeout_s`` overrides ``socket_timeout_s``."""
    if not settings.url:
        raise ValueError("redis.url is not set")
    timeout = timeout_s or settings.socket_timeout_s
    options: dict[str, Any] = {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "health_check_interval": HEALTH_CHECK_INTERVAL_S,
    }
    if settings.sentinel_master:  # set exactly when the URL is sentinel:// (validated)
        return _open_sentinel_master(settings.url, settings.sentinel_master, settings, options)
    return redis.Redis.from_url(settings.url, **options)
