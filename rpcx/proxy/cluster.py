"""An upstream cluster: its servers (from any discovery) and the proxy's connections to them
(layer: proxy, asyncio adapter).

The servers come from a :class:`~rpcx.client.discovery.ServiceDiscovery`: a static list
(``MultipleServersDiscovery``) or any registry's discovery, watched for changes. One is picked per
call by smooth weighted round robin on each server's ``weight`` metadata (the client's
:class:`~rpcx.client.weighted.WeightedRoundRobinSelector`), skipping servers whose circuit breaker
(the client's :class:`~rpcx.client.breaker.CircuitBreaker`, one per server when ``breaker`` is set)
is open, servers ejected as outliers (:mod:`rpcx.proxy.outlier`, when ``outlier`` is set) and servers a
retried call already failed on. ``retries`` is how many more servers a call
may be tried on after a dial or connection error (Go's Failover rule: only those are retried).

Calls from every client share ``connections_per_server`` connections to each server, used in turn
(the multiplexing: thousands of clients, a few upstream connections). A route with
``pin_upstream`` instead gets a connection of its own per client connection and server, closed
with the client, so that a server's pushes on it can go to that one client.
"""

from __future__ import annotations

import asyncio
import logging
import time
import ssl as _ssl
from typing import Any, Callable, Iterable

from ..client.breaker import CircuitBreaker
from ..client.discovery import KVPair, ServiceDiscovery
from ..client.selector import Call, Outcome, filter_servers
from ..client.weighted import WeightedRoundRobinSelector
from ..protocol.decoder import Limits
from .outlier import OutlierConfig, OutlierDetector
from .upstream import UpstreamConnection, UpstreamEvents

__all__ = ["Cluster"]

log = logging.getLogger("rpcx.proxy")

_ANY_CALL = Call("", "")


