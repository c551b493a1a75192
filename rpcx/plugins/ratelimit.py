"""Rate limiting per server, service or method with token buckets (layer: server plugins).

Rule: every call takes a token from its bucket; a call that finds none fails with Go's error text
``request reached rate limit`` (``server.ErrReqReachLimit``) as an error reply, and the connection
stays open, as Go. A oneway call is dropped without a reply. This is a ``pre_call`` hook, so the
server's fast path is off while the plugin is added. The token bucket is sans-IO (the clock is
injected).
"""

from __future__ import annotations

import time
from typing import Any, Callable, Literal, Mapping

from ..errors import RpcxError

__all__ = ["TokenBucket", "RateLimit", "RateLimitedError", "RATE_LIMITED"]

#: Go's ``server.ErrReqReachLimit`` text
RATE_LIMITED = "request reached rate limit"


class RateLimitedError(RpcxError):
    """A call was refused by a rate limit."""


class TokenBucket:
    """``capacity`` tokens, refilled at ``rate`` per second.

    >>> t = [0.0]; b = TokenBucket(rate=2, capacity=2, clock=lambda: t[0])
    >>> [b.take() for _ in range(3)]
    [True, True, False]
    >>> t[0] = 0.5; b.take(), b.take()
    (True, False)
    """

    def __init__(self, rate: float, capacity: int, clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0 or capacity < 1:
            raise ValueError(f"TokenBucket needs rate > 0 and capacity >= 1, got {rate}, {capacity}")
        self.rate = rate
        self.capacity = capacity
        self._clock = clock
        self._tokens = float(capacity)
        self._at = clock()

    def take(self) -> bool:
        """Take one token if there is one."""
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False


class RateLimit:
    """Limit calls to ``rate`` per second with bursts of ``burst``, one bucket per server, per service
    or per method (``per``); ``limits`` sets other ``(rate, burst)`` for named services
    (``"Arith"``) or methods (``"Arith.Mul"``), which then get their own bucket.

    >>> t = [0.0]; rl = RateLimit(1, 1, per="method", limits={"Arith.Add": (100, 5)}, clock=lambda: t[0])
    >>> rl.allows("Arith", "Mul"), rl.allows("Arith", "Mul"), rl.allows("Arith", "Add"), rl.allows("Echo", "Say")
    (True, False, True, True)
    """

    def __init__(
        self, rate: float, burst: int, *, per: Literal["server", "service", "method"] = "method",
        limits: Mapping[str, tuple[float, int]] | None = None, clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if per not in ("server", "service", "method"):
            raise ValueError(f"RateLimit per must be 'server', 'service' or 'method', got {per!r}")
        TokenBucket(rate, burst)  # check the numbers now
        self.rate = rate
        self.burst = burst
        self.per = per
        self.limits = dict(limits or {})
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}

    def _bucket(self, service: str, method: str) -> TokenBucket:
        full = f"{service}.{method}"
        if full in self.limits:
            key, (rate, burst) = full, self.limits[full]
        elif service in self.limits:
            key, (rate, burst) = service, self.limits[service]
        else:
            key = "" if self.per == "server" else service if self.per == "service" else full
            rate, burst = self.rate, self.burst
        b = self._buckets.get(key)
        if b is None:
            b = self._buckets[key] = TokenBucket(rate, burst, self._clock)
        return b

    def allows(self, service: str, method: str) -> bool:
        """Take a token for a call of ``service.method``; False when its bucket is empty."""
        return self._bucket(service, method).take()

    def pre_call(self, ctx: Any, service: str, method: str, args: Any) -> Any:
        if not self.allows(service, method):
            raise RateLimitedError(RATE_LIMITED)
        return args
