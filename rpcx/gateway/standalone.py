"""The standalone gateway: HTTP invoke and JSON-RPC in front of rpcx servers found through a
discovery (layer: gateway; what rpcxio/rpcx-gateway does for Go).

Each request is turned into an rpcx request :class:`~rpcx.protocol.message.Message` exactly as on
the rpcx port (:mod:`rpcx.gateway.invoke`, :mod:`rpcx.gateway.jsonrpc`) and forwarded, payload
untouched, with :meth:`XClient.send_raw <rpcx.client.XClient.send_raw>`: one XClient per service
path (on ``discovery.clone(path)``, as rpcx-gateway does), so selection, fail modes, retries and
dial back-off are the client's. The answer has the same statuses and headers as Go's same-port
gateway (one HTTP contract for both; rpcx-gateway's own answer differs between its versions).

Deadlines: a request is given the gateway's ``timeout``, or less if the caller sent
``__ServerTimeout`` (milliseconds) in ``X-RPCX-Meta``; the time left goes on to the server as
``__ServerTimeout``. No lock is taken per request: the XClients are created and found on the one
event loop.

>>> from rpcx.client import Peer2PeerDiscovery
>>> gw = StandaloneGateway(Peer2PeerDiscovery("tcp@127.0.0.1:8972"), timeout=5.0)
>>> gw.gateway.http_invoke, gw.gateway.jsonrpc
(True, True)

Then ``await gw.start("tcp@127.0.0.1:9981")`` ... ``await gw.aclose()``.
"""

from __future__ import annotations

import asyncio
import logging
import ssl as _ssl
import time
from typing import Any, Optional

from ..client.discovery import ServiceDiscovery
from ..client.options import FailMode, Option, SelectMode
from ..client.xclient import XClient
from ..client.selector import Outcome
from ..protocol.constants import SERVER_TIMEOUT, MessageStatusType
from ..protocol.decoder import DEFAULT_MAX_MESSAGE_LENGTH
from ..protocol.message import Message, make_response
from ..server.dispatch import Handled, error_text
from ..transport.base import Listener, listen, parse_address, tls_for
from . import Gateway
from .console import Console
from .cors import CorsOptions

__all__ = ["StandaloneGateway"]

log = logging.getLogger("rpcx.gateway")


class _ServerWatch:
    """A client plugin on each XClient of a gateway with a console: counts every attempt per
    server (an error reply counts as an error) and which servers have a connection open."""

    def __init__(self, console: Console, connected: dict[str, int]) -> None:
        self.console = console
        self.connected = connected
        self.started: dict[tuple[int, str], float] = {}

    def pre_call(self, call: Any, key: str) -> None:
        self.started[id(call), key] = time.perf_counter()

    def post_call(self, call: Any, key: str, outcome: Outcome, value: Any) -> None:
        start = self.started.pop((id(call), key), None)
        seconds = time.perf_counter() - start if start is not None else 0.0
        ok = outcome is Outcome.SUCCESS and not (isinstance(value, Message) and value.status == MessageStatusType.ERROR)
        self.console.count_server(key, ok, seconds)

    def client_connected(self, key: str, client: Any) -> None:
        self.connected[key] = self.connected.get(key, 0) + 1

    def client_connection_close(self, key: str, client: Any) -> None:
        n = self.connected.get(key, 0) - 1
        if n > 0:
            self.connected[key] = n
        else:
            self.connected.pop(key, None)


