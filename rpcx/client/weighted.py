"""Weighted selectors (layer: client): smooth weighted round-robin from metadata ``weight`` (Go's
``WeightedRoundRobin``) and the same from measured round-trip times (Go's ``WeightedICMP``).

Rule: both use nginx's smooth weighted round-robin, as Go's ``weightedRoundRobinSelector.next``;
the sequence restarts whenever the server list changes (Go rebuilds its ring then). A weight of 0
takes a server out of the rotation; when every weight is 0 a call fails with a clear
:class:`~rpcx.errors.NoServerAvailableError` (Go builds an empty ring and panics). Nothing here does
I/O; the ICMP selector reads a clock only through the ``clock`` it is given.
"""

from __future__ import annotations

import logging
import time
from typing import Callable
from urllib.parse import parse_qs

from ..errors import NoServerAvailableError
from .selector import Call, Outcome

__all__ = ["WeightedRoundRobinSelector", "WeightedICMPSelector", "weight_from_metadata", "rtt_weight"]

log = logging.getLogger("rpcx.client")


def weight_from_metadata(metadata: str) -> int:
    """The ``weight`` in a server's metadata: 1 when absent or not an integer (as Go's ``Atoi``
    fallback); a negative weight counts as 0 (Go would corrupt its ring with it).

    >>> weight_from_metadata("weight=5&group=a"), weight_from_metadata(""), weight_from_metadata("weight=x")
    (5, 1, 1)
    """
    values = parse_qs(metadata).get("weight") if metadata else None
    if not values:
        return 1
    try:
        w = int(values[0])
    except ValueError:
        return 1
    return max(w, 0)


def rtt_weight(rtt_ms: int) -> int:
    """Go's ``CalculateWeight``: round-trip milliseconds to a weight (``None``-free: a failure is
    passed as 1000 or more).

    >>> [rtt_weight(t) for t in (0, 10, 11, 200, 201, 999, 1000)]
    [191, 191, 190, 1, 1, 1, 0]
    """
    if 0 <= rtt_ms <= 10:
        return 191
    if 10 < rtt_ms <= 200:
        return 201 - rtt_ms
    if 200 < rtt_ms < 1000:
        return 1
    return 0


class _Smooth:
    """nginx smooth weighted round-robin over ``(key, weight)`` pairs, in the order given."""

    def __init__(self, weights: dict[str, int]) -> None:
        self.keys = list(weights)
        self.weights = [weights[k] for k in self.keys]
        self.current = [0] * len(self.keys)
        self.total = sum(self.weights)

    def next(self) -> str | None:
        if not self.keys:
            return None
        if self.total <= 0:
            raise NoServerAvailableError(
                "can not found any server: every server has weight 0 " f"({', '.join(sorted(self.keys))})")
        if len(self.keys) == 1:
            return self.keys[0]
        best, m = 0, 0
        for i, w in enumerate(self.weights):
            self.current[i] += w
            if self.current[i] > m:  # strictly greater, as Go: the first of equals wins
                m, best = self.current[i], i
        self.current[best] -= self.total
        return self.keys[best]


class WeightedRoundRobinSelector:
    """Smooth weighted round-robin, weights from each server's metadata ``weight`` (default 1).

    >>> s = WeightedRoundRobinSelector({"a": "weight=3", "b": "weight=1"})
    >>> "".join(s.select(Call("Arith", "Mul")) for _ in range(8))
    'aabaaaba'
    """

    def __init__(self, servers: dict[str, str] | None = None) -> None:
        self._rr = _Smooth({})
        self.update_server(servers or {})

    def select(self, call: Call) -> str | None:
        """The next server in the weighted rotation; None when there is none."""
        return self._rr.next()

    def update_server(self, servers: dict[str, str]) -> None:
        """Use these servers and their metadata weights; the rotation starts over."""
        self._rr = _Smooth({k: weight_from_metadata(v) for k, v in servers.items()})

    @property
    def weights(self) -> dict[str, int]:
        """The weight of each server."""
        return dict(zip(self._rr.keys, self._rr.weights))


class WeightedICMPSelector:
    """Smooth weighted round-robin with weights from round-trip times, mapped as Go's
    ``CalculateWeight`` (≤10 ms → 191, 10–200 ms → 201−rtt, 200–999 ms → 1, ≥1000 ms or failure → 0).

    Go pings each server (ICMP, which needs root) when the list changes. Here the round trip is the
    latency XClient reports for every attempt (``report``): the dial on a new connection plus the
    call, so it also counts the server's own handling time. An attempt that got an answer (a reply
    or a service error) sets the server's weight from its latency in whole milliseconds; a dial or
    connection error or a timeout sets it to 0. A server not measured yet has the top weight (191)
    so that it gets measured; a server at 0 gets weight 1 again after ``recheck`` seconds, so a
    recovered server is tried again (Go re-pings only when discovery changes). When every server is
at 0, all are tried alike.

    >>> t = [0.0]; s = WeightedICMPSelector({"a": "", "b": ""}, clock=lambda: t[0])
    >>> s.report("a", Outcome.SUCCESS, 0.005); s.report("b", Outcome.DIAL_ERROR, 1.0); s.weights
    {'a': 191, 'b': 0}
    >>> {s.select(Call("Arith", "Mul")) for _ in range(5)}
    {'a'}
    >>> t[0] = 60.0; s.weights
    {'a': 191, 'b': 1}
    """

    def __init__(
        self, servers: dict[str, str] | None = None, *, recheck: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.recheck = recheck
        self._clock = clock
        self._keys: list[str] = []
        #: key -> (weight, when it was measured)
        self._measured: dict[str, tuple[int, float]] = {}
        self._rr = _Smooth({})
        self._applied: dict[str, int] = {}
        self.update_server(servers or {})

    @property
    def weights(self) -> dict[str, int]:
        """The weight each server has now."""
        now = self._clock()
        out = {}
        for k in self._keys:
            m = self._measured.get(k)
            if m is None:
                out[k] = 191
            elif m[0] == 0 and now - m[1] >= self.recheck:
                out[k] = 1
            else:
                out[k] = m[0]
        return out

    def _rebuild(self) -> None:
        weights = self.weights
        if weights and not any(weights.values()):
            # every server failed: try them all alike rather than fail every call until a recheck
            weights = dict.fromkeys(weights, 1)
        if weights != self._applied:
            self._applied = weights
            self._rr = _Smooth(weights)

    def select(self, call: Call) -> str | None:
        """The next server in the rotation weighted by round-trip time; None when there is none."""
        self._rebuild()
        return self._rr.next()

    def update_server(self, servers: dict[str, str]) -> None:
        """Use these servers; measurements of servers that left are forgotten."""
        self._keys = list(servers)
        self._measured = {k: v for k, v in self._measured.items() if k in servers}
        self._applied = {}
        self._rebuild()

    def report(self, key: str, outcome: Outcome, latency: float) -> None:
        """Take the attempt's latency as the server's round trip (see the class docstring)."""
        if outcome in (Outcome.SUCCESS, Outcome.SERVICE_ERROR):
            self._measured[key] = (rtt_weight(int(latency * 1000)), self._clock())
        elif outcome in (Outcome.DIAL_ERROR, Outcome.CONNECTION_ERROR, Outcome.TIMEOUT):
            self._measured[key] = (0, self._clock())
