"""The quic network: rpcx over one QUIC stream per connection, as Go rpcx (layer: transport).

Rule: a QUIC connection carries exactly one client-opened bidirectional stream, and that stream is
the rpcx byte stream (requests, replies and server pushes), as Go's ``smallnest/quick`` wrapper
over quic-go makes it. The QUIC engine is aioquic's (the ``quic`` extra); this module only maps
one stream of it onto the :class:`~rpcx.transport.ConnectionTransport` contract.

Go's peers fix the details:

* ALPN ``rpcx``, TLS 1.3 (QUIC has no other). A server needs a certificate, as Go's
  ``TLSConfig must be configured``: aioquic loads it from files, so the server's context must be
  made by :func:`rpcx.transport.server_tls_context` (which remembers the files).
* A client without a TLS context does **not** verify the server, as Go's client (``InsecureSkipVerify``
  when ``Option.TLSConfig`` is nil), so a self-signed Go or Python server works out of the box. With
  ``Option.tls`` set, its ``verify_mode`` and CA certificates (those loaded with ``cafile``/``cadata``)
  are used, and ``server_hostname`` (else the host) is checked.
* The stream is opened by the client's **first write**: quic-go (and this module's server) only sees
  a stream once data arrives on it, and an empty STREAM frame cannot be sent. An rpcx client writes
  its first request at once, so this matters only to a client that dials and stays silent: the
  server does not see it yet (a Go server's accept loop even waits for it, as with Go's own client).
* Closing is a FIN on the stream, then (once everything is acknowledged) a QUIC CONNECTION_CLOSE, so
  neither side waits for an idle timeout; a FIN from the peer is ``eof_received`` and, unless the
  protocol stays half-open, closes the connection the same way (Go's ``Close`` only sends the FIN).
* Backpressure is QUIC's flow control: ``get_write_buffer_size`` counts the bytes the peer has not
  acknowledged, with asyncio's water marks; while reading is paused no MAX_STREAM_DATA is granted,
  so a peer that does not read holds at most its stream window (1 MiB at first) here.
* Idle connections end after ``idle_timeout`` (aioquic's 60 s; quic-go's is 30 s): use the rpcx
  heartbeat for long idle clients; the client then dials again.

>>> TLS, ALPN
(True, 'rpcx')
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl as _ssl
from typing import Any, Callable, cast

from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.asyncio.server import QuicServer
from aioquic.buffer import Buffer
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.connection import QuicConnection
from aioquic.quic.events import ConnectionTerminated, QuicEvent, StreamDataReceived, StreamReset
from aioquic.quic.packet import pull_quic_header

from ..errors import RpcxConnectionError, RpcxError
from .base import Address, ProtocolFactory, cert_chain_of

__all__ = ["TLS", "ALPN", "QuicStreamTransport", "listen", "dial"]

log = logging.getLogger("rpcx.transport")

TLS = True
ALPN = "rpcx"
HIGH_WATER = 64 << 10
LOW_WATER = 16 << 10
#: how long close() waits for the peer to acknowledge what was written before giving up
CLOSE_LINGER = 10.0
_NO_ERROR, _CANCELLED = 0x0, 0x10c  # QUIC transport NO_ERROR; an application "stream cancelled" code


def _split(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise RpcxError(f"bad quic address {address!r}: expected HOST:PORT")
    return host.strip("[]"), int(port)


def _unmap(addr: Any) -> Any:
    """aioquic's dual-stack sockets report IPv4 peers as ``::ffff:a.b.c.d``: report them as tcp does."""
    if isinstance(addr, tuple) and len(addr) >= 2 and str(addr[0]).startswith("::ffff:"):
        return (addr[0][7:], addr[1])
    return addr


