"""HTTP invoke and JSON-RPC 2.0 on the proxy's port, routed like rpcx calls (layer: proxy, asyncio
adapter between :mod:`rpcx.gateway` and the proxy's per-call path).

With ``http: true`` in the config a client connection whose first bytes are an HTTP/1 request line
is handed to an :class:`HttpDownstream`: the gateway's HTTP connection (:mod:`rpcx.gateway.http`,
the same parsing, headers, JSON-RPC and error answers as on a server's rpcx port) reads the
requests, and each request :class:`~rpcx.protocol.message.Message` the gateway builds is encoded
to a frame (payload untouched) and given to :meth:`ProxyServer.handle_request
<rpcx.proxy.server.ProxyServer.handle_request>` exactly as a frame from an rpcx client: the same
routes (service, method, metadata from ``X-RPCX-Meta``, client address), faults, edits, timeouts,
clusters, retries and observers. The :class:`HttpDownstream` stands in for the rpcx client
connection: the reply frame the proxy "sends" it is parsed back into the gateway's ``Handled``
answer, matched by a seq of its own (the HTTP caller's ``X-RPCX-MessageID`` is echoed by the
gateway, not used on the wire). Pinned upstream connections (``pin_upstream``) belong to the HTTP
connection and close with it; a request whose HTTP client leaves is recorded ``unfinished``.

>>> HttpDownstream.__name__
'HttpDownstream'
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, Optional

from ..protocol.message import Message, encode, make_response, parse_frame
from ..server.dispatch import Handled
from .calls import ProxyCall
from .frames import read_header
from .upstream import UpstreamConnection

if TYPE_CHECKING:
    from ..gateway import Gateway
    from .server import ProxyServer

__all__ = ["HttpDownstream", "proxy_gateway"]

log = logging.getLogger("rpcx.proxy")


def proxy_gateway(proxy: "ProxyServer") -> "Gateway":
    """The gateway serving the proxy's HTTP connections: HTTP invoke and JSON-RPC, bodies bounded
    by the proxy's message limit; each request goes to :meth:`HttpDownstream.handle`."""
    try:
        import h11  # noqa: F401
    except ImportError:
        raise ImportError("http: true in the proxy config needs h11: pip install 'rpcx-python[gateway]'") from None
    from ..gateway import Gateway

    return Gateway(_handle, http_invoke=True, jsonrpc=True, max_body=proxy.limits.max_message_length,
                   frame_timeout=proxy.frame_timeout)


async def _handle(req: Message, peer: Any) -> Handled:
    # the gateway's ``peer`` is the HttpDownstream itself (see HttpDownstream.connection_made)
    down: HttpDownstream = peer
    return await down.handle(req)


class HttpDownstream(asyncio.Protocol):
    """One HTTP client connection of the proxy (see the module docstring): the asyncio protocol of
    the connection (it passes the bytes on to the gateway's HTTP connection) and, to the proxy, a
    client connection like :class:`~rpcx.proxy.downstream.DownstreamConnection`."""

    def __init__(self, proxy: "ProxyServer", peer: str, host: str) -> None:
        self.proxy = proxy
        self.peer = peer
        self.host = host
        self.closed = False
        self.transport: Optional[asyncio.Transport] = None
        #: what the proxy keeps on a client connection (see DownstreamConnection)
        self.calls: set[ProxyCall] = set()
        self.pinned: dict[tuple[str, str], UpstreamConnection] = {}
        self.upstream_busy: set[UpstreamConnection] = set()
        self.slow_reader = False
        #: seq on the wire -> the gateway request waiting for its reply frame
        self._waiting: dict[int, asyncio.Future[bytes | bytearray]] = {}
        self._seq = 0
        self.http: Any = None

    def __str__(self) -> str:  # the gateway logs its peer
        return self.peer

    # -- asyncio.Protocol: the HTTP connection does the reading and writing -----------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.proxy._downstreams.add(self)  # type: ignore[arg-type]
        self.http = self.proxy.gateway().protocol(self)
        self.http.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        self.http.data_received(data)

    def eof_received(self) -> bool | None:
        return self.http.eof_received()  # type: ignore[no-any-return]

    def pause_writing(self) -> None:
        self.http.pause_writing()

    def resume_writing(self) -> None:
        self.http.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.proxy._downstreams.discard(self)  # type: ignore[arg-type]
        self.http.connection_lost(exc)  # cancels a request being answered: handle() forgets its call
        for call in list(self.calls):
            self.proxy.client_left(call)
        for up in self.pinned.values():
            up.close(f"client {self.peer} left")
        self.pinned.clear()

    # -- what the proxy calls on a client connection ----------------------------------------------
    def send(self, frame: bytes | bytearray) -> None:
        """A reply frame for one of this connection's requests (pushes are not HTTP's: dropped)."""
        # a push (a request frame, from a pinned upstream) must not be taken for a reply of the same seq
        fut = self._waiting.pop(int.from_bytes(frame[4:12], "big"), None) if frame[2] & 0x80 else None
        if fut is None:
            log.info("dropping a frame for HTTP client %s: no request waits for it", self.peer)
            return
        if not fut.done():
            fut.set_result(frame)

    def _update_reading(self) -> None:
        # an upstream that does not take bytes: the HTTP connection answers one request at a time,
        # so holding its reading is what the rpcx client connection does too
        if self.transport is None or self.closed:
            return
        if self.upstream_busy:
            self.transport.pause_reading()
        else:
            self.transport.resume_reading()

    # -- one request from the gateway -------------------------------------------------------------
    async def handle(self, req: Message) -> Handled:
        """Route ``req`` through the proxy and wait for its reply (a oneway call: an empty
        success once forwarded, as the standalone gateway answers)."""
        self._seq = seq = (self._seq + 1) & 0xFFFFFFFFFFFFFFFF
        frame = encode(req, compress=False, seq=seq)
        h = read_header(frame)
        fut: asyncio.Future[bytes | bytearray] | None = None
        if not req.oneway:
            fut = self._waiting[seq] = asyncio.get_running_loop().create_future()
        self.proxy.handle_request(self, frame, h)  # type: ignore[arg-type]
        if fut is None:
            return Handled(make_response(req, b"", None))
        try:
            reply = await fut
        except asyncio.CancelledError:  # the HTTP client left: connection_lost records the call
            self._waiting.pop(seq, None)
            raise
        # the gateway echoes the caller's own id from its headers: the wire seq goes no further
        return Handled(parse_frame(reply, decompress=False).replace(seq=req.seq))
