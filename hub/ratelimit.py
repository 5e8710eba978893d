"""A per-key token bucket with bounded memory, for the public endpoints."""

from __future__ import annotations

import time
from collections import OrderedDict

MAX_KEYS = 10_000
"""Keys remembered; the least recently seen are forgotten first (they had full buckets anyway)."""


class RateLimiter:
    """Allows ``per_minute`` requests per key, refilling continuously."""

    def __init__(self, per_minute: int, max_keys: int = MAX_KEYS) -> None:
        self.capacity = float(per_minute)
        self.refill_per_s = per_minute / 60.0
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self.refused = 0
        """Requests refused so far."""

    def check(self, key: str, now: float | None = None) -> float:
        """0 when allowed (and counted); otherwise seconds until the next request would be."""
        now = time.monotonic() if now is None else now
        tokens, last = self._buckets.pop(key, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - last) * self.refill_per_s)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            wait = 0.0
        else:
            self._buckets[key] = (tokens, now)
            self.refused += 1
            wait = (1.0 - tokens) / self.refill_per_s
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        return wait
