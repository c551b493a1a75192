"""The rpcx Server: register services, serve them on any transport, shut down gracefully (layer: server).

Dispatch follows Go's order (smallnest/rpcx server/server.go): heartbeat echo, auth, service
lookup, codec, decode, PreCall, the method, PostCall, encode, reply; error texts are Go's own.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import itertools
import logging
import ssl as _ssl
import time
from typing import Any, Awaitable, Callable

from ..codec.base import CodecRegistry
from ..errors import CodecError, ProtocolError, RegistrationError, RpcxError
from ..protocol.constants import AUTH_KEY, MessageType, SerializeType
from ..protocol.decoder import Limits
from ..protocol.heartbeat import heartbeat_echo
from ..protocol.message import (
    Message,
    encode,
    encode_route,
    make_response,
    parse_frame,
)
from ..transport.base import Listener, listen, parse_address, tls_for
from .connection import ServerConnection
from .context import Context, _current, _FrameContext, deadline_from
from .hotpath import handle_plain
from .plugins import PluginContainer
from .service import MethodInfo, Service, build_function, build_service

__all__ = ["Server"]

log = logging.getLogger("rpcx.server")

AuthFunc = Callable[[Context, str], Any]


#: frames a connection may have waiting behind ``max_concurrent_calls`` before the server stops
#: reading from it (heartbeats are still read and answered up to this point)
HELD_BYTES_PER_CONNECTION = 256 * 1024


class _Deadline(Exception):
    pass


class Server:
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
    ) -> None:
        if sync_handlers not in ("inline", "thread"):
            raise ValueError("sync_handlers must be 'inline' or 'thread'")
        self.limits = limits
        self.max_concurrent_calls = max_concurrent_calls
        self.read_timeout = read_timeout
        self.frame_timeout = frame_timeout
        self.write_timeout = write_timeout
        self._sweeper: asyncio.Task[None] | None = None
        self.auth = auth
        self.tls = tls
        self.sync_in_thread = sync_handlers == "thread"
        self.codecs = codecs or CodecRegistry()
        self.server_error_func = server_error_func
        self.handle_service_error = handle_service_error
        self.plugins = PluginContainer()
        self.services: dict[str, Service] = {}
        self.connections: set[ServerConnection] = set()
        self.listeners: list[Listener] = []
        self._inflight = 0
        self._idle: asyncio.Event | None = None
        self._held: set[ServerConnection] = set()
        self._releasing = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._push_seq = itertools.count(1)
        self._shutting_down = False
        self._closed: asyncio.Event | None = None
        #: raw route (path and method sections) -> method, for plain methods served on the hot path
        #: raw route (path and method sections) -> serialize byte -> (func, decode, encode, codec):
        #: plain methods served on the hot path, with codec functions specialised to their types
        self._fast: dict[bytes, dict[int, tuple[Any, Any, Any, Any]]] = {}

    # -- registration -----------------------------------------------------------------------------
    def register(self, obj: Any, metadata: str = "", *, name: str | None = None, methods: list[str] | None = None) -> None:
        """Register ``obj``'s public methods under its class name (or ``name``)."""
        self.register_name(name or type(obj).__name__, obj, metadata, methods=methods)

    def register_name(self, name: str, obj: Any, metadata: str = "", *, methods: list[str] | None = None) -> None:
        """Register ``obj`` under an explicit service name (Go's ``RegisterName``)."""
        svc = build_service(name, obj, methods, metadata)
        self._run_register_hooks("register", name, obj, metadata)
        self._fast.clear()
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
        self._fast.clear()

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
        self.plugins.add(plugin)

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
        if self._sweeper is None and (self.read_timeout or self.frame_timeout):
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep_slow_peers())
        log.info("serving %s%s", listener.address, " (tls)" if ssl else "")
        return listener.address

    async def serve(self, address: str, **options: Any) -> None:
        """Serve ``address`` until :meth:`shutdown` or :meth:`close`."""
        await self.start(address, **options)
        await self.wait_closed()

    async def wait_closed(self) -> None:
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

    async def _sweep_slow_peers(self) -> None:
        """Close connections that broke ``read_timeout`` or ``frame_timeout``; one timer for all
        connections instead of one per frame, so the hot path only records two timestamps."""
        limits = [t for t in (self.read_timeout, self.frame_timeout) if t]
        period = min(max(min(limits) / 4, 0.05), 5.0)
        while not self._shutting_down:
            await asyncio.sleep(period)
            now = time.monotonic()
            for conn in list(self.connections):
                if conn.closed or conn.closing:
                    continue
                if self.frame_timeout and conn.partial_since is not None and now - conn.partial_since > self.frame_timeout:
                    log.warning(
                        "closing connection from %s: a frame was not completed within %.1fs (%d bytes buffered)",
                        conn.peer, self.frame_timeout, conn.decoder.buffered,
                    )
                    conn.abort()
                elif self.read_timeout and now - conn.last_frame_at > self.read_timeout and not conn.backlog:
                    log.info("closing connection from %s: no request for %.1fs (read timeout)", conn.peer, self.read_timeout)
                    conn.close()

    async def _close_all(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
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
            connection.write(encode(msg))
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

    def _protocol_error(self, conn: ServerConnection, exc: ProtocolError) -> None:
        log.warning("closing connection from %s: %s", conn.peer, exc)
        conn.abort()

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
        if self._inflight == 0 and self._idle is not None:
            self._idle.set()

    def _release_held(self) -> None:
        self._releasing = True
        try:
            for conn in list(self._held):
                while conn.backlog and not conn.closing and not self._at_capacity():
                    frame = conn.backlog.popleft()
                    conn.backlog_bytes -= len(frame)
                    self._handle_frame(conn, frame)
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

    # -- dispatch -------------------------------------------------------------------------------
    def _handle_frame(self, conn: ServerConnection, frame: bytes) -> None:
        """Dispatch one whole frame. The hot path serves a plain request (no heartbeat, oneway or
        compression flag; no auth or plugins) to a plain ``def`` method that takes no ``ctx``,
        straight from the raw header, without building a :class:`Message`: its metadata (say a
        Go client's ``__ServerTimeout``) is decoded only if the handler asks
        :func:`current_context` for it. Everything else goes through :meth:`_handle`.
        """
        if self.auth is None and not self.plugins.plugins:
            # current_context() works here too; the request is parsed only if it is looked at
            r = handle_plain(frame, self._fast, conn.hot, conn)
            if r is not None:
                if type(r) is bytes:
                    conn.write(r)
                else:
                    self._finish_plain(conn, frame, r)
                return
        try:
            msg = parse_frame(frame, max_decompressed_length=self.limits.max_decompressed_length)
        except ProtocolError as exc:
            self._protocol_error(conn, exc)
            return
        self._handle(conn, msg)

    def _finish_plain(self, conn: ServerConnection, frame: bytes, r: tuple[Any, ...]) -> None:
        """The hot path's rarer outcomes (see :func:`~rpcx.server.hotpath.handle_plain`): the method
        raised, or the reply needs building with reply metadata or from a payload that is not bytes."""
        if len(r) == 1:
            exc = r[0]
            err_ctx = conn.hot.ctx or _FrameContext(frame, conn)
            self._reply_error(conn, err_ctx.request, self._error_text(exc), err_ctx._res_md, exc)
            return
        used, payload = r
        req = used.request if used is not None else _FrameContext(frame, conn).request
        self._write_response(conn, req, make_response(req, payload, used._res_md if used is not None else None), None)

    def _handle(self, conn: ServerConnection, req: Message) -> None:
        """Dispatch one decoded frame. Never raises: every failure becomes a reply or a close."""
        if req.heartbeat:
            for h in self.plugins.heartbeat_request:
                h(req)
            conn.write(encode(heartbeat_echo(req)))
            return
        if req.message_type == MessageType.RESPONSE:
            # Go would run it as a request; a response sent to a server is a confused or hostile peer
            log.warning("closing connection from %s: it sent a response frame (seq %d) to a server", conn.peer, req.seq)
            self._reply_error(conn, req, "rpcx: unexpected response frame sent to a server")
            conn.close()
            return
        for h in self.plugins.post_read_request:
            try:
                h(req)
            except Exception as exc:  # noqa: BLE001
                log.warning("closing connection from %s: post_read_request: %s", conn.peer, exc)
                self._reply_error(conn, req, str(exc))
                conn.close()
                return
        svc = self.services.get(req.service_path)
        if svc is None:
            return self._reply_error(conn, req, f"rpcx: can't find service {req.service_path}")
        minfo = svc.methods.get(req.service_method)
        if minfo is None:
            return self._reply_error(conn, req, f"rpcx: can't find method {req.service_method}")
        try:
            codec = self.codecs.get(req.serialize_type)
        except CodecError as exc:
            return self._reply_error(conn, req, str(exc))
        ctx = Context(req, conn, deadline_from(req.metadata))
        plugins = self.plugins
        if (
            self.auth is None
            and not minfo.is_async
            and not self.sync_in_thread
            and not plugins.pre_call
            and not plugins.post_call
            and not plugins.pre_handle_request
        ):
            # a plain method, run now on the loop. A deadline cannot interrupt it (nor does Go's);
            # the handler can read ctx.deadline, and the reply goes out as in Go.
            if not minfo.takes_ctx and not plugins.plugins:
                self._fast.setdefault(encode_route(req.service_path, req.service_method), {})[req.serialize_type << 4] = _fast_entry(minfo, codec)
            self._begin()
            try:
                args = codec.decode(req.payload, minfo.arg_type) if minfo.takes_args else None
                token = _current.set(ctx)
                try:
                    reply = _invoke(minfo, ctx, args)
                finally:
                    _current.reset(token)
                payload = codec.encode(reply)
            except Exception as exc:  # noqa: BLE001 - becomes the error reply
                self._reply_error(conn, req, self._error_text(exc), ctx._res_md, exc)
            else:
                if not req.oneway:
                    self._write_response(conn, req, make_response(req, payload, ctx._res_md), None)
            finally:
                self._end()
            return
        self._begin()
        task = asyncio.get_running_loop().create_task(self._call(conn, req, svc, minfo, codec, ctx))
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        self._end()

    async def _call(
        self, conn: ServerConnection, req: Message, svc: Service, minfo: MethodInfo, codec: Any, ctx: Context
    ) -> None:
        _current.set(ctx)
        if self.auth is not None:
            try:
                ok = await _maybe(self.auth(ctx, req.metadata.get(AUTH_KEY, "")))
                if ok is False:
                    raise RpcxError("auth failed")
            except Exception as exc:  # noqa: BLE001
                log.info("auth failed for %s: %s; closing the connection", conn.peer, exc)
                self._reply_error(conn, req, self._error_text(exc))
                conn.close()
                return
        for h in self.plugins.pre_handle_request:
            try:
                await _maybe(h(ctx, req))
            except Exception:  # noqa: BLE001 - Go ignores this hook's result
                log.debug("pre_handle_request hook failed", exc_info=True)
        args = None
        reply: Any = None
        err: BaseException | None = None
        try:
            if minfo.takes_args:
                args = codec.decode(req.payload, minfo.arg_type)
            for h in self.plugins.pre_call:
                # hooks see the method name as called on the wire, as Go passes req.ServiceMethod
                args = await _maybe(h(ctx, svc.name, req.service_method, args))
            if minfo.is_async:
                reply = await self._await_with_deadline(_invoke(minfo, ctx, args), ctx)
            elif self.sync_in_thread:
                loop = asyncio.get_running_loop()
                fn = functools.partial(_invoke, minfo, ctx, args)
                reply = await self._await_with_deadline(loop.run_in_executor(None, _with_context(ctx, fn)), ctx)
            else:
                reply = _invoke(minfo, ctx, args)
        except Exception as exc:  # noqa: BLE001
            err = exc
        for h in self.plugins.post_call:
            try:
                reply = await _maybe(h(ctx, svc.name, req.service_method, args, reply, err))
            except Exception as exc:  # noqa: BLE001
                if err is None:
                    err = exc
        if err is not None:
            self._reply_error(conn, req, self._error_text(err), ctx._res_md, err)
            return
        if req.oneway:
            return
        try:
            payload = codec.encode(reply)
        except Exception as exc:  # noqa: BLE001
            self._reply_error(conn, req, self._error_text(exc), ctx._res_md, exc)
            return
        self._write_response(conn, req, make_response(req, payload, ctx._res_md), None)

    async def _await_with_deadline(self, aw: Awaitable[Any], ctx: Context) -> Any:
        if ctx.deadline is None:
            return await aw
        remaining = ctx.deadline - time.monotonic()
        cm = asyncio.timeout(max(remaining, 0))
        try:
            async with cm:
                return await aw
        except TimeoutError:
            # ask the timeout itself: comparing clocks is wrong where loop.time() is not
            # time.monotonic() (uvloop's millisecond clock can fire just before the deadline)
            if cm.expired():
                raise _Deadline("context deadline exceeded") from None
            raise

    def _error_text(self, exc: BaseException) -> str:
        if self.server_error_func is not None:
            return self.server_error_func(exc)
        text = str(exc)
        return text if text else type(exc).__name__

    def _reply_error(
        self,
        conn: ServerConnection,
        req: Message,
        text: str,
        res_md: dict[str, str] | None = None,
        exc: BaseException | None = None,
    ) -> None:
        if exc is not None and self.handle_service_error is not None:
            self.handle_service_error(exc)
        log.debug("call %s.%s from %s failed: %s", req.service_path, req.service_method, conn.peer, text)
        if req.oneway:
            return
        self._write_response(conn, req, make_response(req, b"", res_md, text), text)

    def _write_response(self, conn: ServerConnection, req: Message, res: Message, err: str | None) -> None:
        plugins = self.plugins
        for h in plugins.pre_write_response:
            h(req, res, err)
        try:
            data = encode(res)
        except Exception as exc:  # noqa: BLE001 - say why instead of dropping the connection
            if err is not None:
                raise  # an error reply that cannot be framed: there is nothing plainer to send
            # a codec handed back something that is not bytes, or a frame field is out of range
            err = f"rpcx: cannot encode reply: {exc}"
            log.warning("call %s.%s from %s: %s", req.service_path, req.service_method, conn.peer, err)
            res = make_response(req, b"", None, err)
            data = encode(res)
        conn.write(data)
        for h in plugins.post_write_response:
            h(req, res, err)


def _fast_entry(minfo: MethodInfo, codec: Any) -> tuple[Any, Any, Any, Any]:
    """The hot path's view of a method: codecs may offer functions specialised to the argument and
    reply types (``decoder_for`` / ``encoder_for``), which skip their generic type dispatch."""
    dec = None
    if minfo.takes_args:
        make_dec = getattr(codec, "decoder_for", None)
        dec = make_dec(minfo.arg_type) if make_dec is not None else None
        if dec is None:
            dec = functools.partial(codec.decode, into=minfo.arg_type)
    make_enc = getattr(codec, "encoder_for", None)
    enc = make_enc(minfo.reply_type) if make_enc is not None else None
    return minfo.func, dec, enc or codec.encode, codec


def _invoke(minfo: MethodInfo, ctx: Context, args: Any) -> Any:
    if minfo.takes_ctx:
        return minfo.func(ctx, args) if minfo.takes_args else minfo.func(ctx)
    return minfo.func(args) if minfo.takes_args else minfo.func()


def _with_context(ctx: Context, fn: Callable[[], Any]) -> Callable[[], Any]:
    def run() -> Any:
        _current.set(ctx)
        return fn()

    return run


async def _maybe(value: Any) -> Any:
    if inspect.isawaitable(value):
        return await value
    return value