class _Conn(QuicConnectionProtocol):
    """One QUIC connection (client or server end) and its single rpcx stream."""

    def __init__(self, quic: QuicConnection, stream_handler: Any = None, *,
                 factory: ProtocolFactory, on_lost: Callable[[], None] | None = None) -> None:
        super().__init__(quic, stream_handler)
        self.stream: QuicStreamTransport | None = None
        self.error: str | None = None
        self._factory = factory
        self._on_lost = on_lost
        write_limits = quic._write_stream_limits  # type: ignore[attr-defined]  # checked at import below

        def hold_window(builder: Any, space: Any, stream: Any) -> None:
            # aioquic grants more stream window as data arrives; while rpcx reads nothing, grant none
            s = self.stream
            if s is not None and s._reading_paused and stream.stream_id == s._sid:
                return
            write_limits(builder, space, stream)

        quic._write_stream_limits = hold_window  # type: ignore[method-assign]

    def quic_event_received(self, event: QuicEvent) -> None:
        if isinstance(event, StreamDataReceived):
            s = self.stream
            if s is None and not self._quic.configuration.is_client and event.stream_id % 4 == 0:
                s = self.stream = QuicStreamTransport(self, self._factory(), event.stream_id)
                s._protocol.connection_made(s)  # type: ignore[arg-type]  # a ConnectionTransport
            if s is None or event.stream_id != s._sid:
                # one stream per connection, as Go: refuse any other the peer opens
                for refuse in (self._quic.stop_stream, self._quic.reset_stream):
                    try:
                        refuse(event.stream_id, _CANCELLED)
                    except ValueError:  # a direction that stream does not have
                        pass
                self._transmit_soon()
                return
            s._feed(event.data, event.end_stream)
        elif isinstance(event, StreamReset) and self.stream is not None and event.stream_id == self.stream._sid:
            self.stream._lost(ConnectionResetError(f"quic: the peer reset the rpcx stream ({event.error_code:#x})"))
            self._quic.close(error_code=_NO_ERROR)
            self._transmit_soon()
        elif isinstance(event, ConnectionTerminated):
            self.error = event.reason_phrase or f"error {event.error_code:#x}"
            if self.stream is not None:
                orderly = event.error_code == _NO_ERROR and (self.stream._eof_received or self.stream._closing)
                self.stream._lost(None if orderly else ConnectionResetError(f"quic: connection closed: {self.error}"))
            if self._on_lost is not None:
                self._on_lost()

    def error_received(self, exc: Exception) -> None:
        # a connected client socket hears ICMP errors: nobody listens there, fail the dial now
        waiter = self._connected_waiter
        if waiter is not None and not waiter.done():
            self.error = str(exc)
            self._connected_waiter = None
            waiter.set_exception(ConnectionRefusedError(str(exc)))

    def datagram_received(self, data: bytes | str, addr: Any) -> None:
        # aioquic's, except that what this datagram calls for (ACKs, replies written while its events
        # were handled) is sent once per loop iteration, not once per datagram received: the event
        # loop hands over up to a few dozen datagrams per wake-up, and sending after each one cost a
        # packet (and a sendto) per reply; coalesced, replies share packets (see docs/performance.md)
        self._quic.receive_datagram(cast(bytes, data), addr, now=self._loop.time())
        self._process_events()
        self._transmit_soon()
        if self.stream is not None:
            self.stream._acked()


