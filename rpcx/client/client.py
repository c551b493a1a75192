"""``Client``: one multiplexed connection to one server (layer: client).

The protocol state (seq allocation, matching replies to calls, heartbeats, limits, the failed
state) lives in the sans-IO :class:`~rpcx.protocol.connection.RpcxConnection`; this module only
moves bytes between it and an asyncio transport, keeps its one timer, and turns its events into
finished futures. Calls are matched to replies by seq, so any number may be in flight and replies
may come back in any order. The client never reconnects by itself;
:class:`~rpcx.client.xclient.XClient` dials again when needed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any, Callable

from .._deadline_timer import DeadlineTimer
from ..codec.base import CodecRegistry
from ..errors import (
    CallTimeoutError,
    CodecError,
    ConnectionClosedError,
    LocalProtocolError,
    RpcxConnectionError,
    ServiceError,
)
from ..protocol.connection import (
    ConnectionTerminated,
    Event,
    FrameIgnored,
    HeartbeatAnswered,
    PushReceived,
    ResponseReceived,
    Role,
    RpcxConnection,
)
from ..protocol.constants import CompressType
from ..protocol.heartbeat import heartbeat_request
from ..protocol.message import COMPRESS_THRESHOLD, Message
from ..oneline import human_duration
from ..transport.base import Address, dial, dial_options, parse_address, tls_for
from ..transport.keepalive import set_keepalive
from .options import Option

if TYPE_CHECKING:
    from .plugins import ClientPluginContainer

__all__ = ["Client", "PushHandler"]

log = logging.getLogger("rpcx.client")

PushHandler = Callable[[Message], Any]

#: the hooks of a Client made without plugins (never appended to)
_NO_HOOKS: list[Callable[[Message], Message | None]] = []


def _zero_reply(reply_type: Any) -> Any:
    """What an empty reply payload means: Go's client skips decoding it and leaves the reply at its
    zero value; here that is ``reply_type()`` when it can be built without arguments, else None.

    >>> _zero_reply(bytes), _zero_reply(None), _zero_reply(dict)
    (b'', None, {})
    """
    if isinstance(reply_type, type):
        try:
            return reply_type()
        except Exception:  # noqa: BLE001 - a type that needs arguments has no zero value here
            return None
    return None


class _ClientProtocol(asyncio.Protocol):
    """The asyncio side: hands bytes to the client and nothing else."""

    __slots__ = ("client", "data_received")

    def __init__(self, client: "Client") -> None:
        self.client = client
        self.data_received = client._data_received  # type: ignore[method-assign]

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.client._transport = transport  # type: ignore[assignment]

    def eof_received(self) -> bool | None:
        self.client._eof_received()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.client._connection_lost(exc)


class Client:
    """One connection to one rpcx server.

    >>> async def main():                                  # doctest: +SKIP
    ...     async with await Client.connect("tcp@127.0.0.1:8972") as c:
    ...         reply = await c.call("Arith", "Mul", {"A": 10, "B": 20})
    ...         print(reply["C"])

    ``on_push`` receives server pushes (Go: ``ServerMessageChan``); without it they are logged and
    dropped. ``Client.call(timeout=...)`` bounds the wait here only: like Go's plain ``Client.Call``
    it does not send ``__ServerTimeout`` (``XClient`` does). ``plugins`` (a
    :class:`~rpcx.client.plugins.ClientPluginContainer`; XClient passes its own) supplies the
    ``before_encode`` and ``after_decode`` hooks, read at each call, so plugins added later apply too.
    """

    def __init__(self, address: str | Address, option: Option = Option(), *, codecs: CodecRegistry | None = None,
                 on_push: PushHandler | None = None, plugins: "ClientPluginContainer | None" = None) -> None:
        self.address = address if isinstance(address, Address) else parse_address(address)
        self.option = option
        self.codecs = codecs or CodecRegistry()
        self.on_push = on_push
        self._transport: asyncio.Transport | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._conn: RpcxConnection | None = None
        self._closed = False
        self._close_reason: BaseException | None = None
        self._done: asyncio.Future[None] | None = None
        self._timer: DeadlineTimer | None = None
        self._push_tasks: set[asyncio.Task[Any]] = set()
        #: frames written in this loop turn after its first (see _write); None: nothing written yet
        self._wbuf: list[bytes | bytearray] | None = None
        # the container's own lists (changed in place by add/remove): one truth test per call or read
        # is all a client without codec hooks pays
        self._before_encode = plugins.before_encode if plugins is not None else _NO_HOOKS
        self._after_decode = plugins.after_decode if plugins is not None else _NO_HOOKS

    # -- lifecycle ------------------------------------------------------------------------------
    @classmethod
    async def connect(cls, address: str | Address, option: Option = Option(), **kwargs: Any) -> "Client":
        """Dial ``address`` (an rpcx key such as ``tcp@127.0.0.1:8972``) and return the client."""
        client = cls(address, option, **kwargs)
        await client._connect()
        return client

    async def _connect(self) -> None:
        loop = self._loop = asyncio.get_running_loop()
        self._done = loop.create_future()
        hb = self.option.heartbeat
        self._conn = RpcxConnection(
            Role.CLIENT,
            limits=self.option.limits,
            read_timeout=self.option.idle_timeout,
            heartbeat_interval=hb.interval if hb is not None else None,
            heartbeat_max_wait=hb.max_wait if hb is not None else 30.0,
            now=loop.time(),
        )
        ssl = tls_for(self.address.network, self.option.tls)
        # Go's RPCPath for the networks that speak HTTP first (http CONNECT, ws, wss); KCP's BlockCrypt
        accepts = dial_options(self.address.network)
        extra: dict[str, Any] = {}
        if "path" in accepts:
            extra["path"] = self.option.rpc_path
        if "block" in accepts:
            extra["block"] = self.option.kcp_block
        transport, _ = await dial(
            self.address, lambda: _ClientProtocol(self), ssl=ssl, timeout=self.option.connect_timeout,
            server_hostname=self.option.server_hostname, **extra,
        )
        set_keepalive(transport, self.option.tcp_keepalive_period)  # Go's TCPKeepAlivePeriod
        log.debug("connected to %s", self.address)
        self._arm_timer()

    @property
    def closed(self) -> bool:
        """True once the connection is closed or closing: nothing more can be sent on it."""
        return self._closed

    @property
    def pending(self) -> int:
        """Calls waiting for a reply."""
        return self._conn.pending_count if self._conn is not None else 0

    @property
    def connection(self) -> RpcxConnection | None:
        """The sans-IO protocol state of this connection (None before it is dialled)."""
        return self._conn

    async def aclose(self) -> None:
        """Close the connection; pending calls fail with :class:`ConnectionClosedError`. Idempotent."""
        if self._transport is not None and not self._closed:
            self._transport.close()
        if self._done is not None:
            await asyncio.shield(self._done)

    async def wait_closed(self) -> None:
        """Wait until the connection is closed (by either side)."""
        if self._done is not None:
            await asyncio.shield(self._done)

    async def __aenter__(self) -> "Client":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- bytes in, events out --------------------------------------------------------------------
    def _data_received(self, data: bytes) -> None:
        conn = self._conn
        assert conn is not None and self._loop is not None
        events = conn.receive_data(data, self._loop.time())
        if len(events) == 1 and not self._after_decode:
            ev = events[0]
            if type(ev) is ResponseReceived:
                fut = ev.token
                if not fut.done():
                    fut.set_result(ev)
                return
        self._handle_events(events)

    def _handle_events(self, events: list[Event]) -> None:
        after_decode = self._after_decode
        for ev in events:
            if after_decode and isinstance(ev, (ResponseReceived, PushReceived)):
                hooked = self._run_after_decode(ev)
                if hooked is None:
                    continue
                ev = hooked
            if type(ev) is ResponseReceived:
                fut = ev.token
                if not fut.done():
                    fut.set_result(ev)
            elif type(ev) is PushReceived:
                self._push(ev.message)
            elif type(ev) is HeartbeatAnswered:
                self._arm_timer()  # the next heartbeat is due sooner than the echo's deadline
            elif type(ev) is FrameIgnored:
                log.warning("%s: %s; ignored", self.address, ev.reason)
            elif type(ev) is ConnectionTerminated:
                self._terminated(ev)

    def _run_after_decode(self, ev: ResponseReceived | PushReceived) -> ResponseReceived | PushReceived | None:
        """``ev`` with its message passed through the ``after_decode`` hooks; None when a hook raised
        (the reply's call fails with that error; a push is logged and dropped)."""
        msg = ev.message
        try:
            for hook in self._after_decode:
                out = hook(msg)
                if out is not None:
                    if not isinstance(out, Message):
                        raise TypeError(f"after_decode hook {hook!r} returned {type(out).__name__}, "
                                        "not a Message or None")
                    msg = out
        except Exception as exc:  # noqa: BLE001 - the plugin's error is this message's, not the connection's
            if type(ev) is ResponseReceived:
                fut = ev.token
                if fut is not None and not fut.done():
                    fut.set_exception(exc)
            else:
                log.exception("%s: after_decode failed on a push; dropped", self.address)
            return None
        if type(ev) is ResponseReceived:
            return ResponseReceived(ev.seq, ev.token, msg)
        return PushReceived(msg)

    def _run_before_encode(self, msg: Message) -> Message:
        for hook in self._before_encode:
            out = hook(msg)
            if out is not None:
                if not isinstance(out, Message):
                    raise TypeError(f"before_encode hook {hook!r} returned {type(out).__name__}, not a Message or None")
                msg = out
        return msg

    def _terminated(self, ev: ConnectionTerminated) -> None:
        """The protocol ended the connection (a protocol error or a timeout): fail what waits, close."""
        self._closed = True  # nothing more is sent; connection_lost follows
        reason = ev.error or ev.reason
        if ev.error is not None:
            log.warning("closing connection to %s: %s", self.address, ev.reason)
        self._close_reason = reason if isinstance(reason, BaseException) else RpcxConnectionError(str(reason))
        self._fail_pending(ev.pending, f"connection is shut down: {ev.reason}")
        if self._transport is not None:
            if ev.error is not None:
                self._transport.abort()
            else:
                self._transport.close()

    @staticmethod
    def _fail_pending(pending: dict[int, Any], text: str) -> None:
        for fut in pending.values():
            if fut is not None and not fut.done():
                fut.set_exception(ConnectionClosedError(text))

    def _push(self, msg: Message) -> None:
        if self.on_push is None:
            log.debug("dropping push %s.%s: no push handler", msg.service_path, msg.service_method)
            return
        try:
            r = self.on_push(msg)
            if asyncio.iscoroutine(r):
                # keep a reference: the loop holds tasks only weakly
                task = asyncio.get_running_loop().create_task(r)
                self._push_tasks.add(task)
                task.add_done_callback(self._push_done)
        except Exception:  # noqa: BLE001
            log.exception("push handler failed")

    def _push_done(self, task: asyncio.Task[Any]) -> None:
        self._push_tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("push handler failed", exc_info=task.exception())

    def _eof_received(self) -> None:
        if self._conn is not None and self._loop is not None:
            self._handle_events(self._conn.receive_data(b"", self._loop.time()))

    def _connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
        conn = self._conn
        if conn is not None:
            reason = self._close_reason or exc
            end = conn.close(str(reason) if reason else "closed")
            text = f"connection is shut down: {reason}" if reason else "connection is shut down"
            self._fail_pending(end.pending, text)
        if self._done is not None and not self._done.done():
            self._done.set_result(None)
        log.debug("connection to %s closed: %s", self.address, self._close_reason or exc or "")

    # -- the one timer ----------------------------------------------------------------------------
    def _arm_timer(self) -> None:
        """Keep the one loop timer at the connection's next deadline (see DeadlineTimer)."""
        conn, loop = self._conn, self._loop
        if conn is None or loop is None or self._closed:
            return
        if self._timer is None:
            self._timer = DeadlineTimer(loop, self._on_timer)
        self._timer.arm(conn.get_timer())

    def _on_timer(self) -> None:
        conn, loop = self._conn, self._loop
        if conn is None or loop is None or self._closed:
            return
        events = conn.handle_timer(loop.time())
        out = conn.data_to_send()
        if out and self._transport is not None and not self._transport.is_closing():
            self._transport.write(out)
        self._handle_events(events)
        self._arm_timer()

    # -- sending --------------------------------------------------------------------------------
    def _write(self, frame: bytes | bytearray) -> None:
        """Write a frame; the first of a loop turn goes out at once (no added latency for a lone
        caller), the rest of that turn are joined into one write at its end. Many callers woken by
        one read of replies then cost two system calls, not one each (Go's client pays one each)."""
        buf = self._wbuf
        if buf is None:
            self._transport.write(frame)  # type: ignore[union-attr]
            self._wbuf = []
            self._loop.call_soon(self._end_turn)  # type: ignore[union-attr]
        else:
            buf.append(frame)

    def _end_turn(self) -> None:
        buf, self._wbuf = self._wbuf, None
        if buf and not self._closed and self._transport is not None:
            self._transport.write(buf[0] if len(buf) == 1 else b"".join(buf))

    def _closed_error(self) -> ConnectionClosedError:
        return ConnectionClosedError(
            f"connection is shut down{': ' + str(self._close_reason) if self._close_reason else ''}"
        )

    def build_request(
        self,
        service_path: str,
        service_method: str,
        args: Any,
        *,
        metadata: dict[str, str] | None = None,
        serialize_type: int | None = None,
        compress_type: int | None = None,
        oneway: bool = False,
    ) -> Message:
        """The request :meth:`call` would send, as a :class:`Message` (its seq is set on sending)."""
        ser = self.option.serialize_type if serialize_type is None else serialize_type
        payload = self.codecs.get(ser).encode(args)
        ct = self.option.compress_type if compress_type is None else compress_type
        return Message(
            oneway=oneway,
            serialize_type=ser,
            compress_type=ct if ct and len(payload) > COMPRESS_THRESHOLD else CompressType.NONE,
            seq=0,
            service_path=service_path,
            service_method=service_method,
            metadata=metadata or {},
            payload=payload,
        )

    async def _send(self, seq: int, frame: bytes, fut: asyncio.Future[ResponseReceived], timeout: float | None,
                    what: str) -> ResponseReceived:
        """Write a call's frame and wait for its reply; a timeout or a cancellation forgets the seq."""
        if self._closed or self._transport is None:
            self._conn.forget(seq)  # type: ignore[union-attr]
            raise self._closed_error()
        self._write(frame)
        if timeout is None:
            try:
                return await fut
            except asyncio.CancelledError:
                self._conn.forget(seq)  # type: ignore[union-attr]
                raise
        loop = self._loop
        assert loop is not None
        deadline = loop.time() + timeout
        handle = loop.call_at(deadline, self._expire, seq, fut, what, timeout)
        try:
            res = await fut
        except asyncio.CancelledError:
            self._conn.forget(seq)  # type: ignore[union-attr]
            raise
        finally:
            handle.cancel()
        if loop.time() > deadline:
            # the reply and the deadline fell due in the same loop turn: the deadline wins, as it
            # does with asyncio.timeout (a timeout shorter than any round trip always times out)
            raise CallTimeoutError(f"call {what} to {self.address} timed out after {human_duration(timeout)}")
        return res

    def _expire(self, seq: int, fut: asyncio.Future[ResponseReceived], what: str, timeout: float) -> None:
        if not fut.done():
            self._conn.forget(seq)  # type: ignore[union-attr]
            fut.set_exception(CallTimeoutError(f"call {what} to {self.address} timed out after {human_duration(timeout)}"))

    def _new_call(self) -> tuple[RpcxConnection, asyncio.Future[ResponseReceived]]:
        conn = self._conn
        if conn is None or self._closed:
            raise self._closed_error()
        return conn, self._loop.create_future()  # type: ignore[union-attr]

    async def send_raw(self, msg: Message, *, timeout: float | None = None) -> Message:
        """Send ``msg`` with this connection's next seq and return the raw response frame.

        Error responses are returned, not raised. Oneway messages return ``msg`` once written. A
        payload marked ``compressed`` (a frame parsed with ``decompress=False``) is sent as it is.
        """
        conn, fut = self._new_call()
        try:
            seq, frame = conn.send_request(msg, token=fut)
        except LocalProtocolError:
            if self._closed or conn.state.value != "open":
                raise self._closed_error() from None
            raise
        if msg.oneway:
            if self._transport is None or self._closed:
                raise self._closed_error()
            self._write(frame)
            return msg
        return (await self._send(seq, frame, fut, timeout, f"{msg.service_path}.{msg.service_method}")).message

    async def send_frame(self, frame: bytes | bytearray, *, timeout: float | None = None) -> Message | None:
        """Forward a whole request frame received elsewhere, unchanged but for its seq (a proxy's
        send: nothing is decoded, decompressed or re-encoded). Returns the reply, or None for a
        oneway frame once written."""
        conn, fut = self._new_call()
        seq, out = conn.send_frame(frame, token=fut)
        if frame[2] & 0x20:
            if self._transport is None or self._closed:
                raise self._closed_error()
            self._write(out)
            return None
        return (await self._send(seq, out, fut, timeout, f"frame seq {seq}")).message  # type: ignore[arg-type]

    async def call(
        self,
        service_path: str,
        service_method: str,
        args: Any,
        reply_type: Any = None,
        *,
        metadata: dict[str, str] | None = None,
        response_metadata: dict[str, str] | None = None,
        timeout: float | None = None,
        serialize_type: int | None = None,
        compress_type: int | None = None,
    ) -> Any:
        """Call ``service_path.service_method(args)`` and return the decoded reply.

        ``reply_type`` (a dataclass, protobuf class, ``dict``, ``bytes``) tells the codec what to
        build. A server error raises :class:`ServiceError`; the server's response metadata is
        copied into ``response_metadata`` when given. ``timeout`` (default: the option's
        ``default_timeout``) bounds the wait; it is not sent to the server.
        """
        if self._before_encode:
            req = self._run_before_encode(self.build_request(
                service_path, service_method, args, metadata=metadata, serialize_type=serialize_type,
                compress_type=compress_type))
            res = await self.send_raw(req, timeout=self.option.default_timeout if timeout is None else timeout)
            if req.oneway:  # a hook made it oneway: no reply comes, the reply stays zero (as in Go)
                return _zero_reply(reply_type)
            return self._decode_reply(res, reply_type, response_metadata)
        option = self.option
        ser = option.serialize_type if serialize_type is None else serialize_type
        codec = self.codecs.get(ser)
        payload = codec.encode(args)
        conn = self._conn
        if conn is None or self._closed:
            raise self._closed_error()
        fut: asyncio.Future[ResponseReceived] = self._loop.create_future()  # type: ignore[union-attr]
        seq, frame = conn.send_call(
            service_path, service_method, payload, serialize_type=ser, metadata=metadata,
            compress_type=option.compress_type if compress_type is None else compress_type, token=fut,
        )
        ev = await self._send(seq, frame, fut, option.default_timeout if timeout is None else timeout,
                              f"{service_path}.{service_method}")
        if not ev.plain:
            return self._decode_reply(ev.message, reply_type, response_metadata)
        payload = ev.frame[ev.payload_offset:]
        if not payload:
            return _zero_reply(reply_type)
        try:
            return codec.decode(payload, reply_type) if ev.serialize_type == ser else \
                self.codecs.get(ev.serialize_type).decode(payload, reply_type)
        except CodecError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise CodecError(f"cannot decode reply of {service_path}.{service_method}: {exc}") from exc

    def _decode_reply(self, res: Message, reply_type: Any, response_metadata: dict[str, str] | None) -> Any:
        if response_metadata is not None and res.metadata:
            response_metadata.update(res.metadata)
        err = res.error
        if err is not None:
            raise ServiceError(err)
        if not res.payload:
            return _zero_reply(reply_type)
        try:
            return self.codecs.get(res.serialize_type).decode(res.payload, reply_type)
        except CodecError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise CodecError(f"cannot decode reply of {res.service_path}.{res.service_method}: {exc}") from exc

    async def oneway(
        self, service_path: str, service_method: str, args: Any, *, metadata: dict[str, str] | None = None,
        serialize_type: int | None = None,
    ) -> None:
        """Send without waiting: the server runs the method and replies nothing (Go: ``Oneshot``)."""
        req = self.build_request(
            service_path, service_method, args, metadata=metadata, serialize_type=serialize_type, oneway=True
        )
        if self._before_encode:
            req = self._run_before_encode(req)
        await self.send_raw(req)

    async def heartbeat(self, timeout: float | None = None) -> float:
        """Send one heartbeat and return the round-trip time in seconds."""
        start = time.monotonic()
        res = await self.send_raw(heartbeat_request(0, time.time_ns()), timeout=timeout)
        if not res.heartbeat:
            raise RpcxConnectionError("heartbeat answered by a non-heartbeat frame")
        return time.monotonic() - start

    def __repr__(self) -> str:
        return f"<Client {self.address} pending={self.pending} closed={self._closed}>"