class Cluster:
    """Servers and connections; see the module docstring.

    >>> from rpcx.client.discovery import MultipleServersDiscovery, KVPair
    >>> c = Cluster("arith", MultipleServersDiscovery([KVPair("tcp@127.0.0.1:1", "weight=2"), KVPair("tcp@127.0.0.1:2")]))
    >>> [c.pick_server() for _ in range(3)]
    ['tcp@127.0.0.1:1', 'tcp@127.0.0.1:2', 'tcp@127.0.0.1:1']
    """

    def __init__(self, name: str, discovery: ServiceDiscovery, *, connections_per_server: int = 2,
                 tls: _ssl.SSLContext | None = None, connect_timeout: float = 5.0,
                 heartbeat_interval: float | None = None, limits: Limits = Limits(), group: str = "",
                 retries: int = 0, breaker: Callable[[], CircuitBreaker] | None = None,
                 server_hostname: str | None = None, outlier: OutlierConfig | None = None) -> None:
        self.name = name
        #: outlier ejection of this cluster's servers (None: off)
        self.outlier = OutlierDetector(outlier) if outlier is not None else None
        self.server_hostname = server_hostname
        self.retries = retries
        #: makes one server's breaker (None: no breakers)
        self.breaker = breaker
        self.breakers: dict[str, CircuitBreaker] = {}
        self.discovery = discovery
        self.connections_per_server = max(1, connections_per_server)
        self.tls = tls
        self.connect_timeout = connect_timeout
        self.heartbeat_interval = heartbeat_interval
        self.limits = limits
        self.group = group
        self.events: UpstreamEvents | None = None
        self._selector = WeightedRoundRobinSelector()
        self.servers: dict[str, str] = {}
        self._pool: dict[str, list[UpstreamConnection]] = {}
        self._turn: dict[str, int] = {}
        self._watch_task: asyncio.Task[None] | None = None
        self.retired = False
        self._update(discovery.get_services())

    def _update(self, pairs: list[KVPair]) -> None:
        self.servers = filter_servers(pairs, self.group)
        self._selector.update_server(self.servers)
        if self.outlier is not None:
            self.outlier.forget(self.servers)
        for key in list(self._pool):
            if key not in self.servers:  # a server that left: its connections go (their calls get errors)
                for up in self._pool.pop(key):
                    up.close(f"upstream {key} left cluster {self.name}")

    async def start(self, events: UpstreamEvents) -> None:
        """Watch the discovery; connections are dialled on first use."""
        self.events = events
        watch = self.discovery.watch()
        if watch is not None:
            self._watch_task = asyncio.get_running_loop().create_task(self._watch(watch))

    async def _watch(self, watch: Any) -> None:
        try:
            async for pairs in watch:
                self._update(pairs)
        finally:
            await watch.aclose()

    def pick_server(self, exclude: Iterable[str] = ()) -> str | None:
        """The next server whose breaker lets a call through, not in ``exclude``; None when there is none."""
        excluded = set(exclude)
        outlier = self.outlier
        if self.breaker is None and outlier is None and not excluded:
            return self._selector.select(_ANY_CALL)
        now = time.monotonic()
        panic: str | None = None
        for _ in range(len(self.servers)):
            key = self._selector.select(_ANY_CALL)
            if key is None:
                return None
            if key in excluded:
                continue
            if outlier is not None and outlier.is_ejected(key, now):
                panic = panic or key  # used only if every other server is out too
                continue
            if self.breaker is not None:
                b = self.breakers.get(key)
                if b is None:
                    b = self.breakers[key] = self.breaker()
                if not b.allow():
                    continue
            return key
        if panic is not None and self.breaker is not None:
            b = self.breakers.get(panic)
            if b is not None and not b.allow():
                return None
        return panic

    def report(self, key: str, outcome: Outcome) -> None:
        """How a call sent to ``key`` ended, for its breaker and outlier ejection."""
        b = self.breakers.get(key)
        if b is not None:
            b.record(outcome)
        if self.outlier is not None:
            self.outlier.record(key, outcome, time.monotonic(), servers=len(self.servers))

    def connection(self, key: str) -> UpstreamConnection:
        """A shared connection to ``key``: one of up to ``connections_per_server``, in turn."""
        conns = self._pool.get(key)
        if conns is None:
            conns = self._pool[key] = []
        if any(c.closed for c in conns):
            conns[:] = [c for c in conns if not c.closed]
        if len(conns) < self.connections_per_server:
            up = self.dial(key)
            conns.append(up)
            return up
        i = self._turn.get(key, 0) % len(conns)
        self._turn[key] = i + 1
        return conns[i]

    def dial(self, key: str, owner: Any = None) -> UpstreamConnection:
        """A new connection to ``key`` (dialling in the background; calls queue until it is up)."""
        assert self.events is not None, "Cluster.start() first"
        up = UpstreamConnection(key, self.events, limits=self.limits, tls=self.tls,
                                connect_timeout=self.connect_timeout,
                                heartbeat_interval=self.heartbeat_interval, owner=owner,
                                server_hostname=self.server_hostname)
        up.start()
        if self.retired:
            up.retire()
        return up

    def connections(self) -> dict[str, int]:
        """Open (or dialling) shared connections per server."""
        return {k: sum(not c.closed for c in v) for k, v in self._pool.items()}

    async def retire(self) -> None:
        """A reload replaced this cluster: stop watching, and close each connection once the calls
        in flight on it have their replies (a call still held by a delay fault may dial once more)."""
        self.retired = True
        await self._stop_watch()
        for conns in self._pool.values():
            for up in conns:
                up.retire()
        self._pool.clear()
        await self.discovery.aclose()

    async def _stop_watch(self) -> None:
        if self._watch_task is not None:
            self._watch_task.cancel()
            try:
                await self._watch_task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - closing: a watch error is moot
                pass
            self._watch_task = None

    async def aclose(self) -> None:
        """Stop watching, close every connection (their pending calls get errors) and the discovery."""
        await self._stop_watch()
        for conns in self._pool.values():
            for up in conns:
                up.close("the proxy is closing")
        self._pool.clear()
        await self.discovery.aclose()