class QuicStreamTransport:
    """The rpcx side of one QUIC stream: a :class:`~rpcx.transport.ConnectionTransport`.

    >>> from rpcx.transport import ConnectionTransport
    >>> issubclass(QuicStreamTransport, ConnectionTransport)
    True
    """

    def __init__(self, conn: _Conn, protocol: asyncio.Protocol, sid: int | None) -> None:
        self._conn = conn
        self._quic: QuicConnection = conn._quic
        self._protocol = protocol
        self._sid = sid
        self._closing = False
        self._eof_sent = False
        self._eof_received = False
        self._write_paused = False
        self._reading_paused = False
        self._pending: list[bytes] = []
        self._pending_eof = False
        self._done = False
        self._linger: asyncio.TimerHandle | None = None

    # -- from the QUIC connection ------------------------------------------------------------
    def _feed(self, data: bytes, end: bool) -> None:
        if self._done:
            return
        if self._reading_paused or self._pending or self._pending_eof:  # keep the order: queued bytes go first
            if data:
                self._pending.append(data)
            self._pending_eof = self._pending_eof or end
            return
        if data:
            self._protocol.data_received(data)
        if end:
            self._peer_eof()

    def _peer_eof(self) -> None:
        if self._eof_received or self._done:
            return
        self._eof_received = True
        keep = self._protocol.eof_received()
        if not keep or self._eof_sent:
            self.close()

    def _acked(self) -> None:
        if self._done:
            return
        if self._write_paused and self.get_write_buffer_size() <= LOW_WATER:
            self._write_paused = False
            self._protocol.resume_writing()
        if self._closing:
            self._finish_close()

    def _finish_close(self) -> None:
        stream = self._stream()
        if stream is None or stream.sender.is_finished:
            self._quic.close(error_code=_NO_ERROR)
            self._conn.transmit()
            self._lost(None)

    def _lost(self, exc: Exception | None) -> None:
        if self._done:
            return
        self._done = True
        self._closing = True
        if self._linger is not None:
            self._linger.cancel()
        self._conn._loop.call_soon(self._protocol.connection_lost, exc)

    def _stream(self) -> Any:
        return None if self._sid is None else self._quic._streams.get(self._sid)  # type: ignore[attr-defined]

    # -- facing rpcx (ConnectionTransport) ---------------------------------------------------
    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._closing or self._eof_sent or not data:
            return  # as asyncio's transports, writes after close are dropped
        if self._sid is None:  # the client opens its stream with its first bytes (see the module doc)
            self._sid = self._quic.get_next_available_stream_id()
        self._quic.send_stream_data(self._sid, bytes(data))
        self._conn._transmit_soon()
        if not self._write_paused and self.get_write_buffer_size() > HIGH_WATER:
            self._write_paused = True
            self._protocol.pause_writing()

    def write_eof(self) -> None:
        if self._eof_sent or self._closing:
            return
        self._eof_sent = True
        if self._sid is None:
            self._sid = self._quic.get_next_available_stream_id()
        self._quic.send_stream_data(self._sid, b"", end_stream=True)
        self._conn._transmit_soon()
        if self._eof_received:
            self.close()

    def can_write_eof(self) -> bool:
        return True

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        if self._sid is not None and not self._eof_sent:
            self._eof_sent = True
            self._quic.send_stream_data(self._sid, b"", end_stream=True)
            self._conn.transmit()
        # the CONNECTION_CLOSE goes once the peer has acknowledged everything (_acked), or after the linger
        self._linger = self._conn._loop.call_later(CLOSE_LINGER, self.abort)
        self._finish_close()

    def abort(self) -> None:
        if self._done:
            return
        stream = self._stream()
        if stream is not None and not stream.sender.is_finished:
            try:
                self._quic.reset_stream(self._sid, _CANCELLED)  # type: ignore[arg-type]
            except (ValueError, AssertionError):  # already reset or finished
                pass
        self._quic.close(error_code=_NO_ERROR if self._eof_received else _CANCELLED, reason_phrase="aborted")
        self._conn.transmit()
        self._lost(None)

    def is_closing(self) -> bool:
        return self._closing

    def pause_reading(self) -> None:
        self._reading_paused = True

    def resume_reading(self) -> None:
        if not self._reading_paused:
            return
        self._reading_paused = False
        self._conn._loop.call_soon(self._drain_pending)
        self._conn._transmit_soon()  # grant the window held while paused

    def _drain_pending(self) -> None:
        if self._reading_paused or self._done:
            return  # paused again before this ran: resume_reading schedules another
        pending, self._pending = self._pending, []
        end, self._pending_eof = self._pending_eof, False
        if pending:
            self._feed(b"".join(pending), end)
        elif end:
            self._feed(b"", True)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "peername":
            paths = self._quic._network_paths  # type: ignore[attr-defined]
            return _unmap(paths[0].addr) if paths else default
        if name == "sockname":
            t = self._conn._transport
            return _unmap(t.get_extra_info("sockname")) if t is not None else default
        if name == "ssl_object":
            return self._quic.tls  # QUIC's TLS is aioquic's own: its tls.Context, not an ssl.SSLObject
        if name == "peercert":
            return None  # no ssl-module dict for aioquic's certificates (nothing in rpcx reads it)
        if name == "alpn_protocol":
            return ALPN
        return default

    def get_write_buffer_size(self) -> int:
        stream = self._stream()
        if stream is None:
            return 0
        return int(stream.sender._buffer_stop - stream.sender._buffer_start)


# the private parts of aioquic relied on: fail at import (reported as the quic extra) if they moved
if not (hasattr(QuicConnection, "_write_stream_limits") and hasattr(QuicConnectionProtocol, "_transmit_soon")
        and hasattr(QuicServer, "datagram_received")):  # pragma: no cover - depends on the installed aioquic
    raise ImportError("rpcx's quic transport needs aioquic 1.x (QuicConnection._write_stream_limits)")


