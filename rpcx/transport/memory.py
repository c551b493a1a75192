"""The memory network (``memory@NAME``, alias ``memu``, Go's name): connections inside one process
(layer: transport).

``listen`` registers NAME in a per-process table and ``dial`` joins a pair of
:class:`MemoryTransport` objects, one per end, that behave like asyncio's socket transports: bytes
are delivered with ``loop.call_soon`` (never from inside ``write()``), at most 256 KiB per
``data_received``; a peer that pauses reading leaves bytes queued on the writer's side, whose
protocol gets ``pause_writing()`` past the high-water mark (64 KiB by default, as asyncio) and
``resume_writing()`` at the low-water mark. No TLS (``TLS = False``); nothing to time out.

Ends and their rules (the contract of :class:`rpcx.transport.ConnectionTransport`):

* ``close()``: read nothing more (what the peer sent and this end did not read is dropped), flush
  what was written as the peer reads it, then the peer gets ``eof_received()`` and this end
  ``connection_lost(None)``. Bytes written to an end that is closing vanish, as bytes sent to a
  closed socket do.
* ``abort()``: drop what is queued; this end gets ``connection_lost(None)`` and the peer
  ``connection_lost(ConnectionResetError)``.
* ``write_eof()``: half-close; the peer gets ``eof_received()`` after the queued bytes and may
  keep writing until it closes.

>>> import asyncio
>>> from rpcx.transport import dial, listen
>>> class Echo(asyncio.Protocol):
...     def connection_made(self, t): self.t = t
...     def data_received(self, data): self.t.write(data)
>>> class Got(asyncio.Protocol):
...     def __init__(self): self.data = asyncio.get_running_loop().create_future()
...     def data_received(self, data): self.data.set_result(data)
>>> async def main():
...     listener = await listen("memory@doc-echo", Echo)
...     transport, got = await dial("memory@doc-echo", Got)
...     transport.write(b"hello")
...     print(await got.data, transport.get_extra_info("peername"))
...     transport.close(); listener.close()
>>> asyncio.run(main())
b'hello' ('memory', 'doc-echo', 0)
"""

from __future__ import annotations

import asyncio
import errno
import itertools
import ssl as _ssl
from typing import TYPE_CHECKING, Any

from ..errors import RpcxConnectionError
from .base import Address, ConnectionTransport, ProtocolFactory, refuse_tls

__all__ = ["TLS", "MemoryListener", "MemoryTransport", "listen", "dial"]

TLS = False

#: asyncio's default write-buffer limits
HIGH_WATER = 64 * 1024
#: the most one data_received carries, like asyncio's socket reads (so frames arrive split)
MAX_READ = 256 * 1024

#: NAME -> listener, shared by the memory and memu networks of this process
_LISTENERS: dict[str, "MemoryListener"] = {}


