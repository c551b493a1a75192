"""The ws and wss networks: rpcx over WebSocket at ``/_rpcx_``, as Go rpcx (layer: transport).

Rule: the rpcx byte stream rides in WebSocket data frames; frame boundaries mean nothing on read,
and each ``write`` becomes one binary frame (Go's server writes one whole message per frame).
The HTTP upgrade is done here with the bounded reader of :mod:`._http1` (so the bytes after the
head are never lost); the frames are wsproto's (sans-IO, the ``ws`` extra), with a fast path for
the data phase (:mod:`._wsframe`: whole-message data frames read and binary frames written by a
small codec, everything else handed to wsproto at a frame boundary, so wsproto stays the definition).

Go's peers, x/net/websocket, fix the details:

* the client sends ``GET /_rpcx_`` with ``Origin: http://HOST`` (``https://`` for wss): x/net's
  server refuses a handshake without an Origin. Ours accepts one without it.
* x/net's client writes in **text** frames (its default ``PayloadType``) holding binary rpcx bytes,
  so text frames are read as bytes here, not checked as UTF-8 (wsproto would close with 1007).
* ``wss`` is TLS underneath: a Go server refuses to start wss without a TLS config, and so does
  :func:`listen`; :func:`dial` without a context verifies the server against the system CAs, as Go.
  ``ws`` is plain text: a Go *server* on ws with a TLS config listens in TLS, but a Go *client*
  dials ``ws://`` in plain text whatever its config, so ``TLS = False`` keeps our client and server
  able to talk to each other (and to Go's client).
* WebSocket has no half-close: a Close frame, once answered, ends both directions, so
  ``can_write_eof()`` is False; the peer's Close (or EOF) is our ``eof_received``.

Backpressure is the socket's: a frame goes to the tcp transport at once, and its
``pause_writing`` / ``resume_writing`` reach our protocol unchanged.

>>> _origin("wss", "127.0.0.1:8972")
'https://127.0.0.1:8972'
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import ssl as _ssl
from typing import Any

from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Ping
from wsproto.frame_protocol import Frame, MessageDecoder, Opcode
from wsproto.utilities import generate_accept_token

from ..errors import RpcxError
from ._wsframe import FrameReader, encode
from ._http1 import Head, HeadReader, HandshakeListener, dial_with_handshake, hand_over, listen_with_handshake, refuse
from .base import Address, ProtocolFactory, refuse_tls

__all__ = ["TLS", "RPC_PATH", "WebSocketTransport", "listen", "dial"]

log = logging.getLogger("rpcx.transport")

#: ws is plain text (see above); wss (``rpcx/transport/wss.py``, the same code) takes TLS
TLS = False
RPC_PATH = "/_rpcx_"


def _origin(network: str, address: str) -> str:
    return f"{'https' if network == 'wss' else 'http'}://{address}"


class _TextAsBytes(MessageDecoder):
    """x/net/websocket's client sends binary rpcx bytes in text frames: read them as binary."""

    def process_frame(self, frame: Frame) -> Frame:
        if frame.opcode is Opcode.TEXT:
            frame = frame._replace(opcode=Opcode.BINARY)
        return super().process_frame(frame)


def _connection(kind: ConnectionType) -> Connection:
    conn = Connection(kind)
    conn._proto._message_decoder = _TextAsBytes()  # wsproto has no option for this; checked below
    return conn


def _at_boundary(conn: Connection) -> bool:
    """wsproto holds no byte and no unfinished message: the fast path may read the next frame."""
    proto = conn._proto
    frames = proto._frame_decoder
    return (conn.state is ConnectionState.OPEN and frames.header is None and not len(frames.buffer)
            and proto._message_decoder.opcode is None)


# the private attributes we rely on: fail at import (reported as the ws extra) if wsproto moved them
_probe = Connection(ConnectionType.SERVER)
if not isinstance(getattr(getattr(_probe, "_proto", None), "_message_decoder", None), MessageDecoder) \
        or not hasattr(getattr(_probe._proto, "_frame_decoder", None), "buffer"):  # pragma: no cover - depends on wsproto
    raise ImportError("rpcx's ws transport needs a wsproto whose frame protocol has _message_decoder (1.2 to 1.3)")
