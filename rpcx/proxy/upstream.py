"""One connection from the proxy to one upstream server (layer: proxy, asyncio adapter).

The protocol state is a client-role :class:`~rpcx.protocol.connection.RpcxConnection` built with
``decompress=False``: :meth:`UpstreamConnection.forward` hands it a client's request frame and it
allocates this connection's next seq and rewrites only that (``send_frame``); replies come back as
``ResponseReceived`` events carrying their wire frame, which goes to the client with only the seq
changed back. Many clients' calls share one upstream connection this way: the seq space is this
connection's, so replies cannot cross.

Calls made while the connection is still being dialled wait in a short queue; if the dial fails
each of them is answered with an error. When the connection ends, every call still pending on it
is answered with an error saying why (see :class:`UpstreamEvents`).
"""

from __future__ import annotations

import asyncio
import logging
import ssl as _ssl
from typing import TYPE_CHECKING, Any, Protocol

from .._deadline_timer import DeadlineTimer
from ..errors import LocalProtocolError
from ..protocol.connection import (
    ConnectionTerminated,
    FrameIgnored,
    HeartbeatAnswered,
    PushReceived,
    ResponseReceived,
    Role,
    RpcxConnection,
)
from ..protocol.decoder import Limits
from ..protocol.message import Message
from ..transport.base import dial, parse_address, tls_for
from .turn import TurnBuffered, TurnWriter, turn_writer

if TYPE_CHECKING:
    from .calls import ProxyCall

__all__ = ["UpstreamConnection", "UpstreamEvents"]

log = logging.getLogger("rpcx.proxy")


class UpstreamEvents(Protocol):
    """What an upstream connection reports to the proxy."""

    def upstream_reply(self, call: "ProxyCall", ev: ResponseReceived) -> None: ...

    def upstream_failed(self, call: "ProxyCall", text: str, sent: bool) -> None: ...

    def upstream_push(self, up: "UpstreamConnection", msg: Message) -> None: ...

    def upstream_closed(self, up: "UpstreamConnection") -> None: ...

    def upstream_busy(self, up: "UpstreamConnection", busy: bool) -> None: ...


