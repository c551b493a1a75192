"""Writes joined per loop turn, across all of the proxy's connections (layer: proxy, asyncio).

A loopback ``send`` costs the proxy more than everything it does in Python for a call (the kernel
delivers the bytes and wakes the reader inside the sender's system call), so the fewer writes the
better. Every frame the proxy sends in one loop turn, to a client or to an upstream server, is put
in its connection's buffer; the first buffered frame of a turn enrols the connection here, and one
callback at the end of the turn writes each enrolled connection's frames in one call. A lone call
pays nothing for this: the callback runs right after the read that made the frame, before the loop
waits for more bytes. Many calls in one turn (many clients, or many frames in one read) cost one
write per connection, not one per frame.

>>> import asyncio
>>> class Conn:
...     def __init__(self): self.wbuf = None; self.out = []
...     def flush(self):
...         buf, self.wbuf = self.wbuf, None
...         self.out.append(b"".join(buf))
>>> async def main():
...     turn, c = TurnWriter(asyncio.get_running_loop()), Conn()
...     for frame in (b"a", b"b", b"c"):
...         if c.wbuf is None:
...             c.wbuf = []
...             turn.enrol(c)
...         c.wbuf.append(frame)
...     await asyncio.sleep(0)
...     return c.out
>>> asyncio.run(main())
[b'abc']
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Protocol

__all__ = ["TurnBuffered", "TurnWriter", "turn_writer"]

log = logging.getLogger("rpcx.proxy")


class Flushable(Protocol):
    def flush(self) -> None: ...


class TurnWriter:
    """Connections with frames buffered this turn; :meth:`enrol` one on its first buffered frame."""

    __slots__ = ("_loop", "_dirty", "_scheduled")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._dirty: list[Flushable] = []
        self._scheduled = False

    def enrol(self, conn: Flushable) -> None:
        """``conn`` buffered its first frame of this turn: flush it at the turn's end."""
        self._dirty.append(conn)
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._flush_all)

    def _flush_all(self) -> None:
        self._scheduled = False
        dirty, self._dirty = self._dirty, []
        for conn in dirty:
            try:
                conn.flush()
            except Exception:  # noqa: BLE001 - one connection's failure must not keep the others' frames
                log.exception("writing to %r failed", conn)


class TurnBuffered:
    """A connection whose frames go out once per loop turn: :meth:`_buffer` a frame, and the turn
    writer calls :meth:`flush`, which writes them joined to :meth:`_turn_transport`. Subclasses set
    ``_wbuf = None`` and, before the first frame, ``_turn`` (the loop's :func:`turn_writer`)."""

    _wbuf: "list[bytes | bytearray] | None"
    _turn: "TurnWriter | None"

    def _turn_transport(self) -> "asyncio.WriteTransport | None":
        raise NotImplementedError

    def _buffer(self, frame: "bytes | bytearray") -> None:
        buf = self._wbuf
        if buf is None:
            self._wbuf = [frame]
            self._turn.enrol(self)  # type: ignore[union-attr]
        else:
            buf.append(frame)

    def flush(self) -> None:
        """Write what :meth:`_buffer` collected this turn (the turn writer calls this at its end)."""
        buf, self._wbuf = self._wbuf, None
        transport = self._turn_transport()
        if buf and transport is not None and not transport.is_closing():
            transport.write(buf[0] if len(buf) == 1 else b"".join(buf))


_writers: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, TurnWriter]" = weakref.WeakKeyDictionary()


def turn_writer(loop: asyncio.AbstractEventLoop) -> TurnWriter:
    """The one :class:`TurnWriter` of ``loop`` (every connection of every proxy on it shares it)."""
    w = _writers.get(loop)
    if w is None:
        w = _writers[loop] = TurnWriter(loop)
    return w
