"""Read-only views of the Celery queues in Redis, plus a small debounce lock.

The Redis transport keeps each queue as a list: producers ``LPUSH``, workers ``BRPOP``, so the
oldest waiting task is the last element. Its ``enqueued_at`` header (set by
``queues.publish_jobs``) gives the age of the oldest waiting task.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import redis

from ragfleet.errors import DependencyError
from ragfleet.settings import RedisSettings
from ragfleet.telemetry.redis_client import open_redis


class Broker:
    def __init__(self, settings: RedisSettings, timeout_s: float | None = None) -> None:
        self.client = open_redis(settings, timeout_s)

    def depth(self, queue: str) -> int:
        try:
            return int(self.client.llen(queue))
        except redis.RedisError as exc:
            raise DependencyError("redis", str(exc)) from exc

    def oldest_enqueued_at(self, queue: str) -> datetime | None:
        """When the oldest waiting task was published; None for an empty queue."""
        try:
            raw = self.client.lindex(queue, -1)
        except redis.RedisError as exc:
            raise DependencyError("redis", str(exc)) from exc
        if raw is None:
            return None
        try:
            return datetime.fromtimestamp(float(json.loads(raw)["headers"]["enqueued_at"]), UTC)
        except (ValueError, KeyError, TypeError):
            return None

    def oldest_age_s(self, queue: str) -> float:
        """Seconds the oldest waiting task has waited; 0 for an empty queue."""
        enqueued = self.oldest_enqueued_at(queue)
        return 0.0 if enqueued is None else max(0.0, (datetime.now(UTC) - enqueued).total_seconds())

    def claim(self, key: str, ttl_s: int) -> bool:
        """True for the first caller until ``release`` or ``ttl_s`` (debounces repeated work)."""
        try:
            return bool(self.client.set(f"ragfleet:{key}", "1", nx=True, ex=ttl_s))
        except redis.RedisError as exc:
            raise DependencyError("redis", str(exc)) from exc

    def release(self, key: str) -> None:
        try:
            self.client.delete(f"ragfleet:{key}")
        except redis.RedisError as exc:
            raise DependencyError("redis", str(exc)) from exc

    def mark_epoch(self) -> bool:
        """Leave a marker in Redis; True when it was missing, i.e. Redis started empty (first
        use, or a restart without persistence that lost every waiting task)."""
        try:
            return bool(self.client.set("ragfleet:epoch", "1", nx=True))
        except redis.RedisError as exc:
            raise DependencyError("redis", str(exc)) from exc

    def check(self) -> None:
        try:
            self.client.ping()
        except redis.RedisError as exc:
            raise DependencyError("redis", str(exc)) from exc

    def close(self) -> None:
        self.client.close()
