"""The one server dispatch path: a request in, its reply or error reply out (layer: server).

Every request a :class:`~rpcx.server.connection.ServerConnection` receives comes here, in Go's order
(smallnest/rpcx server/server.go ``handleRequest``)::

    post_read_request hooks -> service and method lookup -> codec
      -> [fast path]  plain frame, no auth, no per-call hook, plain ``def`` method:
                      rpcx.server.hotpath.handle_plain (C or its Python twin), inline on the loop
      -> [full path]  one task: auth -> pre_handle_request -> decode -> pre_call -> the method
                      (inline, in a thread, or awaited, with the __ServerTimeout deadline)
                      -> post_call -> encode
    -> reply (or error reply) -> pre/post_write_response hooks

Both paths share :meth:`Dispatcher._respond` and :meth:`Dispatcher._fail`, which build every reply
and error reply; the fast path is only the specialisation of the full path for calls with nothing
around them, chosen per call by :attr:`Dispatcher._fast_enabled` (no auth, no per-call plugin hook).
Plugins with only lifecycle or connection hooks keep it. Error texts are Go's own.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import inspect
import logging
import time
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from ..errors import CodecError, LocalProtocolError, RpcxError
from ..protocol.constants import AUTH_KEY
from ..protocol.message import Message, encode, encode_route, make_response, parse_frame
from .context import Context, _current, _FrameContext, deadline_from, hot_call
from .hotpath import FastEntry, handle_plain
from .service import MethodInfo

if TYPE_CHECKING:
    from .connection import ServerConnection
    from .plugins import PluginContainer
    from .service import Service

__all__ = ["Dispatcher", "CallPlan", "error_text", "FailureLog", "Handled", "ReplySink"]

log = logging.getLogger("rpcx.server")


class _Deadline(Exception):
    pass


def _check_header(req: Message) -> None:
    """Raise :class:`~rpcx.errors.LocalProtocolError` if a request built from another protocol has
    a header field no frame can carry (what encoding it would raise): its reply echoes them.

    >>> _check_header(Message(seq=1 << 64))
    Traceback (most recent call last):
    ...
    rpcx.errors.LocalProtocolError: cannot serve a request whose version, seq or serialize type does not fit a frame
    """
    if not (0 <= req.seq < 1 << 64 and 0 <= req.serialize_type <= 15 and 0 <= req.version <= 255):
        raise LocalProtocolError("cannot serve a request whose version, seq or serialize type does not fit a frame")


def error_text(exc: BaseException) -> str:
    """The text a failed call sends back: what the handler wrote, as it wrote it.

    ``str(KeyError("x"))`` is ``"'x'"`` (the repr of the key); a caller should read the message the
    handler raised, so a single string argument is used as it is.

    >>> error_text(KeyError("item 'nope' not found")), error_text(ValueError()), error_text(ValueError(3))
    ("item 'nope' not found", 'ValueError', '3')
    """
    args = exc.args
    if len(args) == 1 and type(args[0]) is str:
        return args[0] or type(exc).__name__
    text = str(exc)
    return text if text else type(exc).__name__


class FailureLog:
    """Logs failed calls at WARNING with a traceback, without flooding under load: the first
    failure of each method is logged whole; later ones at most once per ``interval`` seconds per
    method, saying how many were left out in between.

    >>> fl = FailureLog(interval=60.0)
    >>> fl.should_log("Arith.Fail", now=0.0), fl.should_log("Arith.Fail", now=1.0), fl.should_log("Arith.Fail", now=61.0)
    ((True, 0), (False, 0), (True, 1))
    """

    def __init__(self, interval: float = 10.0) -> None:
        self.interval = interval
        self._last: dict[str, tuple[float, int]] = {}

    def should_log(self, key: str, now: float) -> tuple[bool, int]:
        """``(log it now, failures left out since the last line)``."""
        last = self._last.get(key)
        if last is None or now - last[0] >= self.interval:
            self._last[key] = (now, 0)
            return True, last[1] if last is not None else 0
        if len(self._last) > 10_000:  # method names from hostile peers must not grow this forever
            self._last.clear()
        self._last[key] = (last[0], last[1] + 1)
        return False, 0

    def failed(self, what: str, exc: BaseException) -> None:
        ok, skipped = self.should_log(what, time.monotonic())
        if ok:
            more = f" ({skipped} more failures since the last report)" if skipped else ""
            log.warning("%s failed: %s%s", what, error_text(exc), more, exc_info=exc)


@dataclasses.dataclass(eq=False)
class CallPlan:
    """How one (service, method, serialize type) is served: resolved once, then cached."""

    service: str
    minfo: MethodInfo
    codec: Any
    route: bytes
    #: the fast path's entry for this method, or None when it must take the full path (async
    #: methods, methods run in a thread)
    fast: FastEntry | None
    #: what is called for the method: ``minfo.func``, or the plugins' ``wrap_method`` wrapper of it
    func: Callable[..., Any]
    _zero: bytes | None = None

    def zero_reply(self) -> bytes:
        """The encoded zero value of the reply type: Go sends the (half-filled) reply object beside
        the error of a method that failed (``{"C":0}``); we send its zero value. Empty when the reply
        type has no zero value we can build (``bytes``, no hint)."""
        if self._zero is None:
            self._zero = b""
            tp = self.minfo.reply_type
            if isinstance(tp, type) and (dataclasses.is_dataclass(tp) or hasattr(tp, "SerializeToString")):
                try:
                    self._zero = bytes(self.codec.encode(tp()))
                except Exception:  # noqa: BLE001 - a reply type without defaults: send nothing
                    self._zero = b""
        return self._zero


def _fast_entry(minfo: MethodInfo, codec: Any, func: Callable[..., Any]) -> FastEntry:
    """The fast path's view of a method: codecs may offer functions specialised to the argument and
    reply types (``decoder_for`` / ``encoder_for``), which skip their generic type dispatch."""
    dec = None
    if minfo.takes_args:
        make_dec = getattr(codec, "decoder_for", None)
        dec = make_dec(minfo.arg_type) if make_dec is not None else None
        if dec is None:
            dec = functools.partial(codec.decode, into=minfo.arg_type)
    make_enc = getattr(codec, "encoder_for", None)
    enc = make_enc(minfo.reply_type) if make_enc is not None else None
    return func, dec, enc or codec.encode, codec, _FrameContext if minfo.takes_ctx else None


def _invoke(func: Callable[..., Any], minfo: MethodInfo, ctx: Context, args: Any) -> Any:
    if minfo.takes_ctx:
        return func(ctx, args) if minfo.takes_args else func(ctx)
    return func(args) if minfo.takes_args else func()


def _with_context(ctx: Context, fn: Callable[[], Any]) -> Callable[[], Any]:
    def run() -> Any:
        _current.set(ctx)
        return fn()

    return run


async def _maybe(value: Any) -> Any:
    if inspect.isawaitable(value):
        return await value
    return value


@dataclasses.dataclass(frozen=True)
class Handled:
    """What :meth:`Dispatcher.handle_message` got back for one request: the reply frame's
    :class:`Message` (None if none was written), and why the connection would have been closed
    (None: it would not; ``"plugin"``: a ``post_read_request`` hook refused the request before
    dispatch; ``"auth"``: the auth function refused it)."""

    reply: Message | None
    refused: str | None = None


class ReplySink:
    """Stands in for a :class:`~rpcx.server.connection.ServerConnection` when a request arrived by
    another protocol (the HTTP gateway): it keeps the reply the dispatch path builds instead of
    sending it (:attr:`reply`, the :class:`Message` itself: no frame is parsed back), and records a
    close instead of closing anything. It has what the dispatch path touches: ``peer``, ``hot``,
    ``closing``, ``write``, ``request_done``, ``close``, ``abort``; pushes to it fail (there is no
    rpcx connection to push on).

    >>> sink = ReplySink(("127.0.0.1", 1), None)
    >>> sink.write(b"frame"); sink.frame, sink.closing
    (b'frame', False)
    """

    def __init__(self, peer: Any, done: "asyncio.Future[None] | None") -> None:
        self.peer = peer
        self.hot = hot_call()
        self.closing = False
        #: the reply :meth:`Dispatcher._respond` built, as it would have been framed
        self.reply: Message | None = None
        #: frames written by anything else (kept for completeness; the dispatch path sets ``reply``)
        self.frame: bytes | None = None
        self._done = done

    def write(self, frame: bytes) -> None:
        self.frame = frame if self.frame is None else self.frame + frame

    def request_done(self) -> None:
        if self._done is not None and not self._done.done():
            self._done.set_result(None)

    def close(self) -> None:
        self.closing = True

    abort = close

    def handled(self, refused_at_once: bool = False) -> "Handled":
        """What the request came to (see :class:`Handled`)."""
        reply = self.reply
        if reply is None and self.frame is not None:
            reply = parse_frame(self.frame)
        refused = ("plugin" if refused_at_once else "auth") if self.closing else None
        return Handled(reply, refused)


class Dispatcher:
    """The dispatch half of :class:`~rpcx.server.Server` (a mixin: these methods read the server's
    services, codecs, plugins and options)."""

    plugins: "PluginContainer"
    services: dict[str, "Service"]
    codecs: Any
    auth: Any
    sync_in_thread: bool
    server_error_func: Callable[[BaseException], str] | None
    handle_service_error: Callable[[BaseException], None] | None
    _routes: dict[bytes, dict[int, FastEntry]]
    _plans: dict[tuple[str, str, int], CallPlan]
    _failures: FailureLog
    _tasks: set[asyncio.Task[Any]]
    count_calls: bool
    calls_served: int

    @property
    def _fast_enabled(self) -> bool:
        """Whether calls may take the fast path: nothing has to run around them."""
        return self.auth is None and not self.sync_in_thread and not self.plugins.per_call

    if TYPE_CHECKING:  # the server's concurrency bound (rpcx.server.server)

        def _begin(self) -> None: ...

        def _end(self) -> None: ...

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        self._end()

    # -- resolving ------------------------------------------------------------------------------
    def _plan(self, req: Message) -> CallPlan | str:
        """The plan for ``req``'s method and codec, or Go's error text when there is none."""
        key = (req.service_path, req.service_method, req.serialize_type)
        plan = self._plans.get(key)
        if plan is not None:
            return plan
        svc = self.services.get(req.service_path)
        if svc is None:
            return f"rpcx: can't find service {req.service_path}"
        minfo = svc.methods.get(req.service_method)
        if minfo is None:
            return f"rpcx: can't find method {req.service_method}"
        try:
            codec = self.codecs.get(req.serialize_type)
        except CodecError as exc:
            return str(exc)
        func = minfo.func
        for wrap in self.plugins.wrap_method:
            # metrics and tracing see every call this way, on the fast path too (rpcx.server.plugins)
            try:
                func = wrap(req.service_path, req.service_method, func, minfo.is_async)
            except Exception:  # noqa: BLE001 - a broken plugin must not make the method unreachable
                log.exception("wrap_method hook %r failed for %s.%s", wrap, req.service_path, req.service_method)
        fast = None if minfo.is_async else _fast_entry(minfo, codec, func)
        plan = CallPlan(svc.name, minfo, codec, encode_route(req.service_path, req.service_method), fast, func)
        self._plans[key] = plan
        return plan

    def _forget_plans(self) -> None:
        """Registration changed: resolve every method again."""
        self._plans.clear()
        self._routes.clear()

    # -- dispatch -------------------------------------------------------------------------------
    def _dispatch(self, conn: "ServerConnection", req: Message, frame: bytes | None) -> None:
        """Serve one request the connection received (``frame``: its bytes; None for a request
        another protocol built, served from the :class:`Message` alone). Never raises: every
        failure becomes a reply, an error reply or a close."""
        for h in self.plugins.post_read_request:
            try:
                h(req)
            except Exception as exc:  # noqa: BLE001 - Go closes the connection on this hook's error
                log.warning("closing connection from %s: post_read_request: %s", conn.peer, exc)
                self._respond(conn, req, b"", None, error_text(exc))
                conn.close()
                return
        plan = self._plan(req)
        if type(plan) is str:
            self._respond(conn, req, b"", None, plan)
            return
        assert isinstance(plan, CallPlan)
        if self.count_calls:
            self.calls_served += 1
        if plan.fast is not None and self._fast_enabled:
            if frame is None:
                if not req.oneway:  # Go's gateway waits for a oneway call: the full path does that
                    self._call_inline(conn, req, plan)
                    return
            else:
                # publish the method to the fast path (the next reads of it are served whole
                # there), and serve this frame there now if it is plain
                self._routes.setdefault(plan.route, {})[req.serialize_type << 4] = plan.fast
                r = handle_plain(frame, self._routes, conn.hot, conn)
                if r is not None:
                    if type(r) is bytes:
                        conn.write(r)
                    else:
                        self._finish_plain(conn, frame, r)
                    conn.request_done()
                    return
        self._begin()
        task = asyncio.get_running_loop().create_task(self._serve(conn, req, plan))
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    async def handle_message(self, req: Message, peer: Any = None) -> Handled:
        """Serve ``req``, a request built from another protocol (the HTTP gateway, JSON-RPC), on
        the one dispatch path, and return its reply instead of writing it to an rpcx connection.
        Plugins, auth, the fast path, the concurrency accounting and every error text are the
        rpcx path's own; at ``max_concurrent_calls`` it waits for a free slot as an rpcx frame
        does. A oneway request runs as one (the method sees ``oneway``, no reply is encoded) and is
        waited for, as Go's gateway does: its reply has an empty payload, the reply metadata and,
        if it failed, the error.
        """
        handled = self.serve_now(req, peer)  # (checks that req's header fields fit a frame)
        if handled is not None:
            return handled
        if self._at_capacity():  # type: ignore[attr-defined]
            await self._wait_for_slot()  # type: ignore[attr-defined]
        loop = asyncio.get_running_loop()
        sink = ReplySink(peer, loop.create_future())
        self._dispatch(sink, req, None)  # type: ignore[arg-type]
        # a post_read_request hook refuses synchronously, before any task: tell it from auth
        refused_at_once = sink.closing
        await sink._done  # type: ignore[misc]
        return sink.handled(refused_at_once)

    def serve_now(self, req: Message, peer: Any = None) -> Handled | None:
        """:meth:`handle_message` without waiting, when ``req`` can be served at once: a plain
        ``def`` method on the fast path's terms (no auth, no per-call plugin hook, not oneway, a
        free slot under ``max_concurrent_calls``), or a request that fails before any call (an
        unknown service or method, a codec the server lacks). Then its :class:`Handled`, served on
        the one dispatch path (:meth:`_dispatch`, the same plan and replies); otherwise None and
        nothing was run (``await handle_message(req)`` serves it). The gateway answers most HTTP
        requests this way, with no task or coroutine per request.

        >>> from rpcx import Server
        >>> class Arith:
        ...     def Mul(self, args: dict) -> dict:
        ...         return {"C": args["A"] * args["B"]}
        >>> server = Server(); server.register_name("Arith", Arith())
        >>> req = Message(service_path="Arith", service_method="Mul", serialize_type=1, payload=b'{"A":3,"B":4}')
        >>> bytes(server.serve_now(req).reply.payload)
        b'{"C":12}'
        """
        _check_header(req)
        if req.oneway or not self._fast_enabled or self._at_capacity():  # type: ignore[attr-defined]
            return None
        plan = self._plan(req)
        if type(plan) is CallPlan and plan.fast is None:
            return None  # an async method, or one run in a thread: it needs a task
        sink = ReplySink(peer, None)
        self._dispatch(sink, req, None)  # type: ignore[arg-type]
        return sink.handled()

    def _call_inline(self, conn: "ServerConnection", req: Message, plan: CallPlan) -> None:
        """The fast path for a request another protocol built (no frame to serve from): the plan's
        fast entry run inline, the reply built by :meth:`_respond` (or :meth:`_fail`)."""
        func, dec, enc, codec, _ = plan.fast  # type: ignore[misc]
        minfo = plan.minfo
        ctx = Context(req, conn, deadline_from(req.metadata))
        token = _current.set(ctx)  # current_context() works in the method, as on the full path
        called = False
        try:
            arg = dec(req.payload) if dec is not None else None
            called = True
            reply = _invoke(func, minfo, ctx, arg)
            try:
                payload = enc(reply)
            except Exception:  # noqa: BLE001 - the specialised encoder did not fit: the codec decides
                payload = codec.encode(reply)
        except Exception as exc:  # noqa: BLE001 - becomes the error reply
            self._fail(conn, req, exc, ctx.reply_metadata, plan if called else None)
            return
        finally:
            _current.reset(token)
        self._respond(conn, req, payload, ctx.reply_metadata)

    def _finish_plain(self, conn: "ServerConnection", frame: bytes, r: tuple[Any, Any]) -> None:
        """The fast path's rarer outcomes (see :func:`~rpcx.server.hotpath.handle_plain`): the call
        raised, or the reply frame needs building with reply metadata or from a payload that is not
        bytes. These frames were never counted as owed, so nothing is accounted here."""
        first, second = r
        if isinstance(first, BaseException):
            ctx = conn.hot.ctx or _FrameContext(frame, conn)
            req = ctx.request
            plan = self._plan(req) if second else None
            self._fail(conn, req, first, ctx.reply_metadata, plan if isinstance(plan, CallPlan) else None,
                       account=False)
            return
        req = first.request if first is not None else _FrameContext(frame, conn).request
        self._respond(conn, req, second, first.reply_metadata if first is not None else None, account=False)

    async def _serve(self, conn: "ServerConnection", req: Message, plan: CallPlan) -> None:
        """The full path for one call (a task)."""
        ctx = Context(req, conn, deadline_from(req.metadata))
        _current.set(ctx)
        if self.auth is not None:
            try:
                ok = await _maybe(self.auth(ctx, req.metadata.get(AUTH_KEY, "")))
                if ok is False:
                    raise RpcxError("auth failed")
            except Exception as exc:  # noqa: BLE001
                log.info("auth failed for %s: %s; closing the connection", conn.peer, exc)
                self._respond(conn, req, b"", None, self._error_text(exc))
                conn.close()
                return
        plugins = self.plugins
        for h in plugins.pre_handle_request:
            try:
                await _maybe(h(ctx, req))
            except Exception:  # noqa: BLE001 - Go ignores this hook's result
                log.debug("pre_handle_request hook failed", exc_info=True)
        minfo = plan.minfo
        args = reply = None
        err: BaseException | None = None
        called = False
        try:
            if minfo.takes_args:
                args = plan.codec.decode(req.payload, minfo.arg_type)
            for h in plugins.pre_call:
                # hooks see the method name as called on the wire, as Go passes req.ServiceMethod
                args = await _maybe(h(ctx, plan.service, req.service_method, args))
            called = True
            if minfo.is_async:
                reply = await self._await_with_deadline(_invoke(plan.func, minfo, ctx, args), ctx)
            elif self.sync_in_thread:
                fn = functools.partial(_invoke, plan.func, minfo, ctx, args)
                loop = asyncio.get_running_loop()
                reply = await self._await_with_deadline(loop.run_in_executor(None, _with_context(ctx, fn)), ctx)
            else:
                reply = _invoke(plan.func, minfo, ctx, args)
        except Exception as exc:  # noqa: BLE001
            err = exc
        for h in plugins.post_call:
            try:
                reply = await _maybe(h(ctx, plan.service, req.service_method, args, reply, err))
            except Exception as exc:  # noqa: BLE001
                if err is None:
                    err, called = exc, True
        if err is not None:
            self._fail(conn, req, err, ctx.reply_metadata, plan if called else None)
            return
        if req.oneway:
            if type(conn) is ReplySink:
                # Go's gateway waits for a oneway call and answers with its reply metadata
                self._respond(conn, req, b"", ctx.reply_metadata)
            else:
                conn.request_done()
            return
        try:
            payload = plan.codec.encode(reply)
        except Exception as exc:  # noqa: BLE001
            self._fail(conn, req, exc, ctx.reply_metadata, plan)
            return
        self._respond(conn, req, payload, ctx.reply_metadata)

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

    def _heartbeat(self, conn: "ServerConnection", req: Message) -> None:
        for h in self.plugins.heartbeat_request:
            h(req)
        conn.write(conn.rpx.send_heartbeat_echo(req))

    # -- replies --------------------------------------------------------------------------------
    def _error_text(self, exc: BaseException) -> str:
        if self.server_error_func is not None:
            return self.server_error_func(exc)
        return error_text(exc)

    def _fail(
        self,
        conn: "ServerConnection",
        req: Message,
        exc: BaseException,
        res_md: dict[str, str] | None,
        plan: CallPlan | None,
        *,
        account: bool = True,
    ) -> None:
        """Reply to a call that failed: Go's error reply, with the zero reply beside the error when
        the method itself (or its reply encoding) failed (``plan`` given), empty otherwise."""
        if self.handle_service_error is not None:
            self.handle_service_error(exc)
        if not isinstance(exc, _Deadline):
            self._failures.failed(f"{req.service_path}.{req.service_method}", exc)
        payload = plan.zero_reply() if plan is not None else b""
        self._respond(conn, req, payload, res_md, self._error_text(exc), account=account)

    def _respond(
        self,
        conn: "ServerConnection",
        req: Message,
        payload: Any,
        res_md: dict[str, str] | None,
        error: str | None = None,
        *,
        account: bool = True,
    ) -> None:
        """Build, hook and write the reply to ``req`` (nothing for a oneway request: Go never
        answers one, not even with an error). ``account`` closes the request's account with the
        connection (False for fast-path frames, which were never counted as owed)."""
        res = make_response(req, payload, res_md, error)
        plugins = self.plugins
        if error is not None:
            for h in plugins.error_response:
                try:
                    h(req, error)
                except Exception:  # noqa: BLE001 - an observer must not stop the reply
                    log.debug("error_response hook failed", exc_info=True)
        for h in plugins.pre_write_response:
            h(req, res, error)
        try:
            if type(conn) is ReplySink and type(payload) is bytes and not res.metadata:
                data = b""  # nothing here can fail to frame (_check_header checked the request's fields)
            else:
                data = encode(res)
        except Exception as exc:  # noqa: BLE001 - say why instead of dropping the connection
            if error is not None:
                raise  # an error reply that cannot be framed: there is nothing plainer to send
            # a codec handed back something that is not bytes, or a frame field is out of range
            error = f"rpcx: cannot encode reply: {exc}"
            self._failures.failed(f"{req.service_path}.{req.service_method} reply", exc)
            res = make_response(req, b"", None, error)
            data = encode(res)
        if type(conn) is ReplySink:  # the gateway reports a oneway call's outcome too
            conn.reply = res  # the Message itself: encoding it above checked that it frames
        elif not req.oneway:
            conn.write(data)
        for h in plugins.post_write_response:
            h(req, res, error)
        if account:
            conn.request_done()
