"""OpenTelemetry tracing for rpcx servers and XClients, interoperable with Go's rpcx-plugins
OpenTelemetry plugins (layer: server and client plugins; pip extra ``tracing``).

Rule: the trace context travels in the rpcx request metadata, written and read by a
``TextMapPropagator`` (default: OpenTelemetry's global one, W3C ``traceparent``/``tracestate``), as
github.com/rpcxio/rpcx-plugins does (``share.Inject``/``share.Extract`` over the request metadata
map). Spans are named and attributed as Go's: the server span ``rpcx.service.PATH.METHOD`` (kind
server), the client span ``rpcx.client.PATH.METHOD`` (kind internal: Go's plugin sets none);
attributes ``rpc.system=rpcx``, ``rpc.service``, ``rpc.method``; the events Go adds (the request
metadata, the reply metadata, the call's arguments and reply), only when the span is recorded;
status OK, or ERROR with the error's text.

The server side needs no per-call hook, so the fast path stays on: :class:`ServerTracing` wraps
each method (``wrap_method``), and the wrapper reads the request's metadata only when the raw frame
has any. With ``root_spans=False`` a call that carries no trace context costs one look at the frame
header and gets no span (Go starts a new trace for each such call: the default, ``root_spans=True``).

Where it differs from Go, and why:

- the server span covers the method's run (Go's, from ``PreHandleRequest`` to ``PostWriteResponse``,
  also the decode and the write); a call whose arguments do not decode gets no span;
- the server makes its span the current OpenTelemetry context while the method runs (Go writes it
  back into the request metadata for the handler to pass on): an XClient call made by the handler
  with :class:`ClientTracing` is its child;
- the client span's parent is the trace context in the call's metadata if it has one (Go's only
  source), else the current span (Go's plugin cannot see a span in the caller's ``context``).
"""

from __future__ import annotations

import contextvars
from typing import Any, Callable, Mapping

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.propagators.textmap import TextMapPropagator
from opentelemetry.trace import SpanKind, Status, StatusCode

from ..protocol.message import peek_route
from ..server.context import _current, current_context, hot_call
from ..server.dispatch import error_text

__all__ = ["ServerTracing", "ClientTracing", "go_map"]

_TRACEPARENT = b"traceparent"


def go_map(md: Mapping[str, str] | None) -> str:
    """A metadata map as Go's ``fmt.Sprintf("%+v", m)`` prints it (keys sorted), for span events.

    >>> go_map({"b": "2", "a": "1"}), go_map(None)
    ('map[a:1 b:2]', 'map[]')
    """
    return "map[" + " ".join(f"{k}:{v}" for k, v in sorted((md or {}).items())) + "]"


def _tracer(tracer_provider: Any) -> trace.Tracer:
    return trace.get_tracer("rpcx", tracer_provider=tracer_provider)


def _rpc_attributes(service: str, method: str) -> dict[str, str]:
    return {"rpc.system": "rpcx", "rpc.service": service, "rpc.method": method}


