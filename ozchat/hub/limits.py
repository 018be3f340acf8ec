"""Rate limits per connection and per client address. No I/O; the clock is passed in.

Every check answers None (go ahead, the budget is spent) or the seconds until it would pass,
which the hub hands on as a retry-after hint.
"""

from __future__ import annotations

import functools
import ipaddress
import math
from collections import deque
from collections.abc import Collection
from dataclasses import dataclass

from ..addresses import bare_host

_FORGET_EVERY = 60.0  # seconds between sweeps of addresses whose budgets are whole again


@dataclass(frozen=True)
class RateLimit:
    """`rate` frames per second on average, bursts of up to `burst` frames."""

    rate: float
    burst: int


@dataclass(frozen=True)
class WindowLimit:
    """At most `count` events in any `window` seconds."""

    count: int
    window: float


class TokenBucket:
    def __init__(self, limit: RateLimit, now: float) -> None:
        self._limit = limit
        self._tokens = float(limit.burst)
        self._updated = now

    def _refill(self, now: float) -> None:
        self._tokens = min(self._limit.burst, self._tokens + max(0.0, now - self._updated) * self._limit.rate)
        self._updated = max(self._updated, now)

    def take(self, now: float) -> bool:
        """Spend one token if there is one; False means the frame is over the limit."""
        return self.wait(now) is None

    def wait(self, now: float) -> float | None:
        """Spend one token and answer None, or answer the seconds until there is one."""
        self._refill(now)
        if self._tokens < 1:
            return (1 - self._tokens) / self._limit.rate
        self._tokens -= 1
        return None

    def full(self, now: float) -> bool:
        self._refill(now)
        return self._tokens >= self._limit.burst


class SlidingWindow:
    """Counts events in the last `window` seconds, exactly: one timestamp per event kept."""

    def __init__(self, limit: WindowLimit) -> None:
        self._limit = limit
        self._times: deque[float] = deque()

    def _expire(self, now: float) -> None:
        while self._times and self._times[0] <= now - self._limit.window:
            self._times.popleft()

    def wait(self, now: float) -> float | None:
        """Count one event and answer None, or answer the seconds until one more would fit."""
        self._expire(now)
        if len(self._times) >= self._limit.count:
            return self._times[len(self._times) - self._limit.count] + self._limit.window - now
        self._times.append(now)
        return None

    def give_back(self, then: float) -> None:
        """Forget an event counted at `then` that turned out not to count (if it has not expired already)."""
        if then in self._times:
            self._times.remove(then)

    def empty(self, now: float) -> bool:
        self._expire(now)
        return not self._times


@dataclass(frozen=True)
class AddressLimits:
    """What one client address may do; None lifts that limit."""

    frames: RateLimit | None = None  # every frame of every connection, those before the hello too
    connections: WindowLimit | None = None  # WebSocket handshakes
    joins: WindowLimit | None = None  # hellos
    new_lines: WindowLimit | None = None  # hellos to a line the hub has never seen


class _AddressBudget:
    def __init__(self, limits: AddressLimits, now: float) -> None:
        self.frames = TokenBucket(limits.frames, now) if limits.frames else None
        self.connections = SlidingWindow(limits.connections) if limits.connections else None
        self.joins = SlidingWindow(limits.joins) if limits.joins else None
        self.new_lines = SlidingWindow(limits.new_lines) if limits.new_lines else None

    def whole(self, now: float) -> bool:
        """Nothing spent that has not come back: forgetting this address changes nothing."""
        return (self.frames is None or self.frames.full(now)) and all(
            window is None or window.empty(now) for window in (self.connections, self.joins, self.new_lines)
        )


class AddressLimiter:
    """The budgets of every client address, kept while any of them is partly spent."""

    def __init__(self, limits: AddressLimits) -> None:
        self.limits = limits
        self._budgets: dict[str, _AddressBudget] = {}
        self._swept = -math.inf

    def __len__(self) -> int:
        return len(self._budgets)

    def _budget(self, address: str, now: float) -> _AddressBudget:
        if now - self._swept >= _FORGET_EVERY:
            self._swept = now
            for idle in [key for key, budget in self._budgets.items() if budget.whole(now)]:
                del self._budgets[idle]
        budget = self._budgets.get(address)
        if budget is None:
            budget = self._budgets[address] = _AddressBudget(self.limits, now)
        return budget

    def frame(self, address: str, now: float) -> float | None:
        bucket = self._budget(address, now).frames
        return None if bucket is None else bucket.wait(now)

    def connection(self, address: str, now: float) -> float | None:
        window = self._budget(address, now).connections
        return None if window is None else window.wait(now)

    def join(self, address: str, now: float) -> float | None:
        window = self._budget(address, now).joins
        return None if window is None else window.wait(now)

    def new_line(self, address: str, now: float) -> float | None:
        window = self._budget(address, now).new_lines
        return None if window is None else window.wait(now)

    def give_back(self, address: str, joined_at: float, new_line_at: float | None) -> None:
        """Forget a hello counted as a join at `joined_at` (and a new line at `new_line_at`) that was not admitted."""
        budget = self._budgets.get(address)
        if budget is None:
            return
        if budget.joins is not None:
            budget.joins.give_back(joined_at)
        if budget.new_lines is not None and new_line_at is not None:
            budget.new_lines.give_back(new_line_at)


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        parsed = ipaddress.ip_address(bare_host(text.strip()))
    except ValueError:
        return None
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        return parsed.ipv4_mapped
    return parsed


def _trusted(address: str, proxies: Collection[Network]) -> bool:
    ip = _ip(address)
    return ip is not None and any(ip in network for network in proxies)


def client_address(peer: str, forwarded_for: list[str], trusted_proxies: Collection[Network]) -> str:
    """The address a client is limited by.

    Behind a trusted proxy that is the nearest untrusted address in X-Forwarded-For (each proxy
    appends the address it got the request from). IPv6 clients count by their /64 network,
    since one host is commonly given a whole /64.
    """
    address = peer
    if trusted_proxies and _trusted(peer, trusted_proxies):
        hops = [hop.strip() for header in forwarded_for for hop in header.split(",") if hop.strip()]
        while hops:
            address = hops.pop()
            if not _trusted(address, trusted_proxies):
                break
    return _counted_as(address)


@functools.lru_cache(maxsize=4096)
def _counted_as(address: str) -> str:
    """An address as the limits count it (parsed once per address, not once per connection: a crowd shares few)."""
    ip = _ip(address)
    if ip is None:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)
