"""ReconnectPolicy: when a client tries a hub again after failed attempts. No I/O; random and clock injectable."""

from __future__ import annotations

import random
import time
from collections.abc import Callable


class ReconnectPolicy:
    """When to try a hub again after failed attempts: exponential backoff with jitter.

    After the n-th failure in a row it waits `d/2 + random(0, d/2)` seconds, `d = base * 2**(n-1)`
    up to `cap` ("equal jitter": at least half, so a restarted hub is not hit by all at once),
    and never less than the hub's retryAfter. `random` (in [0, 1]) and `clock` are injectable.
    """

    def __init__(
        self, base: float = 0.5, cap: float = 30.0, *,
        random: Callable[[], float] = random.random, clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base = base
        self.cap = cap
        self.failures = 0  # attempts failed in a row
        self._random = random
        self._clock = clock
        self._due = clock()

    def reset(self) -> None:
        """An attempt worked (or a new run begins): the next wait is short again."""
        self.failures = 0

    def failed(self, retry_after: float | None = None) -> float:
        """Count one failed attempt; return the seconds to wait before the next."""
        ceiling = min(self.cap, self.base * 2.0 ** min(self.failures, 64))  # bounded: no overflow on a long outage
        self.failures += 1
        wait = max(retry_after or 0.0, ceiling / 2 + self._random() * ceiling / 2)
        self._due = self._clock() + wait
        return wait

    def time_left(self) -> float:
        """Seconds until the next attempt is due, by the policy's clock (0 once it is)."""
        return max(0.0, self._due - self._clock())


def seconds_text(wait: float) -> str:
    """A wait as people read it: 0.3, 1, 12."""
    return f"{wait:.1f}".removesuffix(".0") if wait < 10 else f"{wait:.0f}"
