"""One accepted connection: bytes in, frames out, replies written whole (layer: server).

The asyncio Protocol here only moves bytes; framing is the sans-IO decoder's job and dispatch is
the server's. Replies produced while one read is being handled are written together, which saves a
system call per frame when a client pipelines many calls.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from ..errors import CallTimeoutError, ConnectionClosedError, ProtocolError
from ..protocol.decoder import FrameDecoder
from .context import hot_call
from .hotpath import serve_read

if TYPE_CHECKING:
    from .server import Server

__all__ = ["ServerConnection"]

log = logging.getLogger("rpcx.server")


class ServerConnection(asyncio.Protocol):
    """An accepted client connection. Handlers reach it as ``ctx.connection`` (for pushes)."""

    def __init__(self, server: "Server") -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.peer: Any = None
        self.decoder = FrameDecoder(server.limits)
        self.closed = False
        #: close() or abort() was called: read nothing more, dispatch nothing more
        self.closing = False
        #: whole frames held back because the server is at its concurrency bound
        self.backlog: deque[bytes] = deque()
        self.backlog_bytes = 0
        self._batch: list[bytes] | None = None
        #: monotonic time of the last whole frame (or of the accept), for the server's read_timeout
        self.last_frame_at = time.monotonic()
        #: monotonic time a still incomplete frame started arriving, for the server's frame_timeout
        self.partial_since: float | None = None
        self._paused = False
        self._write_blocked = False
        #: send_message calls waiting for the peer to read (see drain)
        self._drain_waiters: list[asyncio.Future[None]] = []
        self._reading_paused = False

    # -- asyncio.Protocol ---------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        #: the hot-call slots of the thread this connection's loop runs in
        self.hot = hot_call()
        self.peer = transport.get_extra_info("peername") or transport.get_extra_info("sockname")
        self.server._connection_made(self)

    def data_received(self, data: bytes) -> None:
        server = self.server
        if (
            server.auth is None
            and not server.plugins.plugins
            and not self.backlog
            and not self.closing
            # not at capacity: Server._at_capacity, inlined (this runs once per read)
            and (server.max_concurrent_calls <= 0 or server._inflight < server.max_concurrent_calls)
            and serve_read(data, server._fast, self.hot, self, server._finish_plain)
        ):
            # the read was only plain requests, now answered (hotpath.serve_read)
            self.last_frame_at = time.monotonic()
            return
        error: ProtocolError | None = None
        decoder = self.decoder
        try:
            frames = decoder.feed_frames(data)
        except ProtocolError as exc:
            frames = getattr(exc, "frames", [])
            error = exc
        if decoder.buffered:
            if frames or self.partial_since is None:
                self.partial_since = time.monotonic()
        elif self.partial_since is not None:
            self.partial_since = None
        if frames:
            self.last_frame_at = time.monotonic()
            batch: list[bytes] = []
            self._batch = batch
            try:
                handle = server._handle_frame
                backlog = self.backlog
                for frame in frames:
                    if self.closing:
                        break  # a reply closed the connection (auth, plugin, response frame)
                    if frame[2] & 0x40:
                        # a heartbeat is answered at once, even at the concurrency bound (Go answers
                        # them in its read loop): a busy server must not look like a dead one
                        handle(self, frame)
                    elif backlog or server._at_capacity():
                        backlog.append(frame)
                        self.backlog_bytes += len(frame)
                        server._hold(self)
                    else:
                        handle(self, frame)
            finally:
                self._batch = None
                self._flush(batch)
        if error is not None:
            self.server._protocol_error(self, error)

    def eof_received(self) -> bool | None:
        try:
            self.decoder.eof()
        except ProtocolError as exc:
            log.info("connection from %s: %s", self.peer, exc)
        return None  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._wake_drainers()
        self.backlog.clear()
        self.backlog_bytes = 0
        self.server._connection_lost(self, exc)

    # -- used by the server -------------------------------------------------------------------
    def _flush(self, batch: list[bytes] | None) -> None:
        if batch and self.transport is not None and not self.closed:
            data = batch[0] if len(batch) == 1 else b"".join(batch)
            batch.clear()
            self.transport.write(data)

    def write(self, frame: bytes) -> None:
        """Queue one whole frame; frames are never interleaved."""
        if self._batch is not None:
            self._batch.append(frame)
        elif not self.closed and self.transport is not None:
            self.transport.write(frame)

    # Reading stops for either of two reasons, and resumes only when neither holds: the server
    # holds it (at its concurrency bound, or shutting down), or the peer is not reading its replies.
    def pause(self) -> None:
        self._paused = True
        self._update_reading()

    def resume(self) -> None:
        self._paused = False
        self._update_reading()

    def pause_writing(self) -> None:
        # asyncio calls this when replies queue past the high-water mark: a peer that pipelines
        # requests without reading the replies must not make the server buffer them without bound
        self._write_blocked = True
        self._update_reading()

    def resume_writing(self) -> None:
        self._write_blocked = False
        self._update_reading()
        self._wake_drainers()

    async def drain(self, timeout: float | None = None) -> None:
        """Wait until the peer has read enough of what was written to it (a no-op unless the
        transport's write buffer is past its high-water mark).

        Raises :class:`~rpcx.errors.ConnectionClosedError` if the connection ends first and
        :class:`~rpcx.errors.CallTimeoutError` after ``timeout`` seconds (None: no limit).
        """
        if self.closed:
            raise ConnectionClosedError(f"connection from {self.peer} is closed")
        if not self._write_blocked:
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._drain_waiters.append(fut)
        try:
            await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            raise CallTimeoutError(
                f"connection from {self.peer}: the peer has not read for {timeout}s (write timeout)"
            ) from None
        finally:
            if fut in self._drain_waiters:
                self._drain_waiters.remove(fut)
        if self.closed:
            raise ConnectionClosedError(f"connection from {self.peer} closed while a write waited")

    def _wake_drainers(self) -> None:
        waiters, self._drain_waiters = self._drain_waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)

    def _update_reading(self) -> None:
        if self.closed or self.transport is None:
            return
        want_paused = self._paused or self._write_blocked
        if want_paused != self._reading_paused:
            self._reading_paused = want_paused
            if want_paused:
                self.transport.pause_reading()
            else:
                self.transport.resume_reading()

    def close(self) -> None:
        """Close after flushing what was written."""
        self.closing = True
        if self.transport is not None and not self.closed:
            # replies batched during this read (say the error reply that explains the close) go out
            # first: a transport drops writes made after close()
            self._flush(self._batch)
            self.transport.close()

    def abort(self) -> None:
        self.closing = True
        if self.transport is not None:
            self.transport.abort()

    def __repr__(self) -> str:
        return f"<ServerConnection peer={self.peer} closed={self.closed}>"
