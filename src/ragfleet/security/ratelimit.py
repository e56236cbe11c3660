"""Rate limits and quotas per API key, and failed-authentication throttling per client address.

Counters live in Redis when ``redis.url`` is set (through Sentinel for a ``sentinel://`` URL),
so every API replica shares them, and in the process otherwise. Requests use a sliding window;
the daily token quota a fixed window that counts every answer in full (an answer that crosses
the quota is served, the next is refused). If the counter store fails, requests are let through
and the failure is logged and counted: an outage of Redis must not take the API down with it.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

from limits import RateLimitItem, RateLimitItemPerDay, RateLimitItemPerMinute
from limits.storage import MemoryStorage, RedisStorage, Storage
from limits.strategies import (
    FixedWindowRateLimiter,
    RateLimiter,
    SlidingWindowCounterRateLimiter,
)

from ragfleet.errors import RateLimitedError
from ragfleet.settings import LimitSettings, RedisSettings
from ragfleet.telemetry import metrics
from ragfleet.telemetry.redis_client import open_redis

logger = logging.getLogger(__name__)

KEY_PREFIX = "ragfleet-limits"


def _per_minute(amount: int) -> RateLimitItem | None:
    return RateLimitItemPerMinute(amount, namespace=KEY_PREFIX) if amount else None


def _storage(redis: RedisSettings | None) -> Storage:
    """Redis (plain or through Sentinel) when configured, else this process's memory."""
    if redis is None or not redis.url:
        return MemoryStorage()
    # The storage takes the pool as it is; the URL only tells it the server is Redis.
    return RedisStorage("redis://", connection_pool=open_redis(redis).connection_pool)


class RateLimits:
    def __init__(self, settings: LimitSettings, redis: RedisSettings | None = None) -> None:
        storage = _storage(redis)
        self._sliding = SlidingWindowCounterRateLimiter(storage)
        self._fixed = FixedWindowRateLimiter(storage)
        self._requests = _per_minute(settings.requests_per_minute)
        self._failures = _per_minute(settings.auth_failures_per_minute)
        self._tokens = (
            RateLimitItemPerDay(settings.tokens_per_day, namespace=KEY_PREFIX)
            if settings.tokens_per_day
            else None
        )

    def _guarded(self, call: Callable[[], bool]) -> bool:
        """The limiter's answer, or True (let through) when its store fails."""
        try:
            return call()
        except Exception as exc:  # the store's client raises its own errors
            metrics.RATE_LIMIT_ERRORS.inc()
            logger.warning("rate limit store failed, letting the request through: %s", exc)
            return True

    @staticmethod
    def _refuse(
        limiter: RateLimiter, item: RateLimitItem, limit: str, *identifiers: str
    ) -> RateLimitedError:
        try:
            reset = limiter.get_window_stats(item, *identifiers).reset_time
        except Exception:  # the store failed between the check and here
            reset = time.time() + 1
        retry_after = max(1, math.ceil(reset - time.time()))
        return RateLimitedError(f"{limit} exceeded; retry in {retry_after} s", retry_after)

    def request(self, tenant: str) -> None:
        """Count one request of ``tenant``'s key; ``RateLimitedError`` when over the rate."""
        item = self._requests
        if item and not self._guarded(lambda: self._sliding.hit(item, "requests", tenant)):
            metrics.RATE_LIMITED.labels(tenant, "requests").inc()
            raise self._refuse(self._sliding, item, "request rate limit", "requests", tenant)

    def check_tokens(self, tenant: str) -> None:
        """Refuse an answer when ``tenant`` has spent its daily LLM token quota."""
        item = self._tokens
        if item and not self._guarded(lambda: self._fixed.test(item, "tokens", tenant)):
            metrics.RATE_LIMITED.labels(tenant, "tokens").inc()
            raise self._refuse(self._fixed, item, "daily LLM token quota", "tokens", tenant)

    def spend_tokens(self, tenant: str, tokens: int) -> None:
        item = self._tokens
        if item and tokens > 0:
            self._guarded(lambda: self._fixed.hit(item, "tokens", tenant, cost=tokens))

    def check_address(self, address: str) -> None:
        """Refuse an address that failed authentication too often in the last minute."""
        item = self._failures
        if item and not self._guarded(lambda: self._sliding.test(item, "auth", address)):
            raise self._refuse(
                self._sliding, item, "too many failed authentications", "auth", address
            )

    def auth_failed(self, address: str) -> None:
        metrics.AUTH_FAILURES.inc()
        item = self._failures
        if item:
            self._guarded(lambda: self._sliding.hit(item, "auth", address))