class MemoryTransport(asyncio.Transport):
    """One end of an in-memory connection; made by :func:`dial`, never directly."""

    def __init__(self, loop: asyncio.AbstractEventLoop, extra: dict[str, Any]) -> None:
        super().__init__(extra)
        self._loop = loop
        self._protocol: Any = None
        self._peer: MemoryTransport = self  # set by MemoryListener._connect
        #: written here, not yet delivered to the peer's protocol
        self._buffer = bytearray()
        self._reading = True  # our protocol has not paused reading
        self._closing = False  # close() or abort(): nothing more is read, new writes vanish
        self._eof_out = False  # write_eof() or close(): the peer gets EOF after the buffer
        self._eof_sent = False
        self._lost = False  # connection_lost is scheduled or done
        self._flushing = False  # a _flush is scheduled
        self._writer_paused = False  # our protocol got pause_writing()
        self._high = HIGH_WATER
        self._low = HIGH_WATER // 4

    # -- asyncio.BaseTransport ------------------------------------------------------------------
    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._protocol  # type: ignore[no-any-return]

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._protocol = protocol

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        self._eof_out = True
        # what the peer sent us and we never read is dropped: tell it (on its own turn)
        self._loop.call_soon(self._peer._peer_stopped_reading)
        if self._eof_sent or not self._peer._accepting():
            self._finish(None)
        else:
            self._schedule_flush()

    # -- asyncio.ReadTransport ------------------------------------------------------------------
    def is_reading(self) -> bool:
        return self._reading and not self._closing

    def pause_reading(self) -> None:
        if not self._closing:
            self._reading = False

    def resume_reading(self) -> None:
        if self._closing or self._reading:
            return
        self._reading = True
        self._peer._schedule_flush()

    # -- asyncio.WriteTransport -----------------------------------------------------------------
    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data argument must be a bytes-like object, not {type(data).__name__!r}")
        if self._closing or self._lost:
            return  # as the contract says: a transport drops writes made after close()
        if self._eof_out:
            raise RuntimeError("Cannot call write() after write_eof()")
        if not data or not self._peer._accepting():
            return  # the peer reads no more: the bytes vanish, as on a socket closed at the far end
        self._buffer += data
        self._maybe_pause_protocol()
        self._schedule_flush()

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        if self._closing or self._eof_out:
            return
        self._eof_out = True
        self._schedule_flush()

    def abort(self) -> None:
        if self._lost:
            return
        self._closing = True
        self._finish(None)
        peer = self._peer
        if not peer._lost:
            name = self.get_extra_info("sockname")
            peer._finish(ConnectionResetError(errno.ECONNRESET, f"connection reset by peer {name}"))

    def get_write_buffer_size(self) -> int:
        return len(self._buffer)

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._low, self._high

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        if high is None:
            high = HIGH_WATER if low is None else 4 * low
        if low is None:
            low = high // 4
        if not high >= low >= 0:
            raise ValueError(f"high ({high!r}) must be >= low ({low!r}) must be >= 0")
        self._high, self._low = high, low
        self._maybe_pause_protocol()

    # -- moving bytes ---------------------------------------------------------------------------
    def _accepting(self) -> bool:
        """Whether bytes written to this end may still reach its protocol."""
        return not self._closing and not self._lost

    def _schedule_flush(self) -> None:
        if self._flushing or self._lost or not (self._buffer or (self._eof_out and not self._eof_sent)):
            return
        if self._peer._reading or not self._peer._accepting():
            self._flushing = True
            self._loop.call_soon(self._flush)
        # else: resume_reading on the peer schedules us again

    def _flush(self) -> None:
        """Deliver one chunk (or the EOF) to the peer: a loop callback, like a socket read."""
        self._flushing = False
        if self._lost:
            return
        peer = self._peer
        if not peer._accepting():
            self._peer_stopped_reading()
            return
        if not peer._reading:
            return
        buf = self._buffer
        if buf:
            if len(buf) <= MAX_READ:
                data = bytes(buf)
                buf.clear()
            else:
                data = bytes(buf[:MAX_READ])
                del buf[:MAX_READ]
            peer._receive(data)
            self._maybe_resume_protocol()
            self._schedule_flush()
        elif self._eof_out and not self._eof_sent:
            self._eof_sent = True
            peer._receive_eof()
            if self._closing:
                self._finish(None)

    def _receive(self, data: bytes) -> None:
        if not self._accepting():
            return
        try:
            self._protocol.data_received(data)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:  # noqa: BLE001 - as asyncio: report it, then drop the connection
            self._fatal_error(exc, "Fatal error: protocol.data_received() call failed.")

    def _receive_eof(self) -> None:
        if not self._accepting():
            return
        try:
            keep_open = self._protocol.eof_received()
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:  # noqa: BLE001
            self._fatal_error(exc, "Fatal error: protocol.eof_received() call failed.")
            return
        if not keep_open:
            self.close()

    def _peer_stopped_reading(self) -> None:
        """The peer closed or vanished: what we still hold for it can never be delivered."""
        if self._lost or self._peer._accepting():
            return
        if self._buffer:
            self._buffer.clear()
            self._maybe_resume_protocol()
        if self._closing:
            self._finish(None)

    def _maybe_pause_protocol(self) -> None:
        if self._writer_paused or len(self._buffer) <= self._high:
            return
        self._writer_paused = True
        self._call_protocol("pause_writing")

    def _maybe_resume_protocol(self) -> None:
        if self._writer_paused and len(self._buffer) <= self._low and not self._lost:
            self._writer_paused = False
            self._call_protocol("resume_writing")

    def _call_protocol(self, method: str) -> None:
        try:
            getattr(self._protocol, method)()
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:  # noqa: BLE001 - asyncio reports these and carries on
            self._loop.call_exception_handler({
                "message": f"protocol.{method}() failed", "exception": exc, "transport": self,
                "protocol": self._protocol,
            })

    def _fatal_error(self, exc: BaseException, message: str) -> None:
        self._loop.call_exception_handler({
            "message": message, "exception": exc, "transport": self, "protocol": self._protocol,
        })
        self.abort()

    def _finish(self, exc: Exception | None) -> None:
        """End this side: connection_lost(exc) on the next turn of the loop."""
        if self._lost:
            return
        self._lost = True
        self._closing = True
        self._buffer.clear()
        self._loop.call_soon(self._connection_lost, exc)
        self._loop.call_soon(self._peer._peer_stopped_reading)

    def _connection_lost(self, exc: Exception | None) -> None:
        try:
            self._protocol.connection_lost(exc)
        finally:
            self._peer = self  # break the cycle; the peer keeps its own reference to us
            self._protocol = None

    def __repr__(self) -> str:
        state = "lost" if self._lost else "closing" if self._closing else "open"
        return f"<MemoryTransport {self.get_extra_info('sockname')} {state} buffered={len(self._buffer)}>"


