"""A per-key token bucket with bounded memory, for the public endpoints: requests per minute from
an address, and bytes per day of photos from the public as a whole."""

from __future__ import annotations

import time
from collections import OrderedDict

from hub.store.redislink import close_quietly, connect

MAX_KEYS = 10_000
"""Keys remembered; the least recently seen are forgotten first (they had full buckets anyway)."""


class RateLimiter:
    """Allows ``per_minute`` requests per key (or ``per_minute`` units per ``window_s``), refilling continuously."""

    def __init__(self, per_minute: int, max_keys: int = MAX_KEYS, window_s: float = 60.0) -> None:
        self.capacity = float(per_minute)
        self.refill_per_s = per_minute / window_s
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self.refused = 0
        """Requests refused so far."""

    def check(self, key: str, now: float | None = None, cost: float = 1.0) -> float:
        """0 when allowed (and counted); otherwise seconds until ``cost`` would be."""
        now = time.monotonic() if now is None else now
        tokens, last = self._buckets.pop(key, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - last) * self.refill_per_s)
        if tokens >= cost:
            self._buckets[key] = (tokens - cost, now)
            wait = 0.0
        else:
            self._buckets[key] = (tokens, now)
            self.refused += 1
            wait = (cost - tokens) / self.refill_per_s
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        return wait


# The same bucket as RateLimiter, kept in Redis and updated atomically, timed by Redis's own clock.
# Returns the milliseconds to wait (0: allowed and counted).
_BUCKET_LUA = """
local cap = tonumber(ARGV[1])
local per_ms = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(b[1]) or cap
local ts = tonumber(b[2]) or now
tokens = math.min(cap, tokens + math.max(0, now - ts) * per_ms)
local wait = 0
if tokens >= cost then tokens = tokens - cost else wait = math.ceil((cost - tokens) / per_ms) end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(cap / per_ms) + 1000)
return wait
"""


class SharedRateLimiter:
    """:class:`RateLimiter`'s buckets in Redis, so every hub node counts against one limit.

    When Redis cannot answer (within ``timeout_s``), the request is judged by this node's own
    buckets instead: still limited, only per node until Redis is back.
    """

    def __init__(
        self, url: str, prefix: str, per_minute: int, timeout_s: float = 0.5, window_s: float = 60.0, name: str = "rate"
    ) -> None:
        self.url = url
        self.prefix = f"{prefix}:{name}:"
        self.capacity = per_minute
        self.per_ms = per_minute / (window_s * 1000.0)
        self.local = RateLimiter(per_minute, window_s=window_s)
        self.errors = 0
        """Checks Redis could not answer (judged locally instead)."""
        self.refused = 0
        """Requests refused so far (by either judge)."""
        self._client = connect(url, timeout_s)
        self._script = self._client.register_script(_BUCKET_LUA)

    async def check(self, key: str, cost: float = 1.0) -> float:
        """0 when allowed (and counted); otherwise seconds until ``cost`` would be."""
        try:
            wait_ms = int(await self._script(keys=[self.prefix + key], args=[self.capacity, self.per_ms, cost]))
        except Exception:  # Redis down or slow: this node's own buckets decide
            self.errors += 1
            wait = self.local.check(key, cost=cost)
        else:
            wait = wait_ms / 1000.0
        if wait > 0:
            self.refused += 1
        return wait

    async def aclose(self) -> None:
        """Close the connection pool (bounded; never raises)."""
        await close_quietly(self._client, self.url)
