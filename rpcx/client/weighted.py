"""Weighted selectors (layer: client): smooth weighted round-robin from metadata ``weight`` (Go's
``WeightedRoundRobin``) and the same from measured round-trip times (Go's ``WeightedICMP``; the measuring is
``rttprobe.py``'s).

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
    """Smooth weighted round-robin with weights from measured round-trip times, mapped as Go's
    ``CalculateWeight`` (≤10 ms → 191, 10–200 ms → 201−rtt, 200–999 ms → 1, ≥1000 ms or failure → 0).

    Go pings each server three times with ICMP (which needs root) whenever the list changes and
    uses the average. Here the ping is the rpcx heartbeat, which every rpcx server (Go's too)
    echoes without privileges: XClient's prober (``rttprobe.py``) sends three over the server's
    connection (dialling it if needed) whenever the list changes and every ``Option.ping_interval``
    seconds, and hands the average to :meth:`record_rtt` (``None`` when nothing was echoed within
    3 s, Go's ping timeout: weight 0). Calls do not set weights, so a slow method does not make
    its server look far away; but a dial or connection error reported by a call sets the server's
    weight to 0 until it is measured again or ``recheck`` seconds pass (then it gets weight 1, a
    trial). A server not measured yet has the top weight (191), as a new server is most likely
    healthy; when every server is at 0, all are tried alike.

    >>> t = [0.0]; s = WeightedICMPSelector({"a": "", "b": "", "c": ""}, clock=lambda: t[0])
    >>> s.record_rtt("a", 0.004); s.record_rtt("b", 0.150); s.record_rtt("c", None); s.weights
    {'a': 191, 'b': 51, 'c': 0}
    >>> sorted(set(s.select(Call("Arith", "Mul")) for _ in range(10)))
    ['a', 'b']
    >>> s.report("a", Outcome.DIAL_ERROR, 0.0); s.weights["a"]
    0
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
        #: key -> the last round trip measured, in seconds (None: the ping failed)
        self.rtts: dict[str, float | None] = {}
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

    @property
    def servers(self) -> list[str]:
        """The servers to measure: the list last given to :meth:`update_server`."""
        return list(self._keys)

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
        self.rtts = {k: v for k, v in self.rtts.items() if k in servers}
        self._applied = {}
        self._rebuild()

    def record_rtt(self, key: str, rtt: float | None) -> None:
        """A measured round trip of ``key`` in seconds (the average of the pings answered), or
        None when no ping was answered (Go's 1000 ms: weight 0). Unlisted keys are ignored."""
        if key not in self._keys:
            return
        self.rtts[key] = rtt
        ms = 1000 if rtt is None else int(rtt * 1000)
        self._measured[key] = (rtt_weight(ms), self._clock())

    def report(self, key: str, outcome: Outcome, latency: float) -> None:
        """A call that could not reach the server (dial or connection error) is a failed ping."""
        if outcome in (Outcome.DIAL_ERROR, Outcome.CONNECTION_ERROR) and key in self._keys:
            self._measured[key] = (0, self._clock())
