"""Server selection (layer: client): the :class:`Call` a selector sees, the :class:`Outcome` of one
attempt, the :class:`Selector` interface with Random and RoundRobin, and the sans-IO
:class:`HoldOut` back-off for servers that refuse connections.

Rule: a selector only chooses among the servers it was last given with ``update_server``; XClient
gives it discovery's list after Go's filters (``state=inactive`` dropped; with a group, servers
outside it dropped) minus the servers held out after a refused dial. Nothing here does I/O or reads
a clock: :class:`HoldOut` takes ``now`` as an argument.
"""

from __future__ import annotations

import enum
import inspect
import random
import warnings
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping, Protocol
from urllib.parse import parse_qs

from .discovery import KVPair
from .options import Backoff, SelectMode

__all__ = [
    "Call",
    "Outcome",
    "Selector",
    "RandomSelector",
    "RoundRobinSelector",
    "StickySelector",
    "HoldOut",
    "new_selector",
    "adapt_selector",
    "filter_servers",
]

_NO_METADATA: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True)
class Call:
    """One call as the selector (and later breakers and plugins) see it.

    ``metadata`` is the caller's request metadata, without the ``__AUTH`` and ``__ServerTimeout``
    entries XClient adds on the wire.

    >>> Call("Arith", "Mul", {"A": 1, "B": 2}, {"k": "v"}).metadata["k"]
    'v'
    """

    service_path: str
    service_method: str
    args: Any = None
    metadata: Mapping[str, str] = field(default_factory=lambda: _NO_METADATA)


class Outcome(enum.Enum):
    """How one attempt on one server ended; decides retrying and whether the connection is kept.

    >>> [o.name for o in Outcome if o.retryable]
    ['DIAL_ERROR', 'CONNECTION_ERROR', 'BREAKER_OPEN']
    """

    #: the server answered with a reply
    SUCCESS = "success"
    #: the server answered with an error (Go's ServiceError): never retried, connection kept
    SERVICE_ERROR = "service_error"
    #: no connection could be made (refused, unreachable, dial timeout): retryable; the server is
    #: held out of selection for a back-off
    DIAL_ERROR = "dial_error"
    #: the connection was lost or the server broke the protocol: retryable, connection dropped
    CONNECTION_ERROR = "connection_error"
    #: the call's deadline passed: not retried (as Go), connection kept
    TIMEOUT = "timeout"
    #: the caller was cancelled: not retried, connection kept
    CANCELLED = "cancelled"
    #: the arguments could not be encoded or the reply decoded: not retried, connection kept
    CODEC_ERROR = "codec_error"
    #: anything else (a bug, most likely): not retried, connection kept
    ERROR = "error"
    #: the server's circuit breaker is open: nothing was sent (Go's ``breaker open``); retryable,
    #: Failover picks another server
    BREAKER_OPEN = "breaker_open"

    @property
    def retryable(self) -> bool:
        """Whether Go's fail modes try again after this outcome (dial and connection errors, and an
        open breaker, which Go reports as a dial error)."""
        return self in (Outcome.DIAL_ERROR, Outcome.CONNECTION_ERROR, Outcome.BREAKER_OPEN)


class Selector(Protocol):
    """Chooses the server key for a call; ``None`` when no server fits.

    A selector may also define ``report(key: str, outcome: Outcome, latency: float) -> None``;
    XClient then tells it how every attempt ended (``latency`` in seconds, dial included).
    """

    def select(self, call: Call) -> str | None:
        """The key of the server for ``call``, or None when no server fits."""

    def update_server(self, servers: dict[str, str]) -> None:
        """The servers changed: ``{key: metadata}`` after state and group filtering."""


def filter_servers(pairs: list[KVPair], group: str = "") -> dict[str, str]:
    """Drop inactive servers and, with ``group``, servers outside it.

    >>> filter_servers([KVPair("a", "state=inactive"), KVPair("b", "group=x&group=y"), KVPair("c")], "y")
    {'b': 'group=x&group=y'}
    """
    out: dict[str, str] = {}
    for p in pairs:
        q = parse_qs(p.value) if p.value else {}
        if "inactive" in q.get("state", []):
            continue
        if group and group not in q.get("group", []):
            continue
        out[p.key] = p.value
    return out