class _Server(QuicServer):
    """aioquic's server, with a close that stops accepting while existing connections carry on."""

    accepting = True

    def datagram_received(self, data: bytes | str, addr: Any) -> None:
        if not self.accepting:
            try:
                header = pull_quic_header(Buffer(data=data if isinstance(data, bytes) else data.encode()), host_cid_length=self._configuration.connection_id_length)
            except ValueError:
                return
            if header.destination_cid not in self._protocols:
                return
        super().datagram_received(data, addr)

    def gone_soon(self) -> None:
        self._loop.call_soon(self.connection_gone)

    def connection_gone(self) -> None:
        if not self.accepting and not self._protocols and self._transport is not None:
            self._transport.close()


class QuicListener:
    """What :func:`listen` returns. ``close()`` stops accepting; the UDP socket they share stays
    open until the last connection ends."""

    def __init__(self, server: _Server, address: str) -> None:
        self._server = server
        self.address = address

    def close(self) -> None:
        self._server.accepting = False
        self._server._loop.call_soon(self._server.connection_gone)

    async def wait_closed(self) -> None:
        return None


async def listen(
    addr: Address, protocol_factory: ProtocolFactory, *, ssl: _ssl.SSLContext | None = None,
    idle_timeout: float = 60.0,
) -> QuicListener:
    if ssl is None:
        raise RpcxError("the quic network needs a TLS certificate (as Go: 'TLSConfig must be configured')")
    chain = cert_chain_of(ssl)
    if chain is None:
        raise RpcxError("quic: aioquic loads the certificate from files: make the TLS context with "
                        "rpcx.transport.server_tls_context(certfile, keyfile)")
    config = QuicConfiguration(is_client=False, alpn_protocols=[ALPN], idle_timeout=idle_timeout)
    config.load_cert_chain(*chain)
    host, port = _split(addr.address)
    loop = asyncio.get_running_loop()
    holder: list[_Server] = []

    def make_conn(quic: QuicConnection, stream_handler: Any = None) -> _Conn:
        return _Conn(quic, stream_handler, factory=protocol_factory,
                     on_lost=lambda: holder[0].gone_soon())

    try:
        _, server = await loop.create_datagram_endpoint(
            lambda: _Server(configuration=config, create_protocol=make_conn), local_addr=(host, port))
    except OSError as exc:
        raise RpcxError(f"quic: cannot listen on {addr.address}: {exc}") from exc
    holder.append(server)
    bound = server._transport.get_extra_info("sockname")  # type: ignore[union-attr]
    shown = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
    return QuicListener(server, f"quic@{shown}:{bound[1]}")


async def dial(
    addr: Address, protocol_factory: ProtocolFactory, *, ssl: _ssl.SSLContext | None = None,
    timeout: float | None = None, server_hostname: str | None = None, idle_timeout: float = 60.0,
) -> tuple[QuicStreamTransport, asyncio.Protocol]:
    host, port = _split(addr.address)
    config = QuicConfiguration(is_client=True, alpn_protocols=[ALPN], idle_timeout=idle_timeout,
                               server_name=server_hostname or host)
    if ssl is None:
        config.verify_mode = _ssl.CERT_NONE  # Go's client: InsecureSkipVerify without a TLS config
    else:
        config.verify_mode = ssl.verify_mode
        cas = ssl.get_ca_certs(binary_form=True)
        if cas:
            config.cadata = "".join(_ssl.DER_cert_to_PEM_cert(c) for c in cas).encode()
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
        family, _, _, _, remote = infos[0]
        conn: _Conn | None = None
        transport, conn = await loop.create_datagram_endpoint(
            lambda: _Conn(QuicConnection(configuration=config), factory=protocol_factory),
            remote_addr=cast(Any, remote), family=family)  # connected: an ICMP "port unreachable" fails the dial
    except OSError as exc:
        raise RpcxConnectionError(f"quic: cannot dial {addr.address}: {exc}") from exc
    assert conn is not None
    try:
        conn.connect(remote)
        await asyncio.wait_for(conn.wait_connected(), timeout)
    except (ConnectionError, asyncio.TimeoutError, OSError) as exc:
        conn.close()
        transport.close()
        why = "timed out" if isinstance(exc, asyncio.TimeoutError) else (conn.error or str(exc) or type(exc).__name__)
        raise RpcxConnectionError(f"quic: handshake with {addr.address} failed: {why}") from exc
    conn._on_lost = transport.close
    stream = conn.stream = QuicStreamTransport(conn, protocol_factory(), None)
    stream._protocol.connection_made(stream)  # type: ignore[arg-type]  # a ConnectionTransport
    return stream, stream._protocol