class MemoryListener:
    """A listening NAME; ``close()`` frees it (connections made stay open)."""

    def __init__(self, network: str, name: str, factory: ProtocolFactory, loop: asyncio.AbstractEventLoop) -> None:
        self.address = f"{network}@{name}"
        self.name = name
        self._network = network
        self._factory = factory
        self._loop = loop
        self._ids = itertools.count(1)
        self._closed = False

    def close(self) -> None:
        self._closed = True
        if _LISTENERS.get(self.name) is self:
            del _LISTENERS[self.name]

    async def wait_closed(self) -> None:
        return None  # nothing to wind down: no sockets, no accept loop

    def _connect(self, network: str, factory: ProtocolFactory) -> tuple[MemoryTransport, asyncio.Protocol]:
        n = next(self._ids)
        client = MemoryTransport(self._loop, {"peername": (network, self.name, 0), "sockname": (network, self.name, n)})
        server = MemoryTransport(self._loop, {"peername": (network, self.name, n), "sockname": (network, self.name, 0)})
        client._peer, server._peer = server, client
        protocol = factory()
        client._protocol = protocol
        # the server side accepts on the loop's next turn, as a socket server does; bytes the client
        # writes meanwhile are delivered by callbacks scheduled after this one
        self._loop.call_soon(self._accept, server)
        protocol.connection_made(client)
        return client, protocol

    def _accept(self, transport: MemoryTransport) -> None:
        try:
            transport._protocol = self._factory()
            transport._protocol.connection_made(transport)
        except Exception as exc:  # noqa: BLE001 - as asyncio's accept: report, drop this connection
            self._loop.call_exception_handler({"message": "memory listener: accepting failed", "exception": exc})
            transport._protocol = transport._protocol or asyncio.Protocol()
            transport.abort()


async def listen(addr: Address, protocol_factory: ProtocolFactory, *, ssl: _ssl.SSLContext | None = None) -> MemoryListener:
    """Register ``addr.address`` as a NAME others in this process can dial; a taken NAME fails with
    ``OSError(EADDRINUSE)``, as a bound port does."""
    refuse_tls(addr, ssl)
    loop = asyncio.get_running_loop()
    taken = _LISTENERS.get(addr.address)
    if taken is not None and not taken._loop.is_closed():
        raise OSError(errno.EADDRINUSE, f"listen {addr}: address already in use")
    listener = MemoryListener(addr.network, addr.address, protocol_factory, loop)
    _LISTENERS[addr.address] = listener
    return listener


async def dial(
    addr: Address, protocol_factory: ProtocolFactory, *, ssl: _ssl.SSLContext | None = None,
    timeout: float | None = None, server_hostname: str | None = None,
) -> tuple[MemoryTransport, asyncio.Protocol]:
    """Connect to the listener named ``addr.address`` in this process, at once (``timeout`` and
    ``server_hostname`` are accepted as every dial's standard options and have nothing to do)."""
    refuse_tls(addr, ssl)
    listener = _LISTENERS.get(addr.address)
    if listener is None:
        raise RpcxConnectionError(f"dial {addr}: connection refused (nothing listens on {addr.address!r})")
    if listener._loop is not asyncio.get_running_loop():
        raise RpcxConnectionError(f"dial {addr}: connection refused (it is served on another event loop)")
    return listener._connect(addr.network, protocol_factory)


if TYPE_CHECKING:
    def _conforms(t: MemoryTransport) -> ConnectionTransport:
        return t
