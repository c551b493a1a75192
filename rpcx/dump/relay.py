"""``rpcx dump`` between a client and a server, and over a capture file (layer: tools; asyncio).

:class:`Relay` listens, dials the upstream server for each client connection, and copies bytes
both ways untouched (the peers see no difference but the address), while a
:class:`~rpcx.dump.StreamDecoder` reads a copy of each direction. A direction that is not rpcx
is still relayed. :func:`read_capture` does the same for a pcap/pcapng file.

>>> relay = Relay(("127.0.0.1", 0), ("127.0.0.1", 8972), print)
>>> # await relay.start(); ...; await relay.aclose()
"""

from __future__ import annotations

import asyncio
import time
from typing import Callable, Optional

from . import Endpoint, Shown, StreamDecoder
from .pcap import FIN, RST, SYN, Reassembler, TcpSegment, packets, segments

__all__ = ["Relay", "read_capture"]

#: bytes read at a time from either peer
CHUNK = 256 * 1024


def read_capture(data: bytes, show: Callable[[Shown], None], port: Optional[int] = None) -> int:
    """Show the rpcx frames of a pcap/pcapng capture's bytes (only connections to or from ``port``
    if given); return how many frames were shown."""
    decoder = StreamDecoder()
    reasm = Reassembler()
    shown = 0
    for seg in segments(packets(data)):
        if port is not None and port not in (seg.src[1], seg.dst[1]):
            continue
        if seg.flags & SYN:
            decoder.restart(seg.src, seg.dst)
        had_gap = (seg.src, seg.dst) in reasm.gaps
        pieces = reasm.add(seg)
        if not had_gap and (seg.src, seg.dst) in reasm.gaps:
            for s in decoder.gap(seg.time, seg.src, seg.dst):
                show(s)
        for t, data_ in pieces:
            for s in decoder.feed(t, seg.src, seg.dst, data_):
                shown += s.message is not None
                show(s)
        if seg.flags & (FIN | RST):
            _end(decoder, seg, show)
    for src, dst, n in decoder.leftovers():
        show(Shown(0.0, src, dst, note=f"the capture ends inside a frame ({n} bytes)"))
    return shown


def _end(decoder: StreamDecoder, seg: TcpSegment, show: Callable[[Shown], None]) -> None:
    for src, dst, n in decoder.leftovers():
        if (src, dst) == (seg.src, seg.dst):
            show(Shown(seg.time, src, dst, note=f"connection closed inside a frame ({n} bytes)"))
    decoder.restart(seg.src, seg.dst)


class Relay:
    """A TCP relay from ``listen`` to ``upstream`` that shows every rpcx frame passing through."""

    def __init__(self, listen: Endpoint, upstream: Endpoint, show: Callable[[Shown], None],
                 connect_timeout: float = 10.0) -> None:
        self.listen = listen
        self.upstream = upstream
        self.show = show
        self.connect_timeout = connect_timeout
        self.decoder = StreamDecoder()
        self._server: Optional[asyncio.base_events.Server] = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> Endpoint:
        """Listen; return the bound (host, port)."""
        self._server = await asyncio.start_server(self._client, self.listen[0], self.listen[1])
        host, port = self._server.sockets[0].getsockname()[:2]
        return host, port

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        client: Endpoint = writer.get_extra_info("peername")[:2]
        try:
            try:
                up_reader, up_writer = await asyncio.wait_for(
                    asyncio.open_connection(self.upstream[0], self.upstream[1]), self.connect_timeout)
            except (OSError, asyncio.TimeoutError) as exc:
                self.show(Shown(time.time(), client, self.upstream,
                                note=f"cannot reach the upstream server: {exc or type(exc).__name__}; "
                                     "client connection closed"))
                return
            server: Endpoint = up_writer.get_extra_info("peername")[:2]
            try:
                await asyncio.gather(self._pipe(reader, up_writer, client, server),
                                     self._pipe(up_reader, writer, server, client))
            finally:
                up_writer.close()
        finally:
            writer.close()
            self._tasks.discard(task)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, src: Endpoint,
                    dst: Endpoint) -> None:
        self.decoder.restart(src, dst)
        try:
            while True:
                data = await reader.read(CHUNK)
                if not data:
                    break
                writer.write(data)  # forwarded first, untouched: decoding must not delay the peer
                for shown in self.decoder.feed(time.time(), src, dst, data):
                    self.show(shown)
                await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()
        except OSError:
            writer.close()  # one side failed: the other sees its connection end too
        for a, b, n in self.decoder.leftovers():
            if (a, b) == (src, dst):
                self.show(Shown(time.time(), src, dst, note=f"connection closed inside a frame ({n} bytes)"))
        self.decoder.restart(src, dst)

    async def aclose(self) -> None:
        """Stop listening and close the relayed connections."""
        if self._server is not None:
            self._server.close()
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
