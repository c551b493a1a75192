"""``Client``: one multiplexed connection to one server (layer: client).

Calls are matched to replies by seq, so any number may be in flight and replies may come back in
any order. Heartbeats, oneway sends and server pushes ride on the same connection. The client
never reconnects by itself; :class:`~rpcx.client.xclient.XClient` dials again when needed.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from typing import Any, Callable

from ..codec.base import CodecRegistry
from ..errors import (
    CallTimeoutError,
    CodecError,
    ConnectionClosedError,
    ProtocolError,
    RpcxConnectionError,
    ServiceError,
)
from ..protocol.constants import CompressType, MessageType
from ..protocol.decoder import FrameDecoder
from ..protocol.heartbeat import HeartbeatSchedule, heartbeat_request
from ..protocol.message import COMPRESS_THRESHOLD, Message, encode
from ..transport.base import Address, dial, parse_address, tls_for
from .options import Option

__all__ = ["Client", "PushHandler"]

log = logging.getLogger("rpcx.client")

PushHandler = Callable[[Message], Any]


class _ClientProtocol(asyncio.Protocol):
    def __init__(self, client: "Client") -> None:
        self.client = client

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.client._transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.client._data_received(data)

    def eof_received(self) -> bool | None:
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
    dropped.
    """

    def __init__(self, address: str | Address, option: Option = Option(), *, codecs: CodecRegistry | None = None,
                 on_push: PushHandler | None = None) -> None:
        self.address = address if isinstance(address, Address) else parse_address(address)
        self.option = option
        self.codecs = codecs or CodecRegistry()
        self.on_push = on_push
        self._transport: asyncio.Transport | None = None
        self._decoder = FrameDecoder(option.limits)
        self._seq = itertools.count(0)
        self._pending: dict[int, asyncio.Future[Message]] = {}
        self._closed = False
        self._close_reason: BaseException | None = None
        self._done: asyncio.Future[None] | None = None
        self._hb_task: asyncio.Task[None] | None = None
        self._hb: HeartbeatSchedule | None = None
        self._hb_wake: asyncio.Event | None = None
        self._push_tasks: set[asyncio.Task[Any]] = set()

    # -- lifecycle ------------------------------------------------------------------------------
    @classmethod
    async def connect(cls, address: str | Address, option: Option = Option(), **kwargs: Any) -> "Client":
        client = cls(address, option, **kwargs)
        await client._connect()
        return client

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        self._done = loop.create_future()
        ssl = tls_for(self.address.network, self.option.tls)
        await dial(
            self.address, lambda: _ClientProtocol(self), ssl=ssl, timeout=self.option.connect_timeout,
            server_hostname=self.option.server_hostname,
        )
        log.debug("connected to %s", self.address)
        if self.option.heartbeat is not None:
            self._hb_task = loop.create_task(self._heartbeat_loop())

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def pending(self) -> int:
        """Calls waiting for a reply."""
        return len(self._pending)

    async def aclose(self) -> None:
        """Close the connection; pending calls fail with :class:`ConnectionClosedError`. Idempotent."""
        if self._transport is not None and not self._closed:
            self._transport.close()
        if self._done is not None:
            await asyncio.shield(self._done)

    async def wait_closed(self) -> None:
        if self._done is not None:
            await asyncio.shield(self._done)

    async def __aenter__(self) -> "Client":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- protocol callbacks ----------------------------------------------------------------------
    def _data_received(self, data: bytes) -> None:
        try:
            msgs = self._decoder.feed(data)
        except ProtocolError as exc:
            msgs = getattr(exc, "frames", [])
            for m in msgs:
                self._dispatch(m)
            log.warning("closing connection to %s: %s", self.address, exc)
            self._abort(exc)
            return
        for m in msgs:
            self._dispatch(m)

    def _dispatch(self, msg: Message) -> None:
        if msg.message_type == MessageType.RESPONSE:
            if msg.heartbeat and self._hb is not None and self._hb.answered(msg.seq):
                if self._hb_wake is not None:
                    self._hb_wake.set()
                return
            fut = self._pending.pop(msg.seq, None)
            if fut is not None and not fut.done():
                fut.set_result(msg)
            # else: a late reply to a call that timed out; Go drops it silently too
        elif msg.oneway and not msg.heartbeat:
            if self.on_push is not None:
                try:
                    r = self.on_push(msg)
                    if asyncio.iscoroutine(r):
                        # keep a reference: the loop holds tasks only weakly, and an unreferenced
                        # task can be garbage-collected before it finishes
                        task = asyncio.get_running_loop().create_task(r)
                        self._push_tasks.add(task)
                        task.add_done_callback(self._push_done)
                except Exception:  # noqa: BLE001
                    log.exception("push handler failed")
            else:
                log.debug("dropping push %s.%s: no push handler", msg.service_path, msg.service_method)
        else:
            log.warning("unexpected request frame from server %s (seq %d), ignored", self.address, msg.seq)

    def _push_done(self, task: asyncio.Task[Any]) -> None:
        self._push_tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("push handler failed", exc_info=task.exception())

    def _abort(self, exc: BaseException) -> None:
        self._close_reason = exc
        if self._transport is not None:
            self._transport.abort()

    def _connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        reason = self._close_reason or exc
        text = f"connection is shut down: {reason}" if reason else "connection is shut down"
        try:
            self._decoder.eof()
        except ProtocolError as e:
            text = f"connection is shut down: {e}"
        pending, self._pending = self._pending, {}
        for fut in pending.values():
            if not fut.done():
                fut.set_exception(ConnectionClosedError(text))
        if self._hb_task is not None:
            self._hb_task.cancel()
        if self._done is not None and not self._done.done():
            self._done.set_result(None)
        log.debug("connection to %s closed: %s", self.address, text)

    # -- sending --------------------------------------------------------------------------------
    def _write(self, frame: bytes) -> None:
        if self._closed or self._transport is None:
            raise ConnectionClosedError(
                f"connection is shut down{': ' + str(self._close_reason) if self._close_reason else ''}"
            )
        self._transport.write(frame)

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

    async def send_raw(self, msg: Message, *, timeout: float | None = None) -> Message:
        """Send ``msg`` with this connection's next seq and return the raw response frame.

        Error responses are returned, not raised. Oneway messages return ``msg`` once written.
        """
        seq = next(self._seq)
        msg.seq = seq
        frame = encode(msg)
        if msg.oneway:
            self._write(frame)
            return msg
        fut: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._pending[seq] = fut
        try:
            self._write(frame)
            if timeout is None:
                return await fut
            async with asyncio.timeout(timeout):
                return await fut
        except TimeoutError:
            raise CallTimeoutError(
                f"call {msg.service_path}.{msg.service_method} to {self.address} timed out after {timeout}s"
            ) from None
        finally:
            self._pending.pop(seq, None)

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
        copied into ``response_metadata`` when given.
        """
        req = self.build_request(
            service_path, service_method, args, metadata=metadata,
            serialize_type=serialize_type, compress_type=compress_type,
        )
        res = await self.send_raw(req, timeout=timeout if timeout is not None else self.option.default_timeout)
        return self._decode_reply(res, reply_type, response_metadata)

    def _decode_reply(self, res: Message, reply_type: Any, response_metadata: dict[str, str] | None) -> Any:
        if response_metadata is not None and res.metadata:
            response_metadata.update(res.metadata)
        err = res.error
        if err is not None:
            raise ServiceError(err)
        if not res.payload and reply_type is None:
            return None
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
        await self.send_raw(req)

    async def heartbeat(self, timeout: float | None = None) -> float:
        """Send one heartbeat and return the round-trip time in seconds."""
        start = time.monotonic()
        res = await self.send_raw(heartbeat_request(0, time.time_ns()), timeout=timeout)
        if not res.heartbeat:
            raise RpcxConnectionError("heartbeat answered by a non-heartbeat frame")
        return time.monotonic() - start

    async def _heartbeat_loop(self) -> None:
        """Drive the sans-IO :class:`HeartbeatSchedule` with the loop's clock: send when due, close
        the connection when an echo is overdue (Go closes it too; XClient dials again later)."""
        hb = self.option.heartbeat
        assert hb is not None
        loop = asyncio.get_running_loop()
        sched = self._hb = HeartbeatSchedule(hb.interval, hb.max_wait, now=loop.time())
        wake = self._hb_wake = asyncio.Event()
        while not self._closed:
            # sleep until the schedule's next moment, or until an echo arrives (then the next
            # heartbeat is due one interval after the last was sent, not after max_wait)
            try:
                await asyncio.wait_for(wake.wait(), max(sched.next_deadline() - loop.time(), 0.0))
            except TimeoutError:
                pass
            wake.clear()
            now = loop.time()
            if sched.expired(now):
                if not self._closed:
                    log.warning("heartbeat to %s not answered within %.1fs; closing the connection",
                                self.address, hb.max_wait)
                    self._abort(RpcxConnectionError(f"heartbeat not answered within {hb.max_wait}s"))
                return
            if sched.due(now):
                seq = next(self._seq)
                try:
                    self._write(encode(heartbeat_request(seq, time.time_ns())))
                except RpcxConnectionError:
                    return
                sched.sent(seq, now)

    def __repr__(self) -> str:
        return f"<Client {self.address} pending={len(self._pending)} closed={self._closed}>"