class StandaloneGateway:
    """An HTTP server that forwards HTTP invoke and JSON-RPC calls to the rpcx servers of
    ``discovery`` (see the module docstring). Defaults are rpcx-gateway's: failover, round robin."""

    def __init__(
        self,
        discovery: ServiceDiscovery,
        *,
        fail_mode: FailMode = FailMode.FAILOVER,
        select_mode: SelectMode = SelectMode.ROUND_ROBIN,
        option: Option = Option(),
        timeout: Optional[float] = 30.0,
        disable_jsonrpc: bool = False,
        cors: Optional[CorsOptions] = None,
        max_body: int = DEFAULT_MAX_MESSAGE_LENGTH,
        frame_timeout: Optional[float] = 30.0,
        tls: Optional[_ssl.SSLContext] = None,
        console: bool = False,
        parser: str = "auto",
    ) -> None:
        self.discovery = discovery
        self.fail_mode = fail_mode
        self.select_mode = select_mode
        self.option = option
        self.timeout = timeout
        self.tls = tls
        #: the web console (``console=True``): the servers and services seen, counted per server
        self.console = Console(self.describe) if console else None
        self.gateway = Gateway(self.handle, http_invoke=True, jsonrpc=not disable_jsonrpc, cors=cors,
                               max_body=max_body, frame_timeout=frame_timeout, console=self.console,
                               parser=parser)
        self.xclients: dict[str, XClient] = {}
        self._opening: dict[str, asyncio.Future[XClient]] = {}
        self.listeners: list[Listener] = []
        self._connections: set[Any] = set()
        self.gateway.connections = self._connections
        #: server key -> connections open to it (over all XClients), for the console's state
        self._connected: dict[str, int] = {}
        self._closed = False

    async def _xclient(self, service_path: str) -> XClient:
        """The XClient of ``service_path``, made on its first request. A registry discovery's clone
        starts with no list (its watch fills it), so its list is fetched once before the XClient
        is made, and concurrent first requests wait for that one fetch."""
        xc = self.xclients.get(service_path)
        if xc is not None:
            return xc
        opening = self._opening.get(service_path)
        if opening is None:
            opening = self._opening[service_path] = asyncio.ensure_future(self._open_xclient(service_path))
            opening.add_done_callback(lambda _t: self._opening.pop(service_path, None))
        return await asyncio.shield(opening)

    async def _open_xclient(self, service_path: str) -> XClient:
        discovery = self.discovery.clone(service_path)
        refresh = getattr(discovery, "refresh", None)
        if refresh is not None and not discovery.get_services():
            try:
                await refresh()
            except Exception as exc:  # noqa: BLE001 - the watch keeps trying; calls say "no server" until then
                log.warning("gateway: cannot list the servers of %s yet: %s", service_path, exc)
        xc = self.xclients[service_path] = XClient(
            service_path, self.fail_mode, self.select_mode, discovery, self.option)
        if self.console is not None:
            xc.plugins.add(_ServerWatch(self.console, self._connected))
        return xc

    def describe(self) -> dict[str, Any]:
        """What the console lists: the discovery's servers and every service path routed so far,
        with each server's state (``connected``, ``idle``: not dialled or closed, ``held out``
        after a refused dial, ``breaker open``/``half-open``)."""
        servers: dict[str, dict[str, Any]] = {}
        for pair in self.discovery.get_services():
            servers[pair.key] = {"address": pair.key, "metadata": pair.value, "services": []}
        services = []
        for path, xc in sorted(self.xclients.items()):
            held = xc.held_out
            breakers = xc.breaker_state()
            for key, meta in xc.servers.items():
                srv = servers.setdefault(key, {"address": key, "metadata": meta, "services": []})
                srv["services"].append(path)
                state = breakers.get(key)
                if key in held:
                    srv["state"] = "held out"
                elif state is not None and state.name != "CLOSED":
                    srv["state"] = "breaker " + state.name.lower().replace("_", "-")
            services.append({"name": path, "methods": [], "metadata": "", "servers": sorted(xc.servers)})
        for key, srv in servers.items():
            srv.setdefault("state", "connected" if self._connected.get(key) else "idle")
        return {"kind": "gateway", "services": services, "servers": list(servers.values())}

    def _timeout(self, req: Message) -> Optional[float]:
        """The gateway's timeout, or the caller's ``__ServerTimeout`` (ms) if that is sooner."""
        timeout = self.timeout
        raw = req.metadata.get(SERVER_TIMEOUT)
        if raw:
            try:
                caller = int(raw) / 1000
            except ValueError:
                caller = None
            if caller is not None and caller > 0 and (timeout is None or caller < timeout):
                timeout = caller
        return timeout

    async def handle(self, req: Message, peer: Any) -> Handled:
        """Forward one request; a failure to get an answer becomes an error reply with its text."""
        if self._closed:
            return Handled(make_response(req, b"", None, "rpcx: gateway is shutting down"))
        try:
            xc = await self._xclient(req.service_path)
            reply = await xc.send_raw(req, timeout=self._timeout(req))
            if req.oneway:
                # written, not answered (Go's SendRaw returns at once for oneway): an empty success
                reply = make_response(req, b"", None)
        except Exception as exc:  # noqa: BLE001 - no server, dial or connection error, timeout: an answer
            log.info("gateway call %s.%s from %s failed: %s", req.service_path, req.service_method, peer, exc)
            reply = make_response(req, b"", None, error_text(exc))
        return Handled(reply)

    async def start(self, address: str) -> str:
        """Listen on ``address`` (an rpcx key, e.g. ``tcp@127.0.0.1:9981``); return the bound key."""
        addr = parse_address(address)
        listener = await listen(addr, self.gateway.protocol, ssl=tls_for(addr.network, self.tls))
        self.listeners.append(listener)
        log.info("gateway serving %s", listener.address)
        return listener.address

    async def aclose(self) -> None:
        """Stop listening, close the HTTP connections and the XClients. Idempotent."""
        if self._closed:
            return
        self._closed = True
        for listener in self.listeners:
            listener.close()
        for conn in list(self._connections):
            conn._close()
        for listener in self.listeners:
            await listener.wait_closed()
        await asyncio.gather(*(xc.aclose() for xc in self.xclients.values()), return_exceptions=True)

    async def __aenter__(self) -> "StandaloneGateway":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
