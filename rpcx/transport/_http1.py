"""The HTTP/1 handshake the http and ws networks start with (layer: transport).

Rule: a handshake is bounded. :class:`HeadReader` reads one HTTP head (a request or a response;
lines may end in LF alone, as Go's rpcx writes them, or CRLF) of at most ``limit`` bytes within
``timeout`` seconds; junk, an oversize head, a timeout or a lost connection end it with a reason,
never a hang. The bytes after the head belong to the protocol that takes the connection over
(h11's "trailing data"): :func:`hand_over` gives them to it unchanged, on the same asyncio transport.

>>> parse_head(b"CONNECT /_rpcx_ HTTP/1.0\\n\\n").start
('CONNECT', '/_rpcx_', 'HTTP/1.0')
>>> parse_head(b"HTTP/1.1 101 Switching Protocols\\r\\nUpgrade: websocket\\r\\n\\r\\n").headers
{'upgrade': 'websocket'}
"""

from __future__ import annotations

import asyncio
import logging
import re
import ssl as _ssl
from typing import Any, Callable, NamedTuple

from ..errors import RpcxConnectionError
from .tcp import TcpListener, split_host_port

__all__ = ["Head", "HeadReader", "parse_head", "hand_over", "http_error", "refuse", "listen_with_handshake",
           "dial_with_handshake"]

log = logging.getLogger("rpcx.transport")

#: a CONNECT or an upgrade request is a few hundred bytes; h11 bounds an incomplete head at 16 KiB too
HEAD_LIMIT = 16 * 1024
_END = re.compile(rb"\n\r?\n")


class Head(NamedTuple):
    #: the start line in three parts: (method, target, version) or (version, status, reason)
    start: tuple[str, str, str]
    #: header names lowercased (a repeated header keeps its last value)
    headers: dict[str, str]


def parse_head(raw: bytes) -> Head:
    """Parse a head ending in an empty line; ``ValueError`` says what is wrong."""
    lines = raw.decode("latin-1").split("\n")
    parts = lines[0].rstrip("\r").split(" ", 2)
    if len(parts) == 2 and parts[0].startswith("HTTP/"):
        parts.append("")  # a status line may have no reason phrase
    if len(parts) != 3 or not ("HTTP/1." in parts[0] or parts[2].startswith("HTTP/1.")):
        raise ValueError(f"not an HTTP/1 start line: {lines[0][:80]!r}")
    headers = {}
    for line in lines[1:]:
        line = line.rstrip("\r")
        if not line:
            break
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise ValueError(f"bad header line: {line[:80]!r}")
        headers[name.lower()] = value.strip()
    return Head((parts[0], parts[1], parts[2]), headers)


