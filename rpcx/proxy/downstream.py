"""One client's connection to the proxy (layer: proxy, asyncio adapter).

The byte stream is cut into whole frames (:class:`~rpcx.protocol.decoder.FrameDecoder`, the size
limits on) and each frame's header is read (:class:`~rpcx.protocol.header.FrameHeader`), nothing
more. Heartbeats are answered here, as Go's server answers them; every other request goes to
:meth:`ProxyServer.handle_request <rpcx.proxy.server.ProxyServer.handle_request>`. A response frame,
bad bytes or a frame left unfinished past the frame timeout close this client only. Replies are
joined per loop turn into one write (:mod:`rpcx.proxy.turn`), and a client that does not read its
replies is not read from until it does. With the proxy's ``http: true``, a connection whose first
bytes are an HTTP/1 request line is handed over (transport and bytes read) to an
:class:`~rpcx.proxy.httpgw.HttpDownstream`.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from ..errors import BadMagicError, ProtocolError
from ..protocol.constants import MAGIC
from ..protocol.decoder import FrameDecoder
from ..protocol.detect import match_http
from .calls import ProxyCall
from .detect import explain_bad_start
from .frames import heartbeat_echo_frame, read_header
from .turn import TurnBuffered, turn_writer
from .upstream import UpstreamConnection

if TYPE_CHECKING:
    from .server import ProxyServer

__all__ = ["DownstreamConnection"]

log = logging.getLogger("rpcx.proxy")


class DownstreamConnection(TurnBuffered, asyncio.Protocol):
    """One client's connection to the proxy (see the module docstring)."""

    def __init__(self, proxy: "ProxyServer") -> None:
        self.proxy = proxy
        self.decoder = FrameDecoder(proxy.limits, decompress=False)
        self.transport: asyncio.Transport | None = None
        self.peer = "?"
        self.host = ""
        self.closed = False
        #: calls waiting for a reply (oneway calls are never here)
        self.calls: set[ProxyCall] = set()
        #: (cluster, server) -> this client's own upstream connection (routes with pin_upstream)
        self.pinned: dict[tuple[str, str], UpstreamConnection] = {}
        self._partial_since: float | None = None
        self._frame_timer: asyncio.TimerHandle | None = None
        #: replies to write at the end of this loop turn (see send); None: none yet
        self._wbuf: list[bytes | bytearray] | None = None
        #: why reading from this client is paused: it does not read its replies, and/or the
        #: upstream connections its calls went to do not take requests fast enough (those, if any)
        self.slow_reader = False
        self.upstream_busy: set[UpstreamConnection] = set()
        #: with the proxy's ``http: true``: the first bytes, until they say rpcx or HTTP
        self._sniff: bytes | None = b"" if proxy.http else None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self._turn = turn_writer(asyncio.get_running_loop())
        limit = self.proxy.max_clients
        if limit is not None and len(self.proxy._downstreams) >= limit:
            log.warning("refusing a client: %d clients already connected (max_clients)", limit)
            self.proxy.clients_refused += 1
            self.closed = True
            transport.close()
            return
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple) and len(peer) >= 2:
            self.host, self.peer = str(peer[0]), f"{peer[0]}:{peer[1]}"
        elif peer:
            self.host = self.peer = str(peer)
        self.proxy._downstreams.add(self)

    def data_received(self, data: bytes) -> None:
        if self._sniff is not None:
            data = self._sniff + data
            verdict = match_http(data) if data[0] != MAGIC else False
            if verdict is None and len(data) < 16:
                self._sniff = data  # wait for the rest of the method name (the frame timer bounds it)
                if self._partial_since is None:
                    self._partial_since = self.proxy._loop_time()
                self._arm_frame_timer()
                return
            self._sniff = None
            if verdict:
                self._to_http(data)
                return
        error: ProtocolError | None = None
        try:
            frames = self.decoder.feed_frames(data)
        except ProtocolError as exc:
            frames, error = getattr(exc, "frames", []), exc
        for frame in frames:
            if self.closed:
                return
            self._frame(frame)
        if error is not None:
            hint = explain_bad_start(data) if isinstance(error, BadMagicError) else None
            self.fail(f"{error}: {hint}" if hint else str(error))
        elif self.decoder.buffered:
            if frames or self._partial_since is None:
                self._partial_since = self.proxy._loop_time()
                self._arm_frame_timer()
        else:
            self._partial_since = None

    def _to_http(self, data: bytes) -> None:
        """Give this connection, and the bytes read so far, to an HTTP client connection."""
        from .httpgw import HttpDownstream

        assert self.transport is not None
        self.proxy._downstreams.discard(self)
        self.closed = True  # this object is done; the HTTP one owns the transport now
        if self._frame_timer is not None:
            self._frame_timer.cancel()
            self._frame_timer = None
        http = HttpDownstream(self.proxy, self.peer, self.host)
        self.transport.set_protocol(http)
        http.connection_made(self.transport)
        http.data_received(data)

    def _frame(self, frame: bytes) -> None:
        try:
            h = read_header(frame)
        except ProtocolError as exc:
            self.fail(str(exc))
            return
        flags = h.flags
        if flags & 0x80:  # a response frame
            self.fail(f"it sent a response frame (seq {h.seq}) to the proxy")
        elif flags & 0x40:  # a heartbeat
            self.send(heartbeat_echo_frame(frame))  # answered here: upstream heartbeats are the proxy's own
        else:
            self.proxy.handle_request(self, frame, h)

    def _arm_frame_timer(self) -> None:
        timeout = self.proxy.frame_timeout
        if timeout is None or self._frame_timer is not None:
            return
        self._frame_timer = asyncio.get_running_loop().call_later(timeout, self._frame_timer_fired)

    def _frame_timer_fired(self) -> None:
        self._frame_timer = None
        since, timeout = self._partial_since, self.proxy.frame_timeout
        if since is None or timeout is None or self.closed:
            return
        if self.proxy._loop_time() - since >= timeout:
            self.fail(f"a frame was not completed within {timeout:g}s ({self.decoder.buffered} bytes buffered)")
        else:
            self._arm_frame_timer()

    # -- backpressure: a client that does not read its replies sends no more requests --------------
    def pause_writing(self) -> None:
        self.slow_reader = True
        self._update_reading()

    def resume_writing(self) -> None:
        self.slow_reader = False
        self._update_reading()

    def _update_reading(self) -> None:
        if self.transport is None or self.closed:
            return
        if self.slow_reader or self.upstream_busy:
            self.transport.pause_reading()
        else:
            self.transport.resume_reading()

    def send(self, frame: bytes | bytearray) -> None:
        """Write a frame to the client at the end of this loop turn, joined with the turn's other
        replies to it (:mod:`rpcx.proxy.turn`: replies from one upstream read cost one write)."""
        if self.closed or self.transport is None:
            return
        self._buffer(frame)

    def _turn_transport(self) -> asyncio.WriteTransport | None:
        return self.transport

    def fail(self, reason: str) -> None:
        """A protocol error from this client: close it (only it)."""
        if self.closed:
            return
        log.warning("closing client %s: %s", self.peer, reason)
        if self.transport is not None:
            self.flush()  # replies to the frames before the bad ones still go out
            self.transport.close()  # replies already written still go out; connection_lost follows
        self.closed = True

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._frame_timer is not None:
            self._frame_timer.cancel()
        self.proxy._downstreams.discard(self)
        for call in list(self.calls):
            self.proxy.client_left(call)
        for up in self.pinned.values():
            up.close(f"client {self.peer} left")
        self.pinned.clear()
