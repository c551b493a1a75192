"""The raw byte stream of a side channel, for both ends (layer: transport).

Rule: no framing and no buffering beyond asyncio's own flow control. ``receive_some`` returns at
most ``max_bytes`` (the stream reader pauses the socket when its buffer is full) and ``send_all``
waits for the write buffer to drain, so a side connection holds a bounded amount of memory however
much it carries. This is not a network name in rpcx keys: side channels are always plain TCP, as in
Go (``net.DialTimeout("tcp", reply.Addr, ...)``).
"""

from __future__ import annotations

import asyncio
import socket

from ..errors import RpcxConnectionError
from .tcp import split_host_port

__all__ = ["SideConnection", "dial_side", "CHUNK"]

#: how much one read asks for; also the upload chunk
CHUNK = 64 * 1024


class SideConnection:
    """One side connection, after its token: raw bytes both ways.

    >>> async def echo_once(conn: SideConnection) -> None:   # a stream handler
    ...     data = await conn.receive_some()
    ...     await conn.send_all(data)

    ``receive_some()`` returns ``b""`` at end of stream; ``send_eof()`` half-closes;
    ``aclose()`` is idempotent. ``async with`` closes it.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        peer = writer.get_extra_info("peername")
        #: the other end as ``host:port`` (for logs)
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        self._closed = False

    async def receive_some(self, max_bytes: int = CHUNK) -> bytes:
        """Up to ``max_bytes`` bytes as soon as some arrive; ``b""`` at end of stream."""
        return await self.reader.read(max_bytes)

    async def receive_exactly(self, n: int) -> bytes:
        """Exactly ``n`` bytes; raises :class:`asyncio.IncompleteReadError` if the stream ends first."""
        return await self.reader.readexactly(n)

    async def send_all(self, data: bytes) -> None:
        """Write ``data`` and wait until the socket has taken enough of it (flow control). Raises
        :class:`ConnectionResetError` once the peer is gone (uvloop refuses a write to a closed
        transport with a RuntimeError, asyncio drops it silently: both become this one error)."""
        if self.writer.transport.is_closing():
            raise ConnectionResetError(f"the side connection to {self.peer} is closed")
        self.writer.write(data)
        await self.writer.drain()

    async def send_eof(self) -> None:
        """Half-close: the peer reads end of stream, and this end can still read."""
        if self.writer.can_write_eof():
            self.writer.write_eof()
        await self.writer.drain()

    async def aclose(self) -> None:
        """Close the connection (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except (ConnectionError, OSError):
            pass  # the peer went first: closed is closed

    @property
    def closed(self) -> bool:
        return self._closed

    async def __aenter__(self) -> "SideConnection":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


async def dial_side(addr: str, token: bytes, *, connect_timeout: float | None) -> SideConnection:
    """Dial a side address (``host:port``, as Go's reply gives it) and present ``token``."""
    try:
        host, port = split_host_port(addr)
    except ValueError as exc:
        raise RpcxConnectionError(f"side channel: bad address {addr!r} from the server") from exc
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), connect_timeout)
    except (OSError, TimeoutError) as exc:
        raise RpcxConnectionError(f"side channel: dial tcp {addr}: {exc or 'timed out'}") from exc
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    conn = SideConnection(reader, writer)
    try:
        await conn.send_all(token)
    except (ConnectionError, OSError) as exc:
        await conn.aclose()
        raise RpcxConnectionError(f"side channel: writing the token to {addr}: {exc}") from exc
    return conn
