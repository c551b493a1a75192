"""Fault injection per route: delay and abort, each with a percentage (layer: proxy, no I/O).

A fault applies to a call when the call's metadata satisfies its ``when`` conditions (none: every
call) and a draw from the proxy's random source falls under its percentage. The random source is
passed in, so a test seeds it and a count of injected faults is exact for that seed. Delay is
decided first, then abort, each with its own draw (Envoy's order: a delayed call may still abort).

>>> import random
>>> f = Faults(abort=AbortFault(percent=50.0, error="injected"))
>>> rng = random.Random(1)
>>> sum(f.decide(rng, None)[1] is not None for _ in range(10000)) / 100   # about 50 percent
50.23
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .routing import LazyMetadata, StringMatch

__all__ = ["DelayFault", "AbortFault", "Faults"]

Conditions = tuple[tuple[str, "StringMatch | None"], ...]


@dataclass(frozen=True)
class DelayFault:
    """Hold the call ``seconds`` before forwarding it, for ``percent`` of the calls."""

    percent: float
    seconds: float
    when: Conditions = ()


@dataclass(frozen=True)
class AbortFault:
    """Answer ``percent`` of the calls with the rpcx error ``error`` instead of forwarding them."""

    percent: float
    error: str = "fault injected"
    when: Conditions = ()


@dataclass(frozen=True)
class Faults:
    delay: DelayFault | None = None
    abort: AbortFault | None = None

    def __bool__(self) -> bool:
        return self.delay is not None or self.abort is not None

    def decide(self, rng: random.Random, md: "LazyMetadata | None") -> tuple[float | None, str | None]:
        """``(delay seconds or None, abort error text or None)`` for one call."""
        from .routing import metadata_condition_holds

        delay: float | None = None
        abort: str | None = None
        d = self.delay
        if d is not None and (not d.when or (md is not None and metadata_condition_holds(d.when, md))):
            if rng.random() * 100.0 < d.percent:
                delay = d.seconds
        a = self.abort
        if a is not None and (not a.when or (md is not None and metadata_condition_holds(a.when, md))):
            if rng.random() * 100.0 < a.percent:
                abort = a.error
        return delay, abort
