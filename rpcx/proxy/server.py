"""The proxy: client connections in, routed calls out to upstream clusters (layer: proxy, asyncio).

Per client connection a :class:`~rpcx.proxy.downstream.DownstreamConnection` cuts the byte stream
into frames and reads each frame's header only; heartbeats are answered there; every other request
goes to :meth:`ProxyServer.handle_request`, which

1. picks a :class:`~rpcx.proxy.routing.Route` (first match wins, then the default; none: an rpcx
   error reply ``rpcx proxy: no route for S.M``);
2. draws the route's faults (an abort answers with the fault's error; a delay holds the call);
3. re-encodes the header and metadata sections if the route edits the call (timeout, metadata,
   rewrite), never the payload;
4. picks a cluster by weight and a server in it, and forwards the frame on one of the shared
   upstream connections to that server (or the client's pinned one), where only its seq changes.

The reply comes back with only the seq changed back to the client's. A oneway call is forwarded
and forgotten. A call whose upstream connection fails or closes is answered with an rpcx error
(``rpcx proxy: upstream ...``); a call whose client leaves is forgotten upstream (a late reply is
dropped) and recorded as ``unfinished``. Bad bytes from a client close that client only.

>>> import asyncio
>>> from rpcx.client.discovery import Peer2PeerDiscovery
>>> from rpcx.proxy.routing import Match, Route, RouteTable
>>> async def main():                                                   # doctest: +SKIP
...     proxy = ProxyServer(RouteTable([], default=Route("all", Match(), (("arith", 1),))),
...                         {"arith": Cluster("arith", Peer2PeerDiscovery("tcp@127.0.0.1:8972"))})
...     print(await proxy.start("tcp@127.0.0.1:9000"))
...     await proxy.serve_forever()
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl as _ssl
import time
from typing import Any, Iterable

from ..client.selector import Outcome
from ..protocol.decoder import Limits
from ..protocol.header import FrameHeader
from ..protocol.message import Message, encode
from ..protocol.connection import ResponseReceived
from ..oneline import human_duration
from ..plugins.ratelimit import RATE_LIMITED
from ..transport.base import Listener, listen, parse_address, tls_for
from .calls import CallObserver, CallRecord, ProxyCall
from .cluster import Cluster
from .detect import DETECT_NETWORKS, DetectingListener
from .frames import PROXY_ERROR_PREFIX, error_reply, rebuild_request, with_seq
from .routing import LazyMetadata, RouteTable
from .downstream import DownstreamConnection
from .upstream import UpstreamConnection

__all__ = ["ProxyServer", "DownstreamConnection"]

log = logging.getLogger("rpcx.proxy")


class ProxyServer:
    """Routes calls from clients to upstream clusters; see the module docstring.

    ``rng`` draws faults and weighted clusters (seed it for reproducible tests). ``observers`` get
    every finished call (the access log; metrics plug in the same way). ``frame_timeout`` closes a
    client that starts a frame and does not finish it; ``max_clients`` bounds the client
    connections open at once (more are closed as they arrive).
    """

    def __init__(
        self,
        routes: RouteTable,
        clusters: dict[str, Cluster],
        *,
        rng: random.Random | None = None,
        observers: Iterable[CallObserver] = (),
        limits: Limits = Limits(),
        frame_timeout: float | None = 30.0,
        tls: _ssl.SSLContext | None = None,
        max_clients: int | None = None,
        tls_plaintext: bool = False,
        http: bool = False,
    ) -> None:
        missing = {name for r in routes.all_routes() for name, _ in r.clusters} - set(clusters)
        if missing:
            raise ValueError(f"routes name clusters that do not exist: {', '.join(sorted(missing))}")
        self.routes = routes
        self.clusters = clusters
        self.rng = rng or random.Random()
        self.observers = list(observers)
        self.limits = limits
        self.frame_timeout = frame_timeout
        self.tls = tls
        self.pushes_dropped = 0
        #: with ``tls``: a listener also takes plain rpcx, told apart from TLS by the first byte
        self.tls_plaintext = tls_plaintext
        #: HTTP invoke and JSON-RPC on the proxy's ports too, routed like rpcx calls (:mod:`rpcx.proxy.httpgw`)
        self.http = http
        self._gateway: Any = None
        if http:
            self.gateway()  # h11 missing is said now, not at the first HTTP client
        #: the :class:`~rpcx.proxy.metrics.ProxyMetrics` observer, if any (the admin endpoint serves it)
        self.metrics: Any = None
        #: client connections open at once at most (None: no limit); more are closed at once
        self.max_clients = max_clients
        self.clients_refused = 0
        #: upstream connections whose write buffer is over its high-water mark now, and for each
        #: the clients not read from until it takes bytes again
        self._busy_upstreams: set[UpstreamConnection] = set()
        self._held: dict[UpstreamConnection, set[DownstreamConnection]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._listeners: list[Listener] = []
        self._downstreams: set[DownstreamConnection] = set()
        self._started = False
        self._closed: asyncio.Event | None = None

    # -- lifecycle ------------------------------------------------------------------------------
    async def start(self, address: str) -> str:
        """Listen on ``address`` (an rpcx key such as ``tcp@127.0.0.1:9000``); return the bound key."""
        self._loop = asyncio.get_running_loop()
        if not self._started:
            self._started = True
            self._closed = asyncio.Event()
            for c in self.clusters.values():
                await c.start(self)
        addr = parse_address(address)
        tls = tls_for(addr.network, self.tls)
        listener: Listener
        if tls is not None and self.tls_plaintext and addr.network in DETECT_NETWORKS:
            # TLS and plain rpcx on this one port, told apart by the first byte
            listener = await DetectingListener.listen(addr, lambda: DownstreamConnection(self), tls,
                                                      self.frame_timeout, http=self.http)
        else:
            listener = await listen(addr, lambda: DownstreamConnection(self), ssl=tls)
        self._listeners.append(listener)
        log.info("proxy listening on %s", listener.address)
        return listener.address

    async def reload(self, routes: RouteTable, clusters: dict[str, Cluster],
                     observers: Iterable[CallObserver] | None = None) -> None:
        """Swap in new routes and clusters (and observers) at once. Calls already routed finish on
        the clusters they were routed to; a cluster no longer in ``clusters`` (pass the same object
        to keep one and its connections) closes each connection once its calls are answered."""
        missing = {name for r in routes.all_routes() for name, _ in r.clusters} - set(clusters)
        if missing:
            raise ValueError(f"routes name clusters that do not exist: {', '.join(sorted(missing))}")
        old = self.clusters
        for name, c in clusters.items():
            if old.get(name) is not c:
                await c.start(self)
        old_observers = self.observers
        # the swap itself: nothing awaits between these lines, so no call sees half of it
        self.routes, self.clusters = routes, clusters
        if observers is not None:
            self.observers = list(observers)
        kept = {id(c) for c in clusters.values()}
        for c in old.values():
            if id(c) not in kept:
                await c.retire()
        if observers is not None:
            for o in old_observers:
                if o not in self.observers and hasattr(o, "close"):
                    o.close()

    async def serve_forever(self) -> None:
        """Wait until :meth:`aclose`."""
        assert self._closed is not None, "start() first"
        await self._closed.wait()

    async def aclose(self) -> None:
        """Stop listening, close every client (their unfinished calls are recorded) and upstream."""
        for lst in self._listeners:
            lst.close()
        for lst in self._listeners:
            await lst.wait_closed()
        self._listeners.clear()
        for down in list(self._downstreams):
            if down.transport is not None:
                down.transport.close()
            down.closed = True
        for c in self.clusters.values():
            await c.aclose()
        if self._closed is not None:
            self._closed.set()
        await asyncio.sleep(0)  # let the transports' connection_lost run

    async def __aenter__(self) -> "ProxyServer":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def gateway(self) -> Any:
        """The :class:`~rpcx.gateway.Gateway` serving HTTP clients (made on first use)."""
        if self._gateway is None:
            from .httpgw import proxy_gateway

            self._gateway = proxy_gateway(self)
        return self._gateway

    @property
    def clients(self) -> int:
        """Client connections open now."""
        return len(self._downstreams)

    def _loop_time(self) -> float:
        loop = self._loop
        return loop.time() if loop is not None else asyncio.get_running_loop().time()

    # -- a call from a client -------------------------------------------------------------------
    def handle_request(self, down: DownstreamConnection, frame: bytes, h: FrameHeader) -> None:
        """Route, fault, edit and forward one request frame from ``down`` (see the module docstring)."""
        # routes and clusters are read once here: a reload swaps both, and this call keeps its own
        call = ProxyCall(down, h, LazyMetadata(h), time.perf_counter(), len(frame), self.clusters)
        route = call.route = self.routes.select(h, down.host, call.md)
        if route is None:
            self._answer(call, f"{PROXY_ERROR_PREFIX}no route for {h.service_path}.{h.service_method}")
            return
        if not route.admit():
            self._answer(call, RATE_LIMITED)  # Go's text, as its rate limit plugin answers
            return
        delay: float | None = None
        abort: str | None = None
        if route.faults:
            delay, abort = route.faults.decide(self.rng, call.md)
            if delay is not None or abort is not None:
                call.fault = "+".join(n for n, v in (("delay", delay), ("abort", abort)) if v is not None)
        if delay is not None:
            if not h.oneway:
                down.calls.add(call)
            assert self._loop is not None
            call.timer = self._loop.call_later(delay, self._after_delay, call, frame, abort, call.start + delay)
            return
        if abort is not None:
            self._answer(call, abort)
            return
        self._forward(call, frame)

    def _after_delay(self, call: ProxyCall, frame: bytes, abort: str | None, due: float) -> None:
        call.timer = None
        if call.done:
            return  # its client left meanwhile
        early = due - time.perf_counter()
        if early > 0:  # uvloop's timers run on a 1 ms clock and may fire early: a delay is at least its length
            assert self._loop is not None
            call.timer = self._loop.call_later(early, self._after_delay, call, frame, abort, due)
            return
        if abort is not None:
            self._answer(call, abort)
        else:
            self._forward(call, frame)

    def _forward(self, call: ProxyCall, frame: bytes) -> None:
        route, h, down = call.route, call.header, call.down
        assert route is not None
        if down.closed:
            self._finish(call, "unfinished", "the client closed the connection")
            return
        if route.edits_call:
            md = None
            if route.timeout is not None or route.set_metadata or route.add_metadata or route.remove_metadata:
                md = route.edited_metadata(call.md.get())
            frame = rebuild_request(frame, h, service_path=route.rewrite_service,
                                    service_method=route.rewrite_method, metadata=md)
        name = call.cluster = route.pick_cluster(self.rng)
        call.frame = frame
        call.retries_left = call.clusters[name].retries
        self._send(call)

    def _send(self, call: ProxyCall) -> None:
        """Send ``call`` to a server of its cluster (one it has not failed on, when retried)."""
        route, down, h = call.route, call.down, call.header
        assert route is not None and call.cluster is not None
        cluster = call.clusters[call.cluster]
        key = call.key = cluster.pick_server(call.tried)
        if key is None:
            why = "no server" if not cluster.servers else "no server available (breakers open or all tried)"
            self._answer(call, f"{PROXY_ERROR_PREFIX}cluster {cluster.name} has {why}")
            return
        if route.pin_upstream:
            up = down.pinned.get((cluster.name, key))
            if up is None or up.closed:
                up = down.pinned[(cluster.name, key)] = cluster.dial(key, owner=down)
        else:
            up = cluster.connection(key)
        call.upstream = up
        call.upstream_seq = None
        if self.observers:
            call.sent = time.perf_counter()
        if self._busy_upstreams and up in self._busy_upstreams and up not in down.upstream_busy:
            self._hold_reading(down, up)  # this request may go out; the client's next ones wait
        if h.oneway:
            up.forward(call.frame, None)  # nothing is kept for a oneway call
            self._finish(call, "ok", None)
            return
        down.calls.add(call)
        if route.timeout is not None and call.timer is None:
            assert self._loop is not None
            call.timer = self._loop.call_later(route.timeout, self._timed_out, call)
        up.forward(call.frame, call)

    def _timed_out(self, call: ProxyCall) -> None:
        call.timer = None
        if call.done:
            return
        if call.upstream is not None:
            call.upstream.forget(call)
        self._report(call, Outcome.TIMEOUT)
        assert call.route is not None and call.route.timeout is not None
        self._answer(call, f"{PROXY_ERROR_PREFIX}call timed out after {human_duration(call.route.timeout)}"
                           f" (route {call.route.name})")

    def _answer(self, call: ProxyCall, text: str) -> None:
        """End ``call`` with an rpcx error reply the proxy makes (none for a oneway call)."""
        h = call.header
        reply = None if h.oneway else error_reply(h, text)
        self._finish(call, "error", text, reply)

    def client_left(self, call: ProxyCall) -> None:
        """``call``'s client closed its connection before the reply."""
        if call.done:
            return
        if call.upstream is not None:
            call.upstream.forget(call)
        self._finish(call, "unfinished", "the client closed the connection")

    def _finish(self, call: ProxyCall, status: str, error: str | None, reply: bytes | bytearray | None = None,
                upstream_time: float | None = None) -> None:
        call.done = True
        if call.timer is not None:
            call.timer.cancel()
            call.timer = None
        down = call.down
        down.calls.discard(call)
        if reply is not None:
            down.send(reply)
        if self.observers:
            self._record(call, status, error, len(reply) if reply is not None else 0, upstream_time)

    def _record(self, call: ProxyCall, status: str, error: str | None, response_bytes: int,
                upstream_time: float | None = None) -> None:
        h = call.header
        want_md = any(o.wants_metadata for o in self.observers)
        up = call.upstream
        record = CallRecord(
            client=call.down.peer, service=h.service_path, method=h.service_method,
            route=call.route.name if call.route is not None else None, cluster=call.cluster,
            upstream=up.key if up is not None else None, status=status, error=error,
            rpc_time=time.perf_counter() - call.start, seq=call.client_seq, oneway=h.oneway, fault=call.fault,
            request_bytes=call.request_bytes, response_bytes=response_bytes,
            upstream_time=upstream_time, retries=len(call.tried),
            metadata=call.md.get() if want_md else {},
        )
        for o in self.observers:
            try:
                o.call_finished(record)
            except Exception:  # noqa: BLE001 - a broken observer must not break forwarding
                log.exception("call observer %r failed", o)

    # -- what upstream connections report -------------------------------------------------------
    def upstream_reply(self, call: ProxyCall, ev: ResponseReceived) -> None:
        """The reply to ``call`` arrived: send its frame to the client under the client's seq."""
        if call.done:
            return
        failed = ev.frame[2] & 0x03 == 1  # an error reply: its text is in the metadata, already parsed
        # a service error is an answer too (the breaker counts it a success; outlier ejection may not)
        self._report(call, Outcome.SERVICE_ERROR if failed else Outcome.SUCCESS)
        reply = with_seq(ev.frame, call.client_seq)
        up_time = None if call.sent is None else time.perf_counter() - call.sent
        if failed:
            self._finish(call, "error", ev.message.error, reply, up_time)
        else:
            self._finish(call, "ok", None, reply, up_time)

    def upstream_failed(self, call: ProxyCall, text: str, sent: bool) -> None:
        """``call`` cannot get a reply from its upstream (``sent``: the request had been written):
        try another server if the cluster allows retries, else answer with an rpcx error saying why."""
        if call.done:
            return
        self._report(call, Outcome.CONNECTION_ERROR if sent else Outcome.DIAL_ERROR)
        if call.retries_left > 0 and not call.down.closed and call.key is not None:
            call.retries_left -= 1
            call.tried.append(call.key)
            log.info("retrying %s.%s after: %s", call.header.service_path, call.header.service_method, text)
            if self._loop is not None:
                self._loop.call_soon(self._retry, call)  # not from inside the failing connection's callback
                return
        self._answer(call, PROXY_ERROR_PREFIX + text)

    def _retry(self, call: ProxyCall) -> None:
        if call.done:
            return
        call.down.calls.discard(call)
        self._send(call)

    def _report(self, call: ProxyCall, outcome: Outcome) -> None:
        if call.key is not None and call.cluster is not None:
            cluster = call.clusters.get(call.cluster)
            if cluster is not None:
                cluster.report(call.key, outcome)

    def upstream_push(self, up: UpstreamConnection, msg: Message) -> None:
        """A server pushed ``msg`` on ``up``: deliver it to the pinned client, or drop it (shared)."""
        owner: Any = up.owner
        if owner is None or owner.closed:
            # a shared connection carries many clients' calls: the push names none of them
            self.pushes_dropped += 1
            log.warning("dropping a push %s.%s from %s on a shared upstream connection (route it with "
                        "pin_upstream to deliver pushes)", msg.service_path, msg.service_method, up.key)
            return
        owner.send(encode(msg))  # decompress=False upstream: a compressed payload stays as it came

    def upstream_busy(self, up: UpstreamConnection, busy: bool) -> None:
        """``up`` stopped (or resumed) taking bytes as fast as they come. While it is busy, the
        clients with calls on it, and any client that sends it another call, are not read from
        (so requests cannot pile up in the proxy); clients whose calls go elsewhere carry on."""
        if busy:
            if up in self._busy_upstreams:
                return
            self._busy_upstreams.add(up)
            self._held[up] = set()
            for down in list(self._downstreams):  # only on the transition: O(calls in flight)
                if any(call.upstream is up for call in down.calls):
                    self._hold_reading(down, up)
        else:
            self._busy_upstreams.discard(up)
            for down in self._held.pop(up, ()):
                down.upstream_busy.discard(up)
                down._update_reading()

    def _hold_reading(self, down: DownstreamConnection, up: UpstreamConnection) -> None:
        down.upstream_busy.add(up)
        self._held.setdefault(up, set()).add(down)
        down._update_reading()

    def upstream_closed(self, up: UpstreamConnection) -> None:
        """``up`` ended: a pinned client dials a new one on its next call."""
        if up in self._busy_upstreams:
            self.upstream_busy(up, False)
        owner: Any = up.owner
        if owner is not None:
            for k, v in list(owner.pinned.items()):
                if v is up:
                    del owner.pinned[k]
