"""Routes: which calls go where, and what is done to them on the way (layer: proxy, no I/O).

A :class:`RouteTable` is an ordered list of :class:`Route`; the first whose :class:`Match` accepts
a call wins, and the table's default (a route that matches everything) takes the rest. A match
looks at the service path, the method, metadata values and the client's address, each with an
exact, prefix or regex :class:`StringMatch` (the client address also by CIDR).

Metadata and the payload: the service path and method come from the header alone
(:class:`~rpcx.protocol.header.FrameHeader`); the metadata section is decoded only when a route
that is being tried has a metadata condition (or a fault, a metadata edit or the access log needs
it), once per call, and never the payload. Forwarding the call unchanged still sends the original
bytes: decoding the metadata to decide does not re-encode it.

>>> from rpcx.protocol.message import Message, encode
>>> h = FrameHeader.parse(encode(Message(service_path="Arith", service_method="Mul", metadata={"tenant": "a"})))
>>> table = RouteTable([
...     Route("tenant-a", Match(metadata=(("tenant", StringMatch("exact", "a")),)), (("canary", 1),)),
...     Route("arith", Match(service=StringMatch("exact", "Arith")), (("stable", 1),)),
... ])
>>> table.select(h, "127.0.0.1").name
'tenant-a'
"""

from __future__ import annotations

import ipaddress
import random
import re
from dataclasses import dataclass, field
from ..plugins.ratelimit import TokenBucket
from ..protocol.header import FrameHeader
from .faults import Faults

__all__ = ["StringMatch", "Match", "Route", "RouteTable", "LazyMetadata"]

MATCH_KINDS = ("exact", "prefix", "regex")


@dataclass(frozen=True)
class StringMatch:
    """``kind`` is exact, prefix or regex (a full match, Python ``re`` syntax).

    >>> StringMatch("prefix", "Ari").matches("Arith"), StringMatch("regex", "Mu.").matches("Mul2")
    (True, False)
    """

    kind: str
    value: str
    _regex: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.kind not in MATCH_KINDS:
            raise ValueError(f"unknown match kind {self.kind!r} (expected exact, prefix or regex)")
        if self.kind == "regex":
            object.__setattr__(self, "_regex", re.compile(self.value))

    def matches(self, s: str | None) -> bool:
        """Does ``s`` match (None never does)?"""
        if s is None:
            return False
        if self.kind == "exact":
            return s == self.value
        if self.kind == "prefix":
            return s.startswith(self.value)
        assert self._regex is not None
        return self._regex.fullmatch(s) is not None


class LazyMetadata:
    """A call's metadata, decoded from its header on first use and then kept (the payload is
    never read). ``decoded`` says whether anything asked."""

    __slots__ = ("_h", "_md")

    def __init__(self, h: FrameHeader) -> None:
        self._h = h
        self._md: dict[str, str] | None = None

    def get(self) -> dict[str, str]:
        md = self._md
        if md is None:
            md = self._md = self._h.metadata if self._h.metadata_end > self._h.metadata_start else {}
        return md

    @property
    def decoded(self) -> bool:
        return self._md is not None


@dataclass(frozen=True)
class Match:
    """Conditions on a call; every one given must hold. A metadata condition with ``None`` asks
    only that the key be present. ``client`` matches the client's host (an IP address as text);
    ``client_cidr`` the networks it may be in."""

    service: StringMatch | None = None
    method: StringMatch | None = None
    metadata: tuple[tuple[str, StringMatch | None], ...] = ()
    client: StringMatch | None = None
    client_cidr: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()

    def accepts(self, h: FrameHeader, client_host: str, md: LazyMetadata) -> bool:
        """Every condition holds for the call ``h`` from ``client_host`` (metadata decoded only if asked)."""
        if self.service is not None and not self.service.matches(h.service_path):
            return False
        if self.method is not None and not self.method.matches(h.service_method):
            return False
        if self.client is not None and not self.client.matches(client_host):
            return False
        if self.client_cidr:
            try:
                ip = ipaddress.ip_address(client_host)
            except ValueError:  # a unix socket or memory peer has no IP address
                return False
            if not any(ip in net for net in self.client_cidr):
                return False
        if self.metadata:
            values = md.get()
            for key, cond in self.metadata:
                v = values.get(key)
                if v is None or (cond is not None and not cond.matches(v)):
                    return False
        return True