class RandomSelector:
    """Pick uniformly at random (Go: ``RandomSelect``).

    >>> RandomSelector({"a": ""}).select(Call("Arith", "Mul")), RandomSelector().select(Call("Arith", "Mul"))
    ('a', None)
    """

    def __init__(self, servers: dict[str, str] | None = None) -> None:
        self._keys: list[str] = list(servers or {})

    def select(self, call: Call) -> str | None:
        """A server chosen uniformly at random, or None when there is none."""
        if not self._keys:
            return None
        return random.choice(self._keys)

    def update_server(self, servers: dict[str, str]) -> None:
        """Use this server list from now on."""
        self._keys = list(servers)


class RoundRobinSelector:
    """Cycle through the servers in order (Go: ``RoundRobin``).

    >>> s = RoundRobinSelector({"a": "", "b": ""}); [s.select(Call("Arith", "Mul")) for _ in range(3)]
    ['a', 'b', 'a']
    """

    def __init__(self, servers: dict[str, str] | None = None) -> None:
        self._keys: list[str] = list(servers or {})
        self._i = 0

    def select(self, call: Call) -> str | None:
        """The next server in turn, or None when there is none."""
        if not self._keys:
            return None
        key = self._keys[self._i % len(self._keys)]
        self._i = (self._i + 1) % len(self._keys)
        return key

    def update_server(self, servers: dict[str, str]) -> None:
        """Use this server list from now on."""
        self._keys = list(servers)


class StickySelector:
    """Keep the last server that answered until an attempt on it fails (Go's ``Option.Sticky``).

    Wraps another selector, which chooses while there is no sticky server. A dial or connection
    error, a timeout or an open breaker on the sticky server drops it; a service error does not
    (the server answered).

    >>> s = StickySelector(RoundRobinSelector()); s.update_server({"a": "", "b": ""}); c = Call("Arith", "Mul")
    >>> k = s.select(c); s.report(k, Outcome.SUCCESS, 0.001); [s.select(c) for _ in range(3)]
    ['a', 'a', 'a']
    >>> s.report("a", Outcome.CONNECTION_ERROR, 0.001); s.select(c)
    'b'
    """

    _DROP = frozenset({"dial_error", "connection_error", "timeout", "breaker_open"})

    def __init__(self, inner: "Selector") -> None:
        self.inner = inner
        self.sticky: str | None = None
        self._listed: set[str] = set()
        self._inner_report = getattr(inner, "report", None)

    def select(self, call: Call) -> str | None:
        """The sticky server while it is listed, else the inner selector's choice."""
        if self.sticky is not None and self.sticky in self._listed:
            return self.sticky
        return self.inner.select(call)

    def update_server(self, servers: dict[str, str]) -> None:
        """Pass the list on; a sticky server that left is forgotten."""
        self._listed = set(servers)
        if self.sticky not in self._listed:
            self.sticky = None
        self.inner.update_server(servers)

    def report(self, key: str, outcome: "Outcome", latency: float) -> None:
        """Stick to a server that answered; drop it when it fails."""
        if outcome is Outcome.SUCCESS:
            self.sticky = key
        elif key == self.sticky and outcome.value in self._DROP:
            self.sticky = None
        if self._inner_report is not None:
            self._inner_report(key, outcome, latency)


def new_selector(
    mode: SelectMode | int, servers: dict[str, str], *, latitude: float | None = None,
    longitude: float | None = None,
) -> Selector:
    """The built-in selector for ``mode`` (``latitude``/``longitude``: the client's, for CLOSEST).

    >>> [type(new_selector(m, {})).__name__ for m in SelectMode if m != SelectMode.SELECT_BY_USER]
    ['RandomSelector', 'RoundRobinSelector', 'WeightedRoundRobinSelector', 'WeightedICMPSelector', \
'ConsistentHashSelector', 'ClosestSelector']
    """
    mode = SelectMode(mode)
    if mode == SelectMode.RANDOM:
        return RandomSelector(servers)
    if mode == SelectMode.ROUND_ROBIN:
        return RoundRobinSelector(servers)
    # imported here: those modules import Call and Outcome from this one
    if mode == SelectMode.WEIGHTED_ROUND_ROBIN:
        from .weighted import WeightedRoundRobinSelector

        return WeightedRoundRobinSelector(servers)
    if mode == SelectMode.WEIGHTED_ICMP:
        from .weighted import WeightedICMPSelector

        return WeightedICMPSelector(servers)
    if mode == SelectMode.CONSISTENT_HASH:
        from .consistent_hash import ConsistentHashSelector

        return ConsistentHashSelector(servers)
    if mode == SelectMode.CLOSEST:
        from .geo import ClosestSelector

        return ClosestSelector(servers, latitude, longitude)
    return _UnsetSelector()  # SELECT_BY_USER