assert _at_boundary(_probe)
del _probe


class WebSocketTransport(asyncio.Protocol):
    """The rpcx side sees a :class:`~rpcx.transport.ConnectionTransport`; the socket side sees an
    ``asyncio.Protocol``. Made by :func:`listen` and :func:`dial` once the upgrade is done.

    >>> from rpcx.transport import ConnectionTransport
    >>> ws = WebSocketTransport(_connection(ConnectionType.CLIENT), asyncio.Protocol())
    >>> isinstance(ws, ConnectionTransport), ws.can_write_eof()
    (True, False)
    """

    def __init__(self, conn: Connection, protocol: asyncio.Protocol, *, fast: bool = True) -> None:
        self._conn = conn
        self._client = conn.client
        #: the fast path's reader while it has the stream (None: wsproto has it); fast=False keeps
        #: wsproto alone, the reference the tests compare the fast path with
        self._fast = fast
        self._reader = FrameReader(conn.client) if fast else None
        self._protocol = protocol
        self._raw: Any = None
        self._closing = False
        self._eof = False

    # -- facing the socket (asyncio.Protocol) ------------------------------------------------
    def connection_made(self, transport: Any) -> None:
        self._raw = transport
        self._protocol.connection_made(self)  # type: ignore[arg-type]  # a ConnectionTransport, not a socket's

    def data_received(self, data: bytes) -> None:
        chunks: list[bytes] = []
        if self._reader is not None:
            rest = self._reader.feed(data, chunks)
            if rest is None:
                if chunks:
                    self._protocol.data_received(chunks[0] if len(chunks) == 1 else b"".join(chunks))
                return
            self._reader = None  # wsproto takes over from this frame boundary
            data = rest
        self._conn.receive_data(data)
        for event in self._conn.events():
            if isinstance(event, BytesMessage):
                chunks.append(bytes(event.data))
            elif isinstance(event, Ping):
                self._raw.write(self._conn.send(event.response()))
            elif isinstance(event, CloseConnection):
                if event.code not in (1000, 1001, 1005):
                    log.warning("ws: %s closed with %d %s", self.get_extra_info("peername"), event.code, event.reason)
                if self._conn.state is ConnectionState.REMOTE_CLOSING:
                    self._raw.write(self._conn.send(event.response()))
                elif self._conn.state is ConnectionState.OPEN:  # a protocol error found by wsproto
                    self._raw.write(self._conn.send(CloseConnection(code=event.code, reason=(event.reason or "")[:100])))
                if chunks:
                    self._protocol.data_received(b"".join(chunks))
                    chunks = []
                self._peer_eof()
                return
        # one data_received per socket read, as asyncio's transports do: frame boundaries mean nothing
        if chunks:
            self._protocol.data_received(b"".join(chunks))
        if self._fast and not self._closing and _at_boundary(self._conn):
            self._reader = FrameReader(self._client)

    def eof_received(self) -> bool | None:
        self._peer_eof()
        return None

    def _peer_eof(self) -> None:
        if not self._eof:
            self._eof = True
            self._protocol.eof_received()  # no half-open WebSocket: we close whatever it answers
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._closing = True
        self._protocol.connection_lost(exc)

    def pause_writing(self) -> None:
        self._protocol.pause_writing()

    def resume_writing(self) -> None:
        self._protocol.resume_writing()

    # -- facing rpcx (ConnectionTransport) ---------------------------------------------------
    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._closing or self._conn.state is not ConnectionState.OPEN:
            return  # as asyncio's transports, writes after close are dropped
        if data:  # what wsproto's send(BytesMessage(data)) gives when OPEN with no extension
            self._raw.write(encode(bytes(data), self._client) if self._fast else
                            self._conn.send(BytesMessage(data=bytes(data))))

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        self._reader = None  # wsproto reads what may still come after our Close
        if self._conn.state in (ConnectionState.OPEN, ConnectionState.REMOTE_CLOSING):
            self._raw.write(self._conn.send(CloseConnection(code=1000)))
        self._raw.close()

    def abort(self) -> None:
        self._closing = True
        self._raw.abort()

    def is_closing(self) -> bool:
        return self._closing or self._raw.is_closing()

    def pause_reading(self) -> None:
        self._raw.pause_reading()

    def resume_reading(self) -> None:
        self._raw.resume_reading()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._raw.get_extra_info(name, default)

    def get_write_buffer_size(self) -> int:
        return int(self._raw.get_write_buffer_size())

    def can_write_eof(self) -> bool:
        return False

    def write_eof(self) -> None:
        raise NotImplementedError("WebSocket has no half-close")


