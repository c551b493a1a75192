"""Outlier ejection per cluster, Envoy style (layer: proxy; plain Python, no I/O).

Each server of a cluster with ``outlier`` set keeps a count of its consecutive errors and its calls
and errors in the current window. A server is **ejected** (no call is sent to it) when

- ``consecutive_errors`` calls in a row ended in an error (0 turns this off), or
- in a window of ``window`` seconds with at least ``min_calls`` calls, the share of errors
  reached ``error_rate`` (not set: off);

unless that would eject more than ``max_ejection_percent`` of the cluster's servers (at least one
may always be ejected, as in Envoy). It stays out for ``base_ejection_time`` times the number of
times it has been ejected (capped at ``max_ejection_time``), then comes back with its counts
cleared; every ``base_ejection_time`` it then goes without being ejected takes one off that number.
What counts as an error is ``errors``: by default ``service_error`` (the server answered with an
error), ``dial_error``, ``connection_error`` and ``timeout``.

When every server a call could go to is ejected, it goes to an ejected one anyway (Envoy's panic
routing: ejecting the last servers would only turn errors into "no server").

>>> from rpcx.client.selector import Outcome
>>> d = OutlierDetector(OutlierConfig(consecutive_errors=2, base_ejection_time=30))
>>> d.record("a", Outcome.SERVICE_ERROR, 0.0, servers=2), d.record("a", Outcome.SERVICE_ERROR, 1.0, servers=2)
(False, True)
>>> d.is_ejected("a", 2.0), d.is_ejected("a", 31.0)
(True, False)
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

from ..client.selector import Outcome

__all__ = ["OutlierConfig", "OutlierDetector", "HostStats", "ERROR_KINDS"]

log = logging.getLogger("rpcx.proxy")

#: outcomes that may count as errors (``errors:`` in the config names them)
ERROR_KINDS = {o.value: o for o in (Outcome.SERVICE_ERROR, Outcome.DIAL_ERROR, Outcome.CONNECTION_ERROR,
                                    Outcome.TIMEOUT)}


@dataclass(frozen=True)
class OutlierConfig:
    """When to eject a server and for how long (see the module docstring)."""

    consecutive_errors: int = 5
    error_rate: float | None = None
    window: float = 10.0
    min_calls: int = 10
    base_ejection_time: float = 30.0
    max_ejection_time: float = 300.0
    max_ejection_percent: float = 10.0
    errors: frozenset[str] = frozenset(ERROR_KINDS)


class HostStats:
    """One server's counts and ejection state."""

    __slots__ = ("consecutive", "window_start", "window_calls", "window_errors", "ejected_until", "times",
                 "returned_at", "ejections_total", "last_ejection_time")

    def __init__(self, now: float) -> None:
        self.consecutive = 0
        self.window_start = now
        self.window_calls = 0
        self.window_errors = 0
        self.ejected_until: float | None = None
        #: the multiplier of the next ejection time, less what good behaviour took off
        self.times = 0
        self.returned_at = now
        self.ejections_total = 0
        #: how long the last ejection was for (seconds)
        self.last_ejection_time = 0.0

    def is_ejected(self, now: float) -> bool:
        return self.ejected_until is not None and now < self.ejected_until

    def view(self, now: float) -> dict[str, Any]:
        """What ``/clusters`` shows."""
        ejected = self.is_ejected(now)
        return {"ejected": ejected, "ejected_for": round(self.ejected_until - now, 3) if ejected and
                self.ejected_until is not None else 0.0,
                "ejections": self.ejections_total, "last_ejection_time": self.last_ejection_time,
                "consecutive_errors": self.consecutive,
                "window_calls": self.window_calls, "window_errors": self.window_errors}


class OutlierDetector:
    """The ejection state of one cluster's servers (see the module docstring). Times are seconds
    on any monotonic clock, passed in (the cluster passes ``time.monotonic()``)."""

    def __init__(self, config: OutlierConfig) -> None:
        self.config = config
        self._errors = frozenset(ERROR_KINDS[e] for e in config.errors)
        self.hosts: dict[str, HostStats] = {}

    def _host(self, key: str, now: float) -> HostStats:
        h = self.hosts.get(key)
        if h is None:
            h = self.hosts[key] = HostStats(now)
        return h

    def forget(self, keep: Any) -> None:
        """Drop the state of servers no longer in the cluster (``keep``: the servers that stay)."""
        for key in [k for k in self.hosts if k not in keep]:
            del self.hosts[key]

    def is_ejected(self, key: str, now: float) -> bool:
        """Whether ``key`` is out now; a server whose ejection time has passed comes back here."""
        h = self.hosts.get(key)
        if h is None or h.ejected_until is None:
            return False
        if now < h.ejected_until:
            return True
        h.ejected_until = None
        h.returned_at = now
        h.consecutive = 0
        h.window_start, h.window_calls, h.window_errors = now, 0, 0
        log.info("outlier ejection of %s is over: it takes calls again", key)
        return False

    def ejected_count(self, now: float) -> int:
        """How many servers are ejected at ``now``."""
        return sum(1 for h in self.hosts.values() if h.is_ejected(now))

    def record(self, key: str, outcome: Outcome, now: float, *, servers: int) -> bool:
        """How a call to ``key`` ended (``servers``: how many the cluster has); True if this ejected it."""
        cfg = self.config
        h = self._host(key, now)
        if h.is_ejected(now):
            return False  # a late answer from a server already out (a call sent before) changes nothing
        if now - h.window_start >= cfg.window:
            h.window_start, h.window_calls, h.window_errors = now, 0, 0
        h.window_calls += 1
        if outcome not in self._errors:
            h.consecutive = 0
            return False
        h.consecutive += 1
        h.window_errors += 1
        why = None
        if cfg.consecutive_errors and h.consecutive >= cfg.consecutive_errors:
            why = f"{h.consecutive} consecutive errors"
        elif (cfg.error_rate is not None and h.window_calls >= cfg.min_calls
              and h.window_errors / h.window_calls >= cfg.error_rate):
            why = f"{h.window_errors} errors in {h.window_calls} calls"
        if why is None:
            return False
        allowed = max(1, math.floor(servers * cfg.max_ejection_percent / 100)) if cfg.max_ejection_percent > 0 else 0
        if self.ejected_count(now) >= allowed:
            return False
        # good behaviour since the last return takes one off the multiplier per base time
        if cfg.base_ejection_time > 0:
            h.times = max(0, h.times - int((now - h.returned_at) // cfg.base_ejection_time))
        h.times += 1
        seconds = min(cfg.base_ejection_time * h.times, max(cfg.max_ejection_time, cfg.base_ejection_time))
        h.ejected_until = now + seconds
        h.ejections_total += 1
        h.last_ejection_time = seconds
        log.warning("ejecting upstream %s for %gs: %s", key, seconds, why)
        return True