class UpstreamConnection(TurnBuffered, asyncio.Protocol):
    """See the module docstring. ``owner`` is the client connection this one is pinned to (pushes
    go to it), or None for a shared connection."""

    def __init__(self, key: str, events: UpstreamEvents, *, limits: Limits = Limits(),
                 tls: _ssl.SSLContext | None = None, connect_timeout: float = 5.0,
                 heartbeat_interval: float | None = None, owner: Any = None,
                 server_hostname: str | None = None) -> None:
        self.key = key
        self.server_hostname = server_hostname
        self.events = events
        self.owner = owner
        self.limits = limits
        self.tls = tls
        self.connect_timeout = connect_timeout
        self.heartbeat_interval = heartbeat_interval
        self.open = False
        self.closed = False
        self.rpx: RpcxConnection | None = None
        self._transport: asyncio.Transport | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: list[tuple[bytes, ProxyCall | None]] = []
        self._timer: DeadlineTimer | None = None
        self._dial_task: asyncio.Task[None] | None = None
        self._why = "closed"
        #: a reload took this connection's cluster away: close once no call waits on it
        self.retiring = False
        #: requests to write at the end of this loop turn (see _write); None: none yet
        self._wbuf: list[bytes | bytearray] | None = None
        self._turn: TurnWriter | None = None

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        """Begin dialling (calls may be forwarded at once: they wait for the connection)."""
        loop = self._loop = asyncio.get_running_loop()
        self._turn = turn_writer(loop)
        self.rpx = RpcxConnection(Role.CLIENT, limits=self.limits, decompress=False, now=loop.time(),
                                  heartbeat_interval=self.heartbeat_interval)
        self._dial_task = loop.create_task(self._dial())

    async def _dial(self) -> None:
        addr = parse_address(self.key)
        try:
            ssl = tls_for(addr.network, self.tls)
            extra: dict[str, Any] = {"server_hostname": self.server_hostname} if ssl is not None and self.server_hostname else {}
            await dial(addr, lambda: self, ssl=ssl, timeout=self.connect_timeout, **extra)
        except asyncio.CancelledError:
            self._fail_all("the proxy is closing")
            raise
        except Exception as exc:  # noqa: BLE001 - every dial failure is answered to the callers
            log.warning("cannot connect to upstream %s: %s", self.key, exc)
            self._fail_all(f"cannot connect to upstream {self.key}: {exc}")

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        if self.closed:  # closed while dialling
            transport.close()
            return
        self.open = True
        queued, self._queue = self._queue, []
        for frame, call in queued:
            self.forward(frame, call)
        self._arm()

    def close(self, why: str = "closed by the proxy") -> None:
        """Close; calls still pending are answered with an error naming ``why``."""
        if self.closed:
            return
        self._why = why
        if self._transport is not None:
            self.flush()  # what this turn wrote (a oneway call, say) still goes out
            self._transport.close()
        elif self._dial_task is not None:
            self._dial_task.cancel()
            self._fail_all(why)

    def _fail_all(self, text: str) -> None:
        if self.closed:
            return
        self.closed = True
        self.open = False
        queued, self._queue = self._queue, []
        for _, call in queued:
            if call is not None:
                self.events.upstream_failed(call, text, False)
        if self.rpx is not None:
            end = self.rpx.close(text)
            for call in end.pending.values():
                if call is not None:
                    self.events.upstream_failed(call, text, True)
        if self._timer is not None:
            self._timer.cancel()
        self.events.upstream_closed(self)

    def connection_lost(self, exc: Exception | None) -> None:
        why = f"upstream {self.key} closed the connection" if self._why == "closed" else self._why
        if exc is not None:
            why = f"{why}: {exc}"
        self._fail_all(why)

    def eof_received(self) -> bool | None:
        return None  # the transport closes; connection_lost answers what is pending

    def pause_writing(self) -> None:
        self.events.upstream_busy(self, True)

    def resume_writing(self) -> None:
        self.events.upstream_busy(self, False)

    def retire(self) -> None:
        """Close as soon as no call waits on this connection (calls in flight still get their replies)."""
        self.retiring = True
        self._close_if_idle()

    def _close_if_idle(self) -> None:
        if self.retiring and not self.closed and self.pending == 0:
            self.close("retired by a configuration reload")

    # -- calls ----------------------------------------------------------------------------------
    @property
    def pending(self) -> int:
        return (self.rpx.pending_count if self.rpx is not None else 0) + len(self._queue)

    def forward(self, frame: bytes, call: "ProxyCall | None") -> None:
        """Send a client's request frame (``call`` None: oneway, nothing is kept for it)."""
        if self.closed:
            if call is not None:
                self.events.upstream_failed(call, f"upstream {self.key} is not connected: {self._why}", False)
            return
        if not self.open:
            self._queue.append((frame, call))
            return
        assert self.rpx is not None and self._transport is not None
        try:
            # a bytearray copy: send_frame then sets the seq in place (the client's frame is kept as
            # it came, for a retry)
            seq, out = self.rpx.send_frame(bytearray(frame), token=call)
        except LocalProtocolError as exc:
            if call is not None:
                self.events.upstream_failed(call, f"upstream {self.key}: {exc}", False)
            return
        if call is not None:
            call.upstream = self
            call.upstream_seq = seq
        self._write(out)
        if call is None and self.retiring:
            self._close_if_idle()

    def _write(self, frame: bytes | bytearray) -> None:
        """Buffer a frame; the turn writer (:mod:`rpcx.proxy.turn`) writes this turn's frames in one
        call at its end: calls from one client read, or from many clients, cost one system call."""
        self._buffer(frame)

    def _turn_transport(self) -> asyncio.WriteTransport | None:
        return self._transport

    def forget(self, call: "ProxyCall") -> None:
        """Stop waiting for ``call``'s reply (its client left, or it timed out here)."""
        if call.upstream_seq is not None and self.rpx is not None:
            self.rpx.forget(call.upstream_seq)
        else:
            self._queue = [(f, c) for f, c in self._queue if c is not call]
        self._close_if_idle()

    # -- bytes in -------------------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        rpx, loop = self.rpx, self._loop
        assert rpx is not None and loop is not None
        for ev in rpx.receive_data(data, loop.time()):
            if type(ev) is ResponseReceived:
                self.events.upstream_reply(ev.token, ev)
            elif type(ev) is PushReceived:
                self.events.upstream_push(self, ev.message)
            elif type(ev) is HeartbeatAnswered:
                self._arm()  # the next heartbeat is due sooner than the echo's deadline
            elif type(ev) is FrameIgnored:
                log.warning("upstream %s: %s; ignored", self.key, ev.reason)
            elif type(ev) is ConnectionTerminated:
                if ev.error is not None:
                    log.warning("closing upstream %s: %s", self.key, ev.reason)
                text = f"upstream {self.key}: {ev.reason}"
                self._why = text
                for call in ev.pending.values():
                    if call is not None:
                        self.events.upstream_failed(call, text, True)
                if self._transport is not None:
                    self._transport.abort() if ev.error is not None else self._transport.close()
        if self.retiring:
            self._close_if_idle()

    # -- heartbeats -----------------------------------------------------------------------------
    def _arm(self) -> None:
        if self.rpx is None or self._loop is None or self.closed:
            return
        if self._timer is None:
            self._timer = DeadlineTimer(self._loop, self._on_timer)
        self._timer.arm(self.rpx.get_timer())

    def _on_timer(self) -> None:
        if self.rpx is None or self._loop is None or self.closed:
            return
        events = self.rpx.handle_timer(self._loop.time())
        out = self.rpx.data_to_send()
        if out and self._transport is not None and not self._transport.is_closing():
            self._transport.write(out)
        for ev in events:
            if type(ev) is ConnectionTerminated:
                self._why = f"upstream {self.key}: {ev.reason}"
                for call in ev.pending.values():
                    if call is not None:
                        self.events.upstream_failed(call, self._why, True)
                if self._transport is not None:
                    self._transport.abort()
        self._arm()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open" if self.open else "connecting"
        return f"<UpstreamConnection {self.key} {state} pending={self.pending}>"