class _UnsetSelector:
    """SELECT_BY_USER before ``set_selector()``: every selection is a clear error (Go panics)."""

    def select(self, call: Call) -> str | None:
        raise RuntimeError("SelectMode.SELECT_BY_USER: call XClient.set_selector() before the first call")

    def update_server(self, servers: dict[str, str]) -> None:
        pass


class _LegacySelector:
    """Adapts a selector written for the old ``select(service_path, service_method, args) -> str``."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def select(self, call: Call) -> str | None:
        return self.inner.select(call.service_path, call.service_method, call.args) or None

    def update_server(self, servers: dict[str, str]) -> None:
        self.inner.update_server(servers)

    def report(self, key: str, outcome: Outcome, latency: float) -> None:
        report = getattr(self.inner, "report", None)
        if report is not None:
            report(key, outcome, latency)


def adapt_selector(selector: Any) -> Selector:
    """Return ``selector`` itself, or an adapter when its ``select`` takes the old three arguments
    ``(service_path, service_method, args)`` (with a :class:`DeprecationWarning`).

    >>> class Old:
    ...     def select(self, service_path, service_method, args): return "tcp@127.0.0.1:1"
    ...     def update_server(self, servers): pass
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     adapt_selector(Old()).select(Call("Arith", "Mul"))
    'tcp@127.0.0.1:1'
    """
    try:
        params = inspect.signature(selector.select).parameters.values()
    except (TypeError, ValueError):  # a builtin without a signature: assume the new shape
        return selector  # type: ignore[no-any-return]
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if len(positional) == 3:
        warnings.warn(
            f"{type(selector).__name__}.select(service_path, service_method, args) is the old selector "
            "interface; define select(call: rpcx.client.Call) -> str | None instead",
            DeprecationWarning, stacklevel=3,
        )
        return _LegacySelector(selector)
    return selector  # type: ignore[no-any-return]


class HoldOut:
    """Servers that refused a dial, each held out until its back-off has passed (sans-IO: pass ``now``).

    The back-off starts at ``backoff.initial`` and doubles with every further failed dial up to
    ``backoff.maximum``; a successful dial forgets the server.

    >>> h = HoldOut(Backoff(initial=0.1, maximum=0.3))
    >>> h.failed("a", now=0.0); sorted(h.held(now=0.05)), sorted(h.held(now=0.1))
    (['a'], [])
    >>> h.failed("a", now=1.0); h.failed("a", now=2.0); h.until("a")
    2.3
    >>> h.succeeded("a"); h.held(now=2.0)
    set()
    """

    def __init__(self, backoff: Backoff) -> None:
        self.backoff = backoff
        # key -> (held until, the back-off that was applied)
        self._entries: dict[str, tuple[float, float]] = {}

    def failed(self, key: str, now: float) -> None:
        prev = self._entries.get(key)
        delay = self.backoff.initial if prev is None else min(prev[1] * 2, self.backoff.maximum)
        self._entries[key] = (now + delay, delay)

    def succeeded(self, key: str) -> None:
        self._entries.pop(key, None)

    def until(self, key: str) -> float | None:
        entry = self._entries.get(key)
        return None if entry is None else entry[0]

    def held(self, now: float) -> set[str]:
        """The keys held out at ``now``."""
        return {k for k, (until, _) in self._entries.items() if until > now}

    def forget_except(self, keys: Mapping[str, str] | set[str]) -> None:
        """Forget servers that discovery no longer lists."""
        for k in [k for k in self._entries if k not in keys]:
            del self._entries[k]

    def __bool__(self) -> bool:
        return bool(self._entries)