async def listen(
    addr: Address, protocol_factory: ProtocolFactory, *, ssl: _ssl.SSLContext | None = None,
    backlog: int = 1024, path: str = RPC_PATH, handshake_timeout: float = 10.0,
) -> HandshakeListener:
    _check_tls(addr, ssl, "listen")

    def on_head(t: Any, head: Head, rest: bytes) -> None:
        method, target, _ = head.start
        key = head.headers.get("sec-websocket-key", "")
        if target.partition("?")[0] != path:
            refuse(t, addr.network, f"{method} {target[:80]}", "404 Not Found", "404 page not found\n")
        elif method != "GET" or head.headers.get("upgrade", "").lower() != "websocket" or not key:
            refuse(t, addr.network, f"{method} {target[:80]} without a WebSocket upgrade", "400 Bad Request")
        elif head.headers.get("sec-websocket-version") != "13":
            refuse(t, addr.network, "a WebSocket version other than 13", "400 Bad Request")
        else:
            t.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    b"Sec-WebSocket-Accept: " + generate_accept_token(key.encode()) + b"\r\n\r\n")
            hand_over(t, WebSocketTransport(_connection(ConnectionType.SERVER), protocol_factory()), rest)

    def on_fail(t: Any, reason: str, status: str | None) -> None:
        if status is None:
            log.info("%s: %s from %s", addr.network, reason, t.get_extra_info("peername"))
            t.abort()
        else:
            refuse(t, addr.network, reason, status)

    return await listen_with_handshake(
        addr.network, addr.address,
        lambda pending: HeadReader(on_head, on_fail, timeout=handshake_timeout, pending=pending),
        ssl=ssl, backlog=backlog,
    )


def _check_tls(addr: Address, ssl: _ssl.SSLContext | None, verb: str) -> None:
    if addr.network != "wss":
        refuse_tls(addr, ssl)
    elif addr.network == "wss" and ssl is None and verb == "listen":
        raise RpcxError("must set a TLS context for wss (as Go: 'must set tlsconfig for wss')")


async def dial(
    addr: Address, protocol_factory: ProtocolFactory, *, ssl: _ssl.SSLContext | None = None,
    timeout: float | None = None, server_hostname: str | None = None, path: str = RPC_PATH,
    origin: str | None = None,
) -> tuple[WebSocketTransport, asyncio.Protocol]:
    _check_tls(addr, ssl, "dial")
    key = base64.b64encode(os.urandom(16))
    request = (f"GET {path} HTTP/1.1\r\nHost: {addr.address}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key.decode()}\r\nSec-WebSocket-Version: 13\r\n"
               f"Origin: {origin or _origin(addr.network, addr.address)}\r\n\r\n").encode()
    def check(head: Head) -> str | None:
        if head.start[1] != "101":
            return f"WebSocket handshake refused: {head.start[1]} {head.start[2]}"
        if head.headers.get("sec-websocket-accept", "").encode() != generate_accept_token(key):
            return "WebSocket handshake: wrong Sec-WebSocket-Accept"
        return None

    t, rest = await dial_with_handshake(
        addr, request, check, timeout=timeout,
        ssl=(ssl or _ssl.create_default_context()) if addr.network == "wss" else None, server_hostname=server_hostname,
    )
    ws = WebSocketTransport(_connection(ConnectionType.CLIENT), protocol_factory())
    hand_over(t, ws, rest)
    return ws, ws._protocol
