"""The per-call context a handler receives (layer: server).

It plays the part of Go's ``context.Context`` plus the ``share.ReqMetaDataKey`` /
``share.ResMetaDataKey`` maps: request metadata, response metadata, the deadline taken from
``__ServerTimeout``, the peer and the connection (for pushes).
"""

from __future__ import annotations

import contextvars
import threading
import time
from typing import TYPE_CHECKING, Any

from .._accel import speedups as _speedups
from ..protocol.constants import SERVER_TIMEOUT

if TYPE_CHECKING:
    from ..protocol.message import Message
    from .connection import ServerConnection

__all__ = ["Context", "current_context"]

_current: contextvars.ContextVar["Context"] = contextvars.ContextVar("rpcx_context")


def deadline_from(metadata: dict[str, str]) -> float | None:
    """The ``time.monotonic()`` deadline a request's ``__ServerTimeout`` (milliseconds) sets, or None.

    >>> deadline_from({}) is None, deadline_from({"__ServerTimeout": "x"}) is None
    (True, True)
    """
    timeout_ms = metadata.get(SERVER_TIMEOUT) if metadata else None
    if timeout_ms is None:
        return None
    try:
        return time.monotonic() + int(timeout_ms) / 1000.0
    except ValueError:
        return None


class PyHotCall:
    """The plain call the server's hot path is running inline right now on this thread's loop.

    Setting a few attributes costs less than a context object and a ContextVar set/reset per call;
    :func:`current_context` builds the context only if a handler asks for it. There is one per
    thread (see :func:`hot_call`): a loop runs its hot calls one at a time, but loops in other
    threads run theirs at the same time.
    """

    __slots__ = ("frame", "connection", "ctx")

    def __init__(self) -> None:
        self.frame: bytes | None = None
        self.connection: Any = None
        self.ctx: "Context | None" = None


# the C type (rpcx/_speedups.c) has the same three attributes, which its hot path sets directly
_HotCall: type = _speedups.HotCall if _speedups is not None else PyHotCall
_hot_local = threading.local()


def hot_call() -> Any:
    """This thread's hot-call slots, made on first use."""
    try:
        return _hot_local.hot
    except AttributeError:
        hot = _hot_local.hot = _HotCall()
        return hot


def current_context() -> "Context":
    """The context of the call being served, for handlers that do not take ``ctx``.

    Raises :class:`LookupError` outside a call.
    """
    ctx = _current.get(None)
    if ctx is not None:
        return ctx
    hot = getattr(_hot_local, "hot", None)
    if hot is not None and hot.frame is not None:
        if hot.ctx is None:
            hot.ctx = _FrameContext(hot.frame, hot.connection)
        return hot.ctx
    raise LookupError("current_context() called outside an rpcx call")


_UNSET: Any = object()


class Context:
    """What a handler knows about its call.

    >>> class Arith:
    ...     def echo(self, ctx: Context, data: bytes) -> bytes:
    ...         ctx.response_metadata["k"] = ctx.metadata.get("k", "")
    ...         return data
    """

    __slots__ = ("_request", "connection", "_deadline", "reply_metadata", "_values")

    def __init__(self, request: "Message", connection: "ServerConnection", deadline: float | None) -> None:
        self._request = request
        self.connection = connection
        self._deadline = deadline
        #: the reply metadata set so far, or None: what the server sends back with the reply (and
        #: what the C fast path reads). Handlers fill :attr:`response_metadata` instead.
        self.reply_metadata: dict[str, str] | None = None
        self._values: dict[str, Any] | None = None

    @property
    def request(self) -> "Message":
        """The request as received."""
        return self._request

    @property
    def deadline(self) -> float | None:
        """``time.monotonic()`` value by which the caller gives up, from ``__ServerTimeout``; or None."""
        return self._deadline

    @property
    def values(self) -> dict[str, Any]:
        """Free-form storage for plugins."""
        if self._values is None:
            self._values = {}
        return self._values

    @property
    def metadata(self) -> dict[str, str]:
        """Request metadata (read it; writing changes nothing on the wire)."""
        return self.request.metadata

    @property
    def response_metadata(self) -> dict[str, str]:
        """Fill this to send metadata back with the reply."""
        if self.reply_metadata is None:
            self.reply_metadata = {}
        return self.reply_metadata

    @property
    def service_path(self) -> str:
        """The service the call is for (Go's ``ServicePath``)."""
        return self.request.service_path

    @property
    def service_method(self) -> str:
        """The method as named on the wire (Go's ``ServiceMethod``)."""
        return self.request.service_method

    @property
    def seq(self) -> int:
        """The request's seq (the reply carries the same)."""
        return self.request.seq

    @property
    def peer(self) -> Any:
        """The remote address as the transport reports it (``(host, port)`` for tcp)."""
        return self.connection.peer

    @property
    def auth_token(self) -> str | None:
        """The caller's ``__AUTH`` token, or None."""
        return self.request.metadata.get("__AUTH")

    def time_remaining(self) -> float | None:
        """Seconds left before the caller's deadline (may be negative), or None without one."""
        if self.deadline is None:
            return None
        return self.deadline - time.monotonic()

    def __repr__(self) -> str:
        return f"<Context {self.service_path}.{self.service_method} seq={self.seq} peer={self.peer}>"


class _FrameContext(Context):
    """The context of a call served on the server's fast path: the request frame is parsed only
    when the handler looks at the request (its metadata, say), not before.
    """

    __slots__ = ("_frame",)

    def __init__(self, frame: bytes, connection: "ServerConnection") -> None:
        self._frame = frame
        self._request = None  # type: ignore[assignment]
        self.connection = connection
        self._deadline = _UNSET
        self.reply_metadata = None
        self._values = None

    @property
    def request(self) -> "Message":
        req = self._request
        if req is None:
            from ..protocol.message import parse_frame

            req = self._request = parse_frame(self._frame)
        return req

    @property
    def deadline(self) -> float | None:
        if self._deadline is _UNSET:
            self._deadline = deadline_from(self.request.metadata)
        return self._deadline  # type: ignore[no-any-return]
