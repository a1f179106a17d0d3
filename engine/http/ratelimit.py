"""Per-IP token buckets for claims (off unless ``--rate-limit-per-ip`` is set).

Each client IP owns a bucket of ``burst`` tokens refilled at ``rate_per_s``; a claim takes one
token or is refused with 429 before it reaches the engine (so it records nothing and may be retried
under the same request id). The clock is a parameter: the server passes ``time.monotonic()``.
The number of buckets is bounded; the least recently used ones are dropped first.
"""

from __future__ import annotations

import math


class TokenBuckets:
    """Token buckets keyed by client IP. Not thread-safe: the event loop thread owns it."""

    __slots__ = ("_buckets", "burst", "max_clients", "rate_per_s")

    def __init__(self, rate_per_s: float, burst: float | None = None, max_clients: int = 100_000):
        if rate_per_s <= 0:
            raise ValueError(f"rate_per_s = {rate_per_s!r}: expected > 0")
        self.rate_per_s = rate_per_s
        self.burst = burst if burst is not None else max(1.0, rate_per_s)
        self.max_clients = max_clients
        self._buckets: dict[str, tuple[float, float]] = {}  # ip -> (tokens, updated_s)

    def take(self, client: str, now_s: float) -> float:
        """0.0 if ``client`` may go now (a token is taken), else seconds until a token is due."""
        tokens, updated_s = self._buckets.pop(client, (self.burst, now_s))
        tokens = min(self.burst, tokens + (now_s - updated_s) * self.rate_per_s)
        wait_s = 0.0
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait_s = (1.0 - tokens) / self.rate_per_s
        self._buckets[client] = (tokens, now_s)  # re-inserted: dict order is recency order
        if len(self._buckets) > self.max_clients:
            del self._buckets[next(iter(self._buckets))]
        return wait_s


def retry_after_s(wait_s: float) -> int:
    """The ``Retry-After`` header value (whole seconds, at least 1)."""
    return max(1, math.ceil(wait_s))
