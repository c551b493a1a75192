"""The rpcx Server: register services, serve them on any transport, shut down gracefully (layer: server).

Dispatch follows Go's order (smallnest/rpcx server/server.go): heartbeat echo, auth, service
lookup, codec, decode, PreCall, the method, PostCall, encode, reply; error texts are Go's own.
"""

from __future__ import annotations

import asyncio
import collections
import inspect
import itertools
import logging
import signal
import ssl as _ssl
from typing import Any, Callable

from ..codec.base import CodecRegistry
from ..errors import RegistrationError, RpcxError
from ..protocol.constants import SerializeType
from ..protocol.decoder import Limits
from ..protocol.message import Message
from ..transport.base import Listener, listen, parse_address, tls_for
from .connection import ServerConnection
from .context import Context
from .dispatch import CallPlan, Dispatcher, FailureLog, _maybe
from .hotpath import FastEntry
from .plugins import PluginContainer
from .service import Service, build_function, build_service
from .sniff import ProtocolFactory, ProtocolSpec

__all__ = ["Server"]

log = logging.getLogger("rpcx.server")

AuthFunc = Callable[[Context, str], Any]


#: frames a connection may have waiting behind ``max_concurrent_calls`` before the server stops
#: reading from it (heartbeats are still read and answered up to this point)
HELD_BYTES_PER_CONNECTION = 256 * 1024