def metadata_condition_holds(conds: tuple[tuple[str, StringMatch | None], ...], md: LazyMetadata) -> bool:
    """Every ``(key, condition)`` holds on ``md`` (used by faults' ``when``)."""
    values = md.get()
    for key, cond in conds:
        v = values.get(key)
        if v is None or (cond is not None and not cond.matches(v)):
            return False
    return True


@dataclass(frozen=True)
class Route:
    """Where matching calls go and what is done to them.

    ``clusters`` are ``(cluster name, weight)``; one is drawn per call in proportion to the
    weights. ``timeout`` (seconds) is sent upstream as ``__ServerTimeout`` and also bounds the
    wait here. ``set_metadata`` overwrites keys, ``add_metadata`` sets keys the call does not
    already carry, ``remove_metadata`` drops keys. ``rewrite_service`` / ``rewrite_method`` rename
    the call upstream (replies are forwarded as they come: Go's client matches them by seq only).
    ``pin_upstream`` gives each client connection its own upstream connection per server, so pushes
    from the server reach that client (see docs/proxy.md).
    """

    name: str
    match: Match
    clusters: tuple[tuple[str, int], ...]
    timeout: float | None = None
    set_metadata: tuple[tuple[str, str], ...] = ()
    add_metadata: tuple[tuple[str, str], ...] = ()
    remove_metadata: tuple[str, ...] = ()
    rewrite_service: str | None = None
    rewrite_method: str | None = None
    faults: Faults = Faults()
    pin_upstream: bool = False
    #: at most this many calls per second through the route, bursts of ``burst`` (None: no limit);
    #: calls over it get Go's ``request reached rate limit`` error from the proxy
    rate_limit: tuple[float, int] | None = None
    _bucket: TokenBucket | None = field(default=None, compare=False, repr=False)

    _edits: bool = field(default=False, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.rate_limit is not None:
            object.__setattr__(self, "_bucket", TokenBucket(self.rate_limit[0], self.rate_limit[1]))
        # asked for every call: worked out once
        object.__setattr__(self, "_edits", bool(
            self.timeout is not None or self.set_metadata or self.add_metadata or self.remove_metadata
            or self.rewrite_service is not None or self.rewrite_method is not None
        ))

    def admit(self) -> bool:
        """Take a token from the route's rate limit (always true without one)."""
        return self._bucket is None or self._bucket.take()

    @property
    def edits_call(self) -> bool:
        """The call's header or metadata must be re-encoded on its way upstream."""
        return self._edits

    def pick_cluster(self, rng: random.Random) -> str:
        """One of the route's clusters, drawn in proportion to the weights."""
        if len(self.clusters) == 1:
            return self.clusters[0][0]
        total = sum(w for _, w in self.clusters)
        x = rng.random() * total
        for name, w in self.clusters:
            x -= w
            if x < 0:
                return name
        return self.clusters[-1][0]

    def edited_metadata(self, md: dict[str, str]) -> dict[str, str]:
        """The metadata sent upstream (``__ServerTimeout`` in milliseconds, as Go's XClient sends it)."""
        out = dict(md)
        for k in self.remove_metadata:
            out.pop(k, None)
        for k, v in self.add_metadata:
            out.setdefault(k, v)
        for k, v in self.set_metadata:
            out[k] = v
        if self.timeout is not None:
            out["__ServerTimeout"] = str(max(1, int(self.timeout * 1000)))
        return out


class RouteTable:
    """Routes tried in order, then ``default``."""

    def __init__(self, routes: list[Route], default: Route | None = None) -> None:
        self.routes = list(routes)
        self.default = default

    def select(self, h: FrameHeader, client_host: str, md: LazyMetadata | None = None) -> Route | None:
        """The first route accepting the call, the default, or None."""
        md = md if md is not None else LazyMetadata(h)
        for r in self.routes:
            if r.match.accepts(h, client_host, md):
                return r
        return self.default

    def all_routes(self) -> list[Route]:
        """The routes, then the default if there is one."""
        return self.routes + ([self.default] if self.default is not None else [])

