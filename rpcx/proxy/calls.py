"""One call on its way through the proxy, and what observers learn when it ends (layer: proxy).

A :class:`ProxyCall` is the token an upstream :class:`~rpcx.protocol.connection.RpcxConnection`
keeps for the seq it sent the call with; it knows the client connection and the client's own seq,
so the reply goes back to the right client under the right seq. Oneway calls get no ProxyCall kept
anywhere: the proxy forgets them once forwarded.

When a call ends (a reply, an error the proxy answered itself, or unfinished because a connection
closed) every observer's ``call_finished(record)`` gets a :class:`CallRecord`. The access log is one
observer; metrics (Prometheus, built elsewhere) plug in the same way, which is the seam they need.

>>> r = CallRecord(client="127.0.0.1:5", service="Arith", method="Mul", route="r", cluster="c",
...                upstream="tcp@127.0.0.1:1", status="ok", error=None, rpc_time=0.002, seq=1)
>>> r.fields()["status"], r.metadata
('ok', {})
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from ..protocol.header import FrameHeader
from .routing import LazyMetadata, Route

if TYPE_CHECKING:
    import asyncio

    from .cluster import Cluster
    from .downstream import DownstreamConnection
    from .upstream import UpstreamConnection

__all__ = ["ProxyCall", "CallRecord", "CallObserver", "FIELDS"]

#: the fields of a record, as filter expressions and log lines name them
FIELDS = frozenset({
    "time", "client", "service", "method", "route", "cluster", "upstream", "status", "error", "fault",
    "rpc_time", "seq", "oneway", "request_bytes", "response_bytes", "upstream_time", "retries",
})


@dataclass(frozen=True)
class CallRecord:
    """A finished call. ``status`` is ``ok`` (a normal reply, or a oneway call forwarded), ``error``
    (an error reply, from upstream or from the proxy: ``error`` says which and why) or
    ``unfinished`` (the client left before its reply). ``rpc_time`` is seconds from the request's
    arrival to its end; ``fault`` is ``delay``, ``abort``, ``delay+abort`` or None. ``upstream_time``
    is seconds from the (last) write of the request upstream to its reply, None when no reply came
    from upstream; ``retries`` is how many more servers the call was sent to after the first."""

    client: str
    service: str
    method: str
    route: str | None
    cluster: str | None
    upstream: str | None
    status: str
    error: str | None
    rpc_time: float
    seq: int
    oneway: bool = False
    fault: str | None = None
    request_bytes: int = 0
    response_bytes: int = 0
    upstream_time: float | None = None
    retries: int = 0
    time: float = field(default_factory=time.time)
    metadata: dict[str, str] = field(default_factory=dict)

    def fields(self) -> dict[str, Any]:
        """The record as a dict of :data:`FIELDS` (what filters see and log lines print)."""
        return {name: getattr(self, name) for name in FIELDS}


class CallObserver(Protocol):
    """What the proxy tells about calls: ``wants_metadata`` asks for the request metadata to be
    decoded into each record (it otherwise is not, unless routing needed it)."""

    wants_metadata: bool

    def call_finished(self, record: CallRecord) -> None: ...


class ProxyCall:
    """The proxy's state for one call that waits for a reply (see the module docstring)."""

    __slots__ = (
        "down", "client_seq", "header", "md", "route", "cluster", "upstream", "upstream_seq", "start",
        "fault", "timer", "done", "request_bytes", "clusters", "frame", "key", "tried", "retries_left",
        "sent",
    )

    def __init__(self, down: "DownstreamConnection", header: FrameHeader, md: LazyMetadata, start: float,
                 request_bytes: int, clusters: "dict[str, Cluster] | None" = None) -> None:
        self.down = down
        self.client_seq = header.seq
        self.header = header
        self.md = md
        self.route: Route | None = None
        self.cluster: str | None = None
        self.upstream: "UpstreamConnection | None" = None
        self.upstream_seq: int | None = None
        self.start = start  # time.perf_counter(): durations finer than the loop clock (uvloop: 1 ms)
        self.fault: str | None = None
        self.timer: "asyncio.TimerHandle | None" = None
        self.done = False
        self.request_bytes = request_bytes
        #: the clusters of the configuration the call was routed with (a reload does not move it)
        self.clusters = clusters or {}
        #: the frame as sent upstream (after the route's edits), kept for a retry
        self.frame: bytes = b""
        #: the server the call was last sent to, and those it failed on
        self.key: str | None = None
        self.tried: list[str] = []
        self.retries_left = 0
        #: when the request was (last) handed to an upstream connection (only kept for observers)
        self.sent: float | None = None

    def __repr__(self) -> str:
        h = self.header
        return f"<ProxyCall {h.service_path}.{h.service_method} client seq {self.client_seq} upstream seq {self.upstream_seq}>"