class ServerTracing:
    """Server spans for every call (a server plugin): ``server.add_plugin(ServerTracing())``.

    ``tracer_provider``/``propagator``: OpenTelemetry's global ones unless given. ``root_spans``:
    start a new trace for a call that carries none (Go's behaviour); False traces only the calls
    whose caller sent a trace context. ``events``: add Go's two span events (the request and reply
    metadata); False saves about a quarter of a span's cost.

    >>> from opentelemetry.sdk.trace import TracerProvider
    >>> t = ServerTracing(TracerProvider(), root_spans=False)
    >>> t.wrap_method("Arith", "Mul", lambda a: a * 2, False)(21)  # outside a call: no span
    42
    """

    def __init__(self, tracer_provider: Any = None, propagator: TextMapPropagator | None = None, *,
                 root_spans: bool = True, events: bool = True) -> None:
        self.tracer = _tracer(tracer_provider)
        self.propagator = propagator
        self.root_spans = root_spans
        self.events = events

    def _metadata(self) -> tuple[Mapping[str, str] | None, Any]:
        """The request metadata of the call running on this thread (None when it has none, or, with
        ``root_spans=False``, when its frame holds no trace context), and its context if made."""
        hot = hot_call()
        frame = hot.frame
        if frame is not None:
            # the fast path: the raw frame; nothing is parsed for a frame without metadata
            head = peek_route(frame)
            if head is None or not head[5]:
                return None, None
            if not self.root_spans and frame.find(_TRACEPARENT, 0, head[6]) < 0:
                return None, None

            ctx = current_context()  # parses the frame, once: the handler's ctx is the same object
            return ctx.metadata, ctx
        try:
            full = _current.get()  # the full path: the call's Context
        except LookupError:
            return None, None
        return full.metadata, full

    def _start(self, service: str, method: str, name: str) -> tuple[Any, Any, Any] | None:
        md, ctx = self._metadata()
        parent = otel_context.Context()
        if md:
            prop = self.propagator or propagate.get_global_textmap()
            parent = prop.extract(md, context=parent)
        if not self.root_spans and not trace.get_current_span(parent).get_span_context().is_valid:
            return None
        span = self.tracer.start_span(name, context=parent, kind=SpanKind.SERVER,
                                      attributes=_rpc_attributes(service, method))
        if self.events and span.is_recording():
            span.add_event("rpcx.pre.handle.request", {
                "rpcx.pre.handle.request.path": name,
                "rpcx.pre.handle.request.metadata": go_map(md),
            })
        token = otel_context.attach(trace.set_span_in_context(span, parent))
        return span, token, ctx

    def _end(self, started: tuple[Any, Any, Any], exc: BaseException | None) -> None:
        span, token, ctx = started
        otel_context.detach(token)
        if span.is_recording():
            if self.events:
                if ctx is None:
                    ctx = hot_call().ctx  # made by the handler, if it asked for it
                res_md = ctx.reply_metadata if ctx is not None else None
                span.add_event("rpcx.post.write.response", {"rpcx.post.write.response.metadata": go_map(res_md)})
            if exc is None:
                span.set_status(Status(StatusCode.OK))
            else:
                span.set_status(Status(StatusCode.ERROR, error_text(exc)))
        span.end()

    def wrap_method(self, service: str, method: str, func: Callable[..., Any], is_async: bool) -> Callable[..., Any]:
        name = f"rpcx.service.{service}.{method}"
        start, end = self._start, self._end

        if is_async:
            async def traced_async(*args: Any) -> Any:
                started = start(service, method, name)
                if started is None:
                    return await func(*args)
                try:
                    reply = await func(*args)
                except BaseException as exc:
                    end(started, exc)
                    raise
                end(started, None)
                return reply

            return traced_async

        def traced(*args: Any) -> Any:
            started = start(service, method, name)
            if started is None:
                return func(*args)
            try:
                reply = func(*args)
            except BaseException as exc:
                end(started, exc)
                raise
            end(started, None)
            return reply

        return traced


class ClientTracing:
    """Client spans for every attempt of an XClient, the trace context sent in the request
    metadata: ``xclient.plugins.add(ClientTracing())``. Add it after the plugins whose ``pre_call``
    may refuse an attempt (a span started for a refused attempt would not be ended).

    >>> from opentelemetry.sdk.trace import TracerProvider
    >>> from rpcx.client.selector import Call
    >>> t = ClientTracing(TracerProvider())
    >>> sorted(t.pre_call(Call("Arith", "Mul", {"A": 1}), "tcp@127.0.0.1:1"))
    ['traceparent']
    """

    def __init__(self, tracer_provider: Any = None, propagator: TextMapPropagator | None = None) -> None:
        self.tracer = _tracer(tracer_provider)
        self.propagator = propagator
        # the span of the attempt running in this task (pre_call and post_call share the task)
        self._span: contextvars.ContextVar[Any] = contextvars.ContextVar("rpcx_client_span")

    def pre_call(self, call: Any, key: str) -> dict[str, str]:
        prop = self.propagator or propagate.get_global_textmap()
        parent = None  # the current context
        if call.metadata:
            found = prop.extract(call.metadata, context=otel_context.Context())
            if trace.get_current_span(found).get_span_context().is_valid:
                parent = found
        name = f"rpcx.client.{call.service_path}.{call.service_method}"
        span = self.tracer.start_span(name, context=parent, kind=SpanKind.INTERNAL,
                                      attributes=_rpc_attributes(call.service_path, call.service_method))
        if span.is_recording():
            span.add_event("PreCall", {"rpc.client.request.message": repr(call.args)})
        self._span.set(span)
        carrier: dict[str, str] = {}
        prop.inject(carrier, context=trace.set_span_in_context(span))
        return carrier

    def post_call(self, call: Any, key: str, outcome: Any, value: Any) -> None:
        span = self._span.get(None)
        if span is None:
            return
        self._span.set(None)
        if span.is_recording():
            span.add_event("PostCall", {"rpc.client.response.message": repr(value)})
            if outcome.value == "success":
                span.set_status(Status(StatusCode.OK))
            else:
                span.set_status(Status(StatusCode.ERROR, str(value)))
        span.end()
