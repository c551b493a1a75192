"""A circuit breaker per server (layer: client, sans-IO: the clock is injected).

Rule: the breaker opens after ``failures`` consecutive failed attempts, or when, over the last
``window`` seconds with at least ``min_calls`` attempts, the share that failed reaches
``error_rate``. Open, it refuses every attempt (Go's text ``breaker open``) until ``cooldown`` has
passed; then it is half-open and lets exactly one trial attempt through: success closes it, failure
opens it for another cool-down.

What counts as a failure differs from Go on purpose: Go's breaker (``ConsecCircuitBreaker``, wired
around ``XClient``'s dial) counts only failed dials; this one also counts calls that failed on an
open connection (connection lost, call timed out). A service error is an answer, so it counts as a
success; a cancellation, a codec error or a bug count as neither.
"""

from __future__ import annotations

import enum
import time
from collections import deque
from typing import Callable

from ..errors import RpcxError
from .selector import Outcome

__all__ = ["BreakerState", "CircuitBreaker", "BreakerOpenError", "BREAKER_OPEN"]

#: Go's ``ErrBreakerOpen`` text
BREAKER_OPEN = "breaker open"

_FAILED = frozenset({Outcome.DIAL_ERROR, Outcome.CONNECTION_ERROR, Outcome.TIMEOUT})
_ANSWERED = frozenset({Outcome.SUCCESS, Outcome.SERVICE_ERROR})


class BreakerOpenError(RpcxError):
    """The server's circuit breaker is open: the call was not sent (Go: ``breaker open``)."""


class BreakerState(enum.Enum):
    """A breaker's state."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """One server's breaker.

    >>> t = [0.0]; b = CircuitBreaker(failures=2, cooldown=5.0, clock=lambda: t[0])
    >>> b.record(Outcome.DIAL_ERROR); b.record(Outcome.TIMEOUT); b.state.name, b.allow()
    ('OPEN', False)
    >>> t[0] = 5.0; b.allow(), b.state.name, b.allow()
    (True, 'HALF_OPEN', False)
    >>> b.record(Outcome.SUCCESS); b.state.name
    'CLOSED'
    """

    def __init__(
        self, *, failures: int = 5, window: float = 10.0, error_rate: float = 0.5, min_calls: int = 20,
        cooldown: float = 5.0, clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failures < 1 or min_calls < 1 or not 0 < error_rate <= 1 or window <= 0 or cooldown < 0:
            raise ValueError("CircuitBreaker needs failures >= 1, min_calls >= 1, 0 < error_rate <= 1, "
                             "window > 0 and cooldown >= 0")
        self.failures = failures
        self.window = window
        self.error_rate = error_rate
        self.min_calls = min_calls
        self.cooldown = cooldown
        self._clock = clock
        self._state = BreakerState.CLOSED
        self._consecutive = 0
        #: (time, failed) of the attempts within the window
        self._recent: deque[tuple[float, bool]] = deque()
        self._opened_at = 0.0
        self._trial = False  # half-open: the one trial attempt is in flight

    @property
    def state(self) -> BreakerState:
        """The state now (an open breaker whose cool-down has passed reads as half-open)."""
        if self._state is BreakerState.OPEN and self._clock() - self._opened_at >= self.cooldown:
            return BreakerState.HALF_OPEN
        return self._state

    def allow(self) -> bool:
        """Whether an attempt may go to the server now; a half-open breaker lets one through."""
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.HALF_OPEN and not self._trial:
            self._state = BreakerState.HALF_OPEN
            self._trial = True
            return True
        return False

    def record(self, outcome: Outcome) -> None:
        """How an attempt that :meth:`allow` let through ended."""
        if outcome in _ANSWERED:
            failed = False
        elif outcome in _FAILED:
            failed = True
        else:
            self._trial = False  # neither: a half-open breaker lets the next attempt try
            return
        if self._state is BreakerState.HALF_OPEN:
            self._trial = False
            if failed:
                self._open()
            else:
                self._close()
            return
        now = self._clock()
        self._recent.append((now, failed))
        while self._recent and self._recent[0][0] <= now - self.window:
            self._recent.popleft()
        self._consecutive = self._consecutive + 1 if failed else 0
        if self._state is not BreakerState.CLOSED:
            return
        if self._consecutive >= self.failures:
            self._open()
        elif len(self._recent) >= self.min_calls:
            bad = sum(1 for _, f in self._recent if f)
            if bad / len(self._recent) >= self.error_rate:
                self._open()

    def _open(self) -> None:
        self._state = BreakerState.OPEN
        self._opened_at = self._clock()

    def _close(self) -> None:
        self._state = BreakerState.CLOSED
        self._consecutive = 0
        self._recent.clear()
