"""Per-connection rate limiting: a token bucket. No I/O; the clock is passed in."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RateLimit:
    """`rate` frames per second on average, bursts of up to `burst` frames."""

    rate: float
    burst: int


class TokenBucket:
    def __init__(self, limit: RateLimit, now: float) -> None:
        self._limit = limit
        self._tokens = float(limit.burst)
        self._updated = now

    def take(self, now: float) -> bool:
        """Spend one token if there is one; False means the frame is over the limit."""
        self._tokens = min(self._limit.burst, self._tokens + (now - self._updated) * self._limit.rate)
        self._updated = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True
