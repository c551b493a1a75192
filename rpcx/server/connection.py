"""One accepted connection: moves bytes between a transport and its sans-IO protocol state (layer: server).

The protocol state (framing, limits, the requests still owed a reply, the read and frame
timeouts, the failed state) is the connection's :class:`~rpcx.protocol.connection.RpcxConnection`,
``rpx``; dispatch is the server's (:mod:`rpcx.server.dispatch`). What is left here is I/O: feed
reads to ``rpx`` (or, for a read of plain requests, to the fast path), write replies, keep one
timer at ``rpx``'s next deadline, and stop reading when the server or the peer's reading says so.
Replies produced while one read is handled are written together, one write per read.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import TYPE_CHECKING, Any, Callable

from ..errors import CallTimeoutError, ConnectionClosedError, ReadTimeoutError
from ..protocol.connection import (
    ConnectionTerminated,
    EndOfStream,
    Event,
    HeartbeatReceived,
    RequestReceived,
    Role,
    RpcxConnection,
    State,
)
from .._deadline_timer import DeadlineTimer
from ..transport.keepalive import set_keepalive
from .context import hot_call
from .hotpath import count_frames, serve_read
from .sniff import ProtocolSpec, sniff

if TYPE_CHECKING:
    from .server import Server

__all__ = ["ServerConnection"]

log = logging.getLogger("rpcx.server")


class ServerConnection(asyncio.Protocol):
    """An accepted client connection. Handlers reach it as ``ctx.connection`` (for pushes).

    Public, for handlers, plugins and the C fast path: ``peer``, ``closing`` (true once the
    connection is closing: nothing more is dispatched), ``closed``, :meth:`write`, :meth:`close`,
    :meth:`abort` and ``rpx``, the protocol state.
    """

    def __init__(self, server: "Server") -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.peer: Any = None
        self.rpx = RpcxConnection(
            Role.SERVER, limits=server.limits, read_timeout=server.read_timeout, frame_timeout=server.frame_timeout
        )
        self.closed = False
        #: close() or abort() was called: dispatch nothing more
        self.closing = False
        #: requests held back because the server is at its concurrency bound
        self.backlog: deque[RequestReceived] = deque()
        self.backlog_bytes = 0
        self._max_len = self.rpx.max_message_length
        self._loop: asyncio.AbstractEventLoop | None = None
        self._batch: list[bytes] | None = None
        #: the list the fast path gathers a read's other writes in (reused; empty between reads)
        self._read_batch: list[bytes] = []
        self._close_requested = False
        #: how rpx ended the connection during the read being handled: "close", "abort" or None
        self._end: str | None = None
        self._timer: DeadlineTimer | None = None
        self._paused = False
        self._write_blocked = False
        self._reading_paused = False
        #: send_message calls waiting for the peer to read (see drain)
        self._drain_waiters: list[asyncio.Future[None]] = []
        #: first bytes read while the connection's protocol is not known yet (rpcx.server.sniff)
        self._sniffed = b""
        #: the protocol that claimed the connection, when it is not rpcx
        self.handler: asyncio.Protocol | None = None
        #: where reads go instead of rpcx: the sniffer, then another protocol's handler; or None
        self._divert: Callable[[bytes], None] | None = None

    # -- asyncio.Protocol ---------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        loop = self._loop = asyncio.get_running_loop()
        self.rpx.last_received = loop.time()
        #: the hot-call slots of the thread this connection's loop runs in
        self.hot = hot_call()
        self.peer = transport.get_extra_info("peername") or transport.get_extra_info("sockname")
        period = getattr(self.server, "tcp_keepalive_period", None)  # Go: WithTCPKeepAlivePeriod
        if period:
            set_keepalive(transport, period)
        self.server._connection_made(self)
        if self.server._protocols and not self.closing:
            # other protocols share the port: the first bytes decide (reads go to sniff until then)
            self._divert = self._sniff
        self._arm_timer()  # the read timeout runs from the accept

    # -- protocol selection (rpcx.server.sniff) -----------------------------------------------
    def _sniff(self, data: bytes) -> None:
        sniff(self, data)

    def _waiting_for_first_bytes(self) -> None:
        if self.rpx.partial_since is None and self._loop is not None:
            self.rpx.partial_since = self._loop.time()
            self._arm_timer()

    def _stop_sniffing(self) -> None:
        self._divert = None  # reads go to the rpcx path again
        self._sniffed = b""
        self.rpx.partial_since = None

    def _hand_over(self, spec: ProtocolSpec, first: bytes) -> None:
        """Give the connection to another protocol's handler, with the bytes already read. The
        connection stays the server's (shutdown, connection hooks); rpx's timeouts stop applying."""
        if self._timer is not None:
            self._timer.cancel()
        self.rpx.read_timeout = self.rpx.frame_timeout = None
        handler = self.handler = spec.factory(self)
        log.debug("connection from %s speaks %s", self.peer, spec.name)
        self._divert = handler.data_received
        handler.connection_made(self.transport)  # type: ignore[arg-type]
        handler.data_received(first)

    def data_received(self, data: bytes) -> None:
        if self._divert is not None:
            # the connection's first bytes are still being sniffed, or another protocol has it
            # (an attribute, not a swapped method: uvloop binds data_received once per connection)
            self._divert(data)
            return
        server = self.server
        if (
            # Dispatcher._fast_enabled and Server._at_capacity, inlined: this runs once per read
            server.auth is None
            and not server.plugins.per_call
            and not server.sync_in_thread
            and not self.backlog
            and not self.closing
            # no earlier read left part of a frame behind (rpx sets partial_since exactly then)
            and self.rpx.partial_since is None
            and (server.max_concurrent_calls <= 0 or server._inflight < server.max_concurrent_calls)
        ):
            batch = self._read_batch  # empty: what handlers write during the read gathers here
            self._batch = batch
            try:
                out = serve_read(data, server._routes, self.hot, self, server._finish_plain, self._max_len)
            finally:
                self._batch = None
            if out is not None:
                # the read was only plain requests, now answered (rpcx.server.hotpath.serve_read)
                if server.count_calls:
                    server.calls_served += count_frames(data)
                if batch:
                    if out:
                        batch.append(out)
                    self._flush(batch)
                elif out and not self.closed:
                    self.transport.write(out)  # type: ignore[union-attr]
                if self.rpx.read_timeout is not None:
                    self.rpx.last_received = self._loop.time()  # type: ignore[union-attr]
                if self._close_requested:
                    self._close_now()
                return
        self._receive(data)

    def _receive(self, data: bytes) -> None:
        """The general path: the protocol state takes the bytes and says what they were."""
        events = self.rpx.receive_data(data, self._loop.time())  # type: ignore[union-attr]
        self._handle_events(events)

    def _handle_events(self, events: list[Event]) -> None:
        server = self.server
        batch: list[bytes] = []
        self._batch = batch
        try:
            for ev in events:
                if type(ev) is RequestReceived:
                    if self.closing:
                        break  # a reply closed the connection (auth, plugin): dispatch nothing more
                    if self.backlog or server._at_capacity():
                        self.backlog.append(ev)
                        self.backlog_bytes += len(ev.frame)
                        server._hold(self)
                    else:
                        server._dispatch(self, ev.message, ev.frame)
                elif type(ev) is HeartbeatReceived:
                    # answered at once, even at the concurrency bound (Go answers them in its read
                    # loop): a busy server must not look like a dead one
                    server._heartbeat(self, ev.message)
                elif type(ev) is ConnectionTerminated:
                    self._terminated(ev)
        finally:
            self._batch = None
            out = self.rpx.data_to_send()
            if out:
                batch.append(out)
            self._flush(batch)
        end, self._end = self._end, None
        if end == "abort" and not out:
            self.abort()
        elif end is not None or self._close_requested:
            self._close_now()
        else:
            self._arm_timer()

    def _terminated(self, ev: ConnectionTerminated) -> None:
        """rpx ended the connection: say why, then close once this read's replies are written
        (abort, for a peer that broke the protocol or timed out, unless there is a reply explaining
        why: a response frame sent to a server gets one)."""
        err = ev.error
        self.closing = True
        if err is None:
            log.debug("connection from %s: %s", self.peer, ev.reason)
            self._end = "close"
        elif isinstance(err, ReadTimeoutError):
            log.info("closing connection from %s: %s", self.peer, ev.reason)
            self._end = "close"
        else:
            log.warning("closing connection from %s: %s", self.peer, ev.reason)
            self._end = "abort"

    def eof_received(self) -> bool | None:
        if self.handler is not None:
            return self.handler.eof_received()
        events = self.rpx.receive_data(b"", self._loop.time())  # type: ignore[union-attr]
        if events and type(events[0]) is EndOfStream:
            # the peer half-closed while it is still owed replies: keep writing them, close after
            # the last (rpx turns CLOSED then; see request_done)
            log.debug("connection from %s half-closed with %d replies owed", self.peer, events[0].outstanding)
            return True
        for ev in events:
            if type(ev) is ConnectionTerminated and ev.error is not None:
                log.info("connection from %s: %s", self.peer, ev.reason)
        self.closing = True
        return None  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        if self.handler is not None:
            try:
                self.handler.connection_lost(exc)
            except Exception:  # noqa: BLE001 - the server's own cleanup must still run
                log.exception("%r.connection_lost failed", self.handler)
        self.closed = True
        self.closing = True
        if self._timer is not None:
            self._timer.cancel()
        if self.rpx.state is not State.CLOSED:
            self.rpx.close(str(exc) if exc else "closed")
        self._wake_drainers()
        self.backlog.clear()
        self.backlog_bytes = 0
        self.server._connection_lost(self, exc)

    # -- the one timer ----------------------------------------------------------------------------
    def _arm_timer(self) -> None:
        """Keep the one loop timer at rpx's next deadline (see DeadlineTimer)."""
        if self.closed or self._loop is None:
            return
        if self._timer is None:
            self._timer = DeadlineTimer(self._loop, self._on_timer)
        self._timer.arm(self.rpx.get_timer())

    def _on_timer(self) -> None:
        if self.closed or self._loop is None:
            return
        self._handle_events(self.rpx.handle_timer(self._loop.time()))

    # -- used by the server -------------------------------------------------------------------
    def request_done(self) -> None:
        """The server finished a request this connection received: close its account with rpx,
        close a half-closed connection that owes nothing more, restart the read timeout."""
        rpx = self.rpx
        rpx.finish_request(self._loop.time() if self._loop is not None else None)
        if rpx.state is State.CLOSED:
            if not self.closing:
                self.close()
        elif rpx.read_timeout is not None and not rpx.outstanding:
            self._arm_timer()

    def _flush(self, batch: list[bytes] | None) -> None:
        if batch:
            data = batch[0] if len(batch) == 1 else b"".join(batch)
            batch.clear()
            if self.transport is not None and not self.closed:
                self.transport.write(data)

    def write(self, frame: bytes) -> None:
        """Queue one whole frame; frames are never interleaved. While a read is being handled,
        frames are gathered and written together when it is done."""
        if self._batch is not None:
            self._batch.append(frame)
        elif not self.closed and self.transport is not None:
            self.transport.write(frame)

    # Reading stops for either of two reasons, and resumes only when neither holds: the server
    # holds it (at its concurrency bound, or shutting down), or the peer is not reading its replies.
    def pause(self) -> None:
        """Stop reading from this client (the server is at its bound, or shutting down)."""
        self._paused = True
        self._update_reading()

    def resume(self) -> None:
        """Read from this client again (unless it is not reading its replies)."""
        self._paused = False
        self._update_reading()

    def pause_writing(self) -> None:
        # asyncio calls this when replies queue past the high-water mark: a peer that pipelines
        # requests without reading the replies must not make the server buffer them without bound
        self._write_blocked = True
        self._update_reading()
        if self.handler is not None:
            self.handler.pause_writing()

    def resume_writing(self) -> None:
        self._write_blocked = False
        self._update_reading()
        self._wake_drainers()
        if self.handler is not None:
            self.handler.resume_writing()

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
        """Close after flushing what was written. Called while a read is being handled (by a
        method, say), the close waits until that read's replies are written."""
        self.closing = True
        if self._batch is not None:
            self._close_requested = True
            return
        self._close_now()

    def _close_now(self) -> None:
        self._close_requested = False
        if self.transport is not None and not self.closed:
            self.transport.close()

    def abort(self) -> None:
        """Close at once, dropping what was not written yet."""
        self.closing = True
        if self.transport is not None:
            self.transport.abort()

    def __repr__(self) -> str:
        return f"<ServerConnection peer={self.peer} closed={self.closed}>"
