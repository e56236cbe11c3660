"""Retry delays shared by outbound HTTP and job retries."""

from __future__ import annotations

import random


def full_jitter(attempt: int, base_s: float, cap_s: float) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base * 2**attempt)], so
    clients that failed together do not retry together."""
    return random.uniform(0, min(cap_s, base_s * 2**attempt))