def http_error(status: str, body: str) -> bytes:
    """A complete HTTP/1.1 error response that closes the connection, as Go's net/http writes it."""
    data = body.encode()
    return (f"HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\n"
            f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n").encode() + data


def refuse(t: Any, network: str, what: str, status: str, body: str | None = None) -> None:
    """Answer a handshake we will not take with an HTTP error, then close (logged at INFO: bad
    input from a peer is not our error)."""
    log.info("%s: refused %s from %s: %s", network, what, t.get_extra_info("peername"), status)
    t.write(http_error(status, body if body is not None else status + "\n"))
    t.close()


class HeadReader(asyncio.Protocol):
    """Reads one HTTP head, then pauses reading and calls ``on_head(transport, head, rest)``;
    on failure calls ``on_fail(transport, reason, status)`` (``status`` is an HTTP status worth
    answering with, or None). ``on_connect(transport)``, if given, runs first (a client writes its
    request there). Exactly one of ``on_head`` / ``on_fail`` is called. A listener passes
    ``pending``, the set of handshakes in progress, to end them when it closes."""

    def __init__(
        self,
        on_head: Callable[[Any, Head, bytes], None],
        on_fail: Callable[[Any, str, str | None], None],
        *, timeout: float, limit: int = HEAD_LIMIT, on_connect: Callable[[Any], None] | None = None,
        pending: set[HeadReader] | None = None,
    ) -> None:
        self._pending = pending
        self._on_head, self._on_fail, self._on_connect = on_head, on_fail, on_connect
        self._timeout, self._limit = timeout, limit
        self._buf = bytearray()
        self._timer: asyncio.TimerHandle | None = None
        self.transport: Any = None
        self.done = False

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        if self._pending is not None:
            self._pending.add(self)
        self._timer = asyncio.get_running_loop().call_later(self._timeout, self._fail, "handshake timed out", None)
        if self._on_connect is not None:
            self._on_connect(transport)

    def data_received(self, data: bytes) -> None:
        if self.done:
            return
        self._buf += data
        # search only the new bytes (plus 2 of the old, for a boundary split between reads)
        m = _END.search(self._buf, max(0, len(self._buf) - len(data) - 2))
        if m is None:
            if len(self._buf) > self._limit:
                self._fail(f"handshake head over {self._limit} bytes", "431 Request Header Fields Too Large")
            return
        try:
            head = parse_head(bytes(self._buf[: m.end()]))
        except ValueError as exc:
            self._fail(f"bad handshake: {exc}", "400 Bad Request")
            return
        self._finish()
        self.transport.pause_reading()  # what follows is the next protocol's, once it is in place
        self._on_head(self.transport, head, bytes(self._buf[m.end():]))

    def eof_received(self) -> bool | None:
        self._fail("connection closed during the handshake", None)
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(f"connection lost during the handshake{f': {exc}' if exc else ''}", None)

    def abort(self, reason: str) -> None:
        """End the handshake now (the listener is closing)."""
        self._fail(reason, None)
        if self.transport is not None:
            self.transport.abort()

    def _finish(self) -> None:
        self.done = True
        if self._pending is not None:
            self._pending.discard(self)
        if self._timer is not None:
            self._timer.cancel()

    def _fail(self, reason: str, status: str | None) -> None:
        if not self.done:
            self._finish()
            self._on_fail(self.transport, reason, status)


def hand_over(transport: Any, protocol: asyncio.BaseProtocol, rest: bytes) -> None:
    """Give a connection paused by :class:`HeadReader` to ``protocol``, with the bytes that followed
    the head first. Resuming before delivering them is safe: new reads come on a later loop turn."""
    transport.set_protocol(protocol)
    protocol.connection_made(transport)
    if transport.is_closing():
        return
    transport.resume_reading()
    if rest and isinstance(protocol, asyncio.Protocol):
        protocol.data_received(rest)


class HandshakeListener:
    """A tcp listener whose connections start with a :class:`HeadReader`: ``close()`` also ends the
    handshakes in progress (asyncio's ``wait_closed`` waits for every accepted connection)."""

    def __init__(self, network: str, server: asyncio.base_events.Server, pending: set[HeadReader]) -> None:
        self._server = server
        self._pending = pending
        self.address = TcpListener(network, server).address

    def close(self) -> None:
        self._server.close()
        for reader in list(self._pending):
            reader.abort("the listener closed")

    async def wait_closed(self) -> None:
        await self._server.wait_closed()


async def listen_with_handshake(
    network: str, address: str, make_reader: Callable[[set[HeadReader]], HeadReader], *, ssl: Any, backlog: int,
) -> HandshakeListener:
    """Listen on tcp ``address`` (``host:port``); each connection gets ``make_reader(pending)``, a
    reader that stays in ``pending`` until its handshake ends."""
    pending: set[HeadReader] = set()
    host, port = split_host_port(address)
    server = await asyncio.get_running_loop().create_server(
        lambda: make_reader(pending), host or None, port, ssl=ssl, backlog=backlog, reuse_address=True)
    return HandshakeListener(network, server, pending)


async def dial_with_handshake(
    addr: Any, request: bytes, check: Callable[[Head], str | None], *, timeout: float | None,
    ssl: _ssl.SSLContext | None = None, server_hostname: str | None = None,
) -> tuple[Any, bytes]:
    """Dial ``addr`` (tcp, with TLS when ``ssl``), send ``request`` and read the response head;
    ``check(head)`` returns why it is refused, or None. Returns the transport and the bytes that
    followed the head. Every failure, the timeout included, is an :class:`RpcxConnectionError`."""
    host, port = split_host_port(addr.address)
    loop = asyncio.get_running_loop()
    result: asyncio.Future[tuple[Any, bytes]] = loop.create_future()

    def on_fail(t: Any, reason: str, status: str | None) -> None:
        if t is not None:
            t.abort()
        if not result.done():
            result.set_exception(RpcxConnectionError(f"dial {addr}: {reason}"))

    def on_head(t: Any, head: Head, rest: bytes) -> None:
        reason = check(head)
        if reason is not None:
            on_fail(t, reason, None)
        elif not result.done():
            result.set_result((t, rest))

    kwargs: dict[str, Any] = {}
    if ssl is not None:
        kwargs = {"ssl": ssl, "server_hostname": server_hostname if server_hostname is not None else host}
    try:
        async with asyncio.timeout(timeout):
            transport, _ = await loop.create_connection(
                lambda: HeadReader(on_head, on_fail, timeout=timeout or 30.0, on_connect=lambda t: t.write(request)),
                host, port, **kwargs)
            try:
                t, rest = await result
            except BaseException:
                transport.abort()
                raise
            if t.is_closing():  # lost between the handshake and now: nothing would tell the protocol
                raise RpcxConnectionError(f"dial {addr}: connection closed right after the handshake")
    except RpcxConnectionError:
        raise
    except TimeoutError:
        raise RpcxConnectionError(f"dial {addr}: timed out after {timeout}s") from None
    except (OSError, _ssl.SSLError) as exc:
        raise RpcxConnectionError(f"dial {addr}: {exc}") from exc
    return t, rest