class Server(Dispatcher):
    """Serves registered Python objects and functions to rpcx clients (Go or Python).

    >>> import asyncio
    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class Args:
    ...     A: int = 0
    ...     B: int = 0
    >>> @dataclass
    ... class Reply:
    ...     C: int = 0
    >>> class Arith:
    ...     def mul(self, args: Args) -> Reply:
    ...         return Reply(args.A * args.B)
    >>> server = Server()
    >>> server.register(Arith())
    >>> sorted(server.services["Arith"].methods)
    ['Mul', 'mul']

    Then ``await server.serve("tcp@127.0.0.1:8972")`` until ``await server.shutdown()``.

    Options:
        limits: inbound frame size limits (both on by default).
        max_concurrent_calls: a bound on calls running at once across all connections; past it,
            frames wait and connections stop being read (back-pressure). 0 means no bound.
        auth: ``auth(ctx, token)``, sync or async; raise (or return False) to refuse. Refused callers
            get the error and their connection is closed, as in Go.
        tls: an ``ssl.SSLContext`` for tcp listeners.
        sync_handlers: ``"inline"`` runs plain ``def`` methods on the event loop (fast; keep them
            short), ``"thread"`` runs them in the default executor (for blocking code).
        server_error_func: ``f(exc) -> str``, the text sent for a failed call (Go's ServerErrorFunc).
        handle_service_error: ``f(exc)``, an observer of failed calls.
        read_timeout: close a connection on which no whole frame arrived for this many seconds
            (Go's ``WithReadTimeout``, an idle timeout); None (Go's default) keeps idle clients.
        frame_timeout: close a connection whose frame, once started, is not complete after this many
            seconds: the guard against slowloris peers that trickle bytes to hold a connection.
        write_timeout: how long :meth:`send_message` waits for a client that is not reading its
            pushes before it gives up with :class:`~rpcx.errors.CallTimeoutError` (Go's
            ``WithWriteTimeout``); None waits as long as the connection lives.
        tcp_keepalive_period: TCP keep-alive on every accepted TCP connection, probing after this
            many idle seconds (Go's ``WithTCPKeepAlivePeriod``, default three minutes); None: the
            OS default (off).
    """

    def __init__(
        self,
        *,
        limits: Limits = Limits(),
        max_concurrent_calls: int = 0,
        auth: AuthFunc | None = None,
        tls: _ssl.SSLContext | None = None,
        sync_handlers: str = "inline",
        codecs: CodecRegistry | None = None,
        server_error_func: Callable[[BaseException], str] | None = None,
        handle_service_error: Callable[[BaseException], None] | None = None,
        read_timeout: float | None = None,
        frame_timeout: float | None = 30.0,
        write_timeout: float | None = None,
        tcp_keepalive_period: float | None = 180.0,
    ) -> None:
        if sync_handlers not in ("inline", "thread"):
            raise ValueError("sync_handlers must be 'inline' or 'thread'")
        self.limits = limits
        self.max_concurrent_calls = max_concurrent_calls
        self.read_timeout = read_timeout
        self.frame_timeout = frame_timeout
        self.write_timeout = write_timeout
        self.tcp_keepalive_period = tcp_keepalive_period
        self.auth = auth
        self.tls = tls
        self.sync_in_thread = sync_handlers == "thread"
        self.codecs = codecs or CodecRegistry()
        self.server_error_func = server_error_func
        self.handle_service_error = handle_service_error
        self.plugins = PluginContainer()
        self.plugins.on_change = self._forget_plans
        self.services: dict[str, Service] = {}
        self.connections: set[ServerConnection] = set()
        self.listeners: list[Listener] = []
        self._inflight = 0
        self._idle: asyncio.Event | None = None
        self._held: set[ServerConnection] = set()
        #: calls from other protocols (the HTTP gateway) waiting for a slot at max_concurrent_calls
        self._slot_waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._releasing = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._push_seq = itertools.count(1)
        self._shutting_down = False
        self._closed: asyncio.Event | None = None
        #: raw route (path and method sections) -> serialize byte -> FastEntry: the methods the fast
        #: path serves, published by the dispatch path on their first call (rpcx.server.hotpath)
        self._routes: dict[bytes, dict[int, FastEntry]] = {}
        #: (service, method, serialize type) -> how it is served, resolved once
        self._plans: dict[tuple[str, str, int], CallPlan] = {}
        self._failures = FailureLog()
        #: protocols besides rpcx that share the server's ports (add_protocol)
        self._protocols: list[ProtocolSpec] = []
        #: count calls in ``calls_served`` (off by default: the fast path then walks each read's
        #: frame headers once more; per-call hooks are not needed, so the fast path stays on).
        #: Counted: requests to a registered method, on every path (rpcx.registry.metrics reads it)
        self.count_calls = False
        self.calls_served = 0

    # -- registration -----------------------------------------------------------------------------
    def register(self, obj: Any, metadata: str = "", *, name: str | None = None, methods: list[str] | None = None) -> None:
        """Register ``obj``'s public methods under its class name (or ``name``)."""
        self.register_name(name or type(obj).__name__, obj, metadata, methods=methods)

    def register_name(self, name: str, obj: Any, metadata: str = "", *, methods: list[str] | None = None) -> None:
        """Register ``obj`` under an explicit service name (Go's ``RegisterName``)."""
        svc = build_service(name, obj, methods, metadata)
        self._run_register_hooks("register", name, obj, metadata)
        self._forget_plans()
        existing = self.services.get(name)
        if existing is not None:
            existing.methods.update(svc.methods)
        else:
            self.services[name] = svc
        log.debug("registered service %s with methods %s", name, sorted(svc.methods))

    def register_function(
        self, service_path: str, fn: Callable[..., Any], metadata: str = "", *, name: str | None = None
    ) -> None:
        """Add a plain function to ``service_path`` (Go's ``RegisterFunction[Name]``)."""
        entries = build_function(fn, name)
        self._run_register_hooks("register_function", service_path, entries[0][0], fn, metadata)
        svc = self.services.setdefault(service_path, Service(name=service_path, metadata=metadata))
        svc.methods.update(entries)
        self._forget_plans()

    async def enable_file_transfer(self, file_transfer: Any, name: str = "") -> None:
        """Go's ``EnableFileTransfer``: listen for side connections and register ``_filetransfer``
        (or ``name``); see :class:`rpcx.server.filetransfer.FileTransfer`."""
        await file_transfer.enable(self, name)

    async def enable_stream_service(self, stream_service: Any, name: str = "") -> None:
        """Go's ``EnableStreamService``: listen for side connections and register ``_streamservice``
        (or ``name``); see :class:`rpcx.server.stream.StreamService`."""
        await stream_service.enable(self, name)

    def _run_register_hooks(self, hook: str, *args: Any) -> None:
        errors = []
        for h in getattr(self.plugins, hook):
            try:
                h(*args)
            except Exception as exc:  # noqa: BLE001 - collected like Go's MultiError
                errors.append(exc)
        if errors:
            raise RegistrationError("; ".join(str(e) for e in errors)) from errors[0]

    def add_plugin(self, plugin: Any) -> None:
        """Add a plugin (any object with some of Go's hook methods; see :mod:`rpcx.server.plugins`)."""
        self.plugins.add(plugin)

    def add_protocol(self, name: str, match: Any, factory: ProtocolFactory) -> None:
        """Serve another protocol on the same ports: a connection whose first bytes ``match``
        claims (``match(first_bytes) -> True | False | None``, None: not enough bytes yet; see
        :mod:`rpcx.protocol.detect`) is handed to ``factory(conn)``, an :class:`asyncio.Protocol`,
        with the bytes already read. rpcx (first byte 0x08) is always tried first; protocols are
        tried in the order they were added; a connection none claims is logged and closed.

        >>> from rpcx.protocol.detect import match_http
        >>> Server().add_protocol("http", match_http, lambda conn: asyncio.Protocol())
        """
        self._protocols.append(ProtocolSpec(name, match, factory))

    # -- serving --------------------------------------------------------------------------------
    async def start(self, address: str, **options: Any) -> str:
        """Listen on ``address`` (an rpcx key) and return the bound key; calls are served at once."""
        if self._closed is None:
            self._closed = asyncio.Event()
            self._idle = asyncio.Event()
            self._idle.set()
        addr = parse_address(address)
        ssl = tls_for(addr.network, self.tls)
        listener = await listen(addr, lambda: ServerConnection(self), ssl=ssl, **options)
        self.listeners.append(listener)
        log.info("serving %s%s", listener.address, " (tls)" if ssl else "")
        return listener.address

    async def serve(self, address: str, **options: Any) -> None:
        """Serve ``address`` until :meth:`shutdown` or :meth:`close`."""
        await self.start(address, **options)
        await self.wait_closed()

    async def run_until_signalled(self, *, timeout: float = 10.0) -> bool:
        """Serve until SIGINT or SIGTERM, then :meth:`shutdown` gracefully (calls in flight get up
        to ``timeout`` seconds). What a server program's ``main`` does after :meth:`start`; returns
        :meth:`shutdown`'s result.

        >>> async def main():                                   # doctest: +SKIP
        ...     server = Server(); server.register(Arith())
        ...     print("serving", await server.start("tcp@127.0.0.1:8972"))
        ...     await server.run_until_signalled()
        """
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        signals = (signal.SIGINT, signal.SIGTERM)
        for sig in signals:
            loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            for sig in signals:
                loop.remove_signal_handler(sig)
        return await self.shutdown(timeout=timeout)

    async def wait_closed(self) -> None:
        """Wait until the server has closed (after :meth:`shutdown` or :meth:`close`)."""
        if self._closed is not None:
            await self._closed.wait()

    @property
    def address(self) -> str | None:
        """The first bound address, as an rpcx key."""
        return self.listeners[0].address if self.listeners else None

    async def shutdown(self, timeout: float = 30.0) -> bool:
        """Stop accepting, stop reading, finish calls in flight (up to ``timeout``), then close.

        Returns True when every call finished in time.
        """
        if self._shutting_down:
            await self.wait_closed()
            return True
        self._stop_accepting()
        for conn in list(self.connections):
            conn.pause()
        finished = True
        if self._idle is not None and not self._idle.is_set():
            log.info("shutdown: waiting for %d call(s) in flight", self._inflight)
            try:
                await asyncio.wait_for(self._idle.wait(), timeout)
            except TimeoutError:
                finished = False
                log.warning("shutdown: %d call(s) still running after %.1fs", self._inflight, timeout)
        await self._close_all()
        return finished

    async def close(self) -> None:
        """Close everything now, without waiting for calls."""
        self._stop_accepting()
        for t in list(self._tasks):
            t.cancel()
        await self._close_all()

    def _stop_accepting(self) -> None:
        """Leave the registries and close the listeners (the first steps of both ways to stop)."""
        self._shutting_down = True
        self.unregister_all()
        for listener in self.listeners:
            listener.close()

    async def _close_all(self) -> None:
        for conn in list(self.connections):
            conn.close()
        for listener in self.listeners:
            try:
                await asyncio.wait_for(listener.wait_closed(), 5)
            except TimeoutError:  # pragma: no cover - a stuck peer must not hang shutdown
                pass
        if self._closed is not None:
            self._closed.set()
        log.info("server closed")

    def unregister_all(self) -> None:
        """Take every service out of the registries (the ``unregister`` hooks), as Go's ``UnregisterAll``."""
        for name in list(self.services):
            for h in self.plugins.unregister:
                try:
                    h(name)
                except Exception:  # noqa: BLE001
                    log.exception("unregister %s failed", name)

    async def __aenter__(self) -> "Server":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.shutdown()

    async def aclose(self) -> None:
        """Shut down gracefully (:meth:`shutdown`)."""
        await self.shutdown()

    # -- push -----------------------------------------------------------------------------------
    async def send_message(
        self,
        connection: ServerConnection,
        service_path: str,
        service_method: str,
        metadata: dict[str, str] | None,
        payload: bytes,
    ) -> None:
        """Push a message to a connected client (Go's ``SendMessage``): a oneway raw Request.

        Returns once the message is handed to the connection; when the client is not reading and
        its pushes back up past the transport's high-water mark, waits until it reads again (or
        ``write_timeout`` passes: :class:`~rpcx.errors.CallTimeoutError`; or the connection ends:
        :class:`~rpcx.errors.ConnectionClosedError`), so pushing cannot buffer without bound. After
        a timeout the message is still queued, whole, and goes out if the client reads later; close
        ``connection`` to give up on the client instead.
        """
        msg = Message(
            oneway=True,
            serialize_type=SerializeType.NONE,
            seq=next(self._push_seq),
            service_path=service_path,
            service_method=service_method,
            metadata=dict(metadata or {}),
            payload=bytes(payload),
        )
        for h in self.plugins.pre_write_request:
            await _maybe(h(msg))
        err: Exception | None = None
        if connection.closed:
            err = RpcxError("connection is shut down")
        else:
            connection.write(connection.rpx.send_push(msg))
            try:
                await connection.drain(self.write_timeout)
            except RpcxError as exc:
                err = exc
        for h in self.plugins.post_write_request:
            await _maybe(h(msg, err))
        if err is not None:
            raise err

    @property
    def active_connections(self) -> list[ServerConnection]:
        """The connections that are still open."""
        return [c for c in self.connections if not c.closed]

    # -- connection callbacks -------------------------------------------------------------------
    def _connection_made(self, conn: ServerConnection) -> None:
        if self._shutting_down:
            conn.abort()
            return
        for h in self.plugins.post_conn_accept:
            if h(conn) is False:
                log.info("connection from %s refused by %r", conn.peer, h)
                conn.abort()
                return
        self.connections.add(conn)
        log.debug("connection from %s", conn.peer)

    def _connection_lost(self, conn: ServerConnection, exc: Exception | None) -> None:
        accepted = conn in self.connections
        self.connections.discard(conn)
        self._held.discard(conn)
        # as Go: only connections that were accepted (not refused by post_conn_accept or by a
        # shutdown) are reported closed, and a hook returning False stops the chain
        for h in self.plugins.post_conn_close if accepted else ():
            try:
                if h(conn) is False:
                    break
            except Exception:  # noqa: BLE001
                log.exception("post_conn_close hook failed")
        log.debug("connection from %s closed%s", conn.peer, f": {exc}" if exc else "")

    # -- concurrency bound --------------------------------------------------------------------------
    def _at_capacity(self) -> bool:
        return self.max_concurrent_calls > 0 and self._inflight >= self.max_concurrent_calls

    def _hold(self, conn: ServerConnection) -> None:
        self._held.add(conn)
        # keep reading (and answering heartbeats) until the held frames pass a bound, like Go's
        # pool queue; then stop reading that peer until its backlog drains
        if conn.backlog_bytes >= HELD_BYTES_PER_CONNECTION:
            conn.pause()

    def _begin(self) -> None:
        self._inflight += 1
        if self._inflight == 1 and self._idle is not None:
            self._idle.clear()

    def _end(self) -> None:
        self._inflight -= 1
        # a sync call released from the backlog ends inside _release_held: its loop carries on,
        # re-entering it here would recurse once per held frame
        if self._held and not self._releasing and not self._at_capacity():
            self._release_held()
        if self._slot_waiters and not self._at_capacity():
            self._wake_slot_waiter()
        if self._inflight == 0 and self._idle is not None:
            self._idle.set()

    async def _wait_for_slot(self) -> None:
        """Wait until a call may start under ``max_concurrent_calls`` (a call from another
        protocol: an rpcx frame waits in its connection's backlog instead). Held rpcx frames are
        released first when a slot frees; then one waiter per slot, in arrival order."""
        while self._at_capacity():
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._slot_waiters.append(fut)
            try:
                await fut
            except asyncio.CancelledError:
                if fut.done() and not fut.cancelled():
                    self._wake_slot_waiter()  # woken, then cancelled: the slot goes to the next one
                else:
                    try:
                        self._slot_waiters.remove(fut)
                    except ValueError:
                        pass
                raise

    def _wake_slot_waiter(self) -> None:
        while self._slot_waiters:
            fut = self._slot_waiters.popleft()
            if not fut.done():
                fut.set_result(None)
                return

    def _release_held(self) -> None:
        self._releasing = True
        try:
            for conn in list(self._held):
                while conn.backlog and not conn.closing and not self._at_capacity():
                    ev = conn.backlog.popleft()
                    conn.backlog_bytes -= len(ev.frame)
                    self._dispatch(conn, ev.message, ev.frame)
                if conn.closing:
                    conn.backlog.clear()
                    conn.backlog_bytes = 0
                if not conn.backlog:
                    self._held.discard(conn)
                    if not self._shutting_down:
                        conn.resume()
                if self._at_capacity():
                    return
        finally:
            self._releasing = False
