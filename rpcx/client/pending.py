"""The results of XClient's non-blocking and fan-out calls: :class:`PendingCall`, :class:`Receipt` (layer: client).

Rule: plain result holders. They start nothing and call nothing; :class:`~rpcx.client.XClient` makes them.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Callable, Generator

__all__ = ["PendingCall", "Receipt"]


class PendingCall:
    """A call started by :meth:`XClient.go` (Go's ``XClient.Go``): await it for the reply, or read
    ``reply``, ``error`` and ``response_metadata`` once :meth:`done`.

    >>> async def demo(xc):  # doctest: +SKIP
    ...     calls = [xc.go("Mul", {"A": i, "B": 2}) for i in range(10)]
    ...     replies = [await c for c in calls]
    ...     return calls[0].response_metadata

    Unlike Go's ``Go`` the call goes through the fail mode (retries, Failbackup) like :meth:`XClient.call`.
    """

    def __init__(self, service_method: str, task: asyncio.Future[Any], response_metadata: dict[str, str]) -> None:
        self.service_method = service_method
        #: the server's response metadata, filled in when the reply arrives
        self.response_metadata = response_metadata
        self._task = task
        # retrieve the outcome here, so a call nobody awaits logs no "exception never retrieved"
        task.add_done_callback(lambda t: t.cancelled() or t.exception())

    def done(self) -> bool:
        """True once the call ended (a reply, an error or a cancellation)."""
        return self._task.done()

    def cancel(self) -> bool:
        """Abandon the call (its connection is kept; a late reply is dropped)."""
        return self._task.cancel()

    @property
    def reply(self) -> Any:
        """The decoded reply; None while pending or when the call failed."""
        t = self._task
        if not t.done() or t.cancelled() or t.exception() is not None:
            return None
        return t.result()

    @property
    def error(self) -> BaseException | None:
        """The call's error (a cancellation is a :class:`asyncio.CancelledError`); None while pending
        or on success."""
        t = self._task
        if not t.done():
            return None
        if t.cancelled():
            return asyncio.CancelledError()
        return t.exception()

    def add_done_callback(self, fn: Callable[["PendingCall"], Any]) -> None:
        """Run ``fn(self)`` when the call ends (Go's ``done`` channel)."""
        self._task.add_done_callback(lambda _t: fn(self))

    def __await__(self) -> Generator[Any, None, Any]:
        return self._task.__await__()

    def __repr__(self) -> str:
        state = "pending" if not self.done() else ("failed" if self.error is not None else "done")
        return f"<PendingCall {self.service_method} {state}>"


@dataclass
class Receipt:
    """One server's answer to :meth:`XClient.inform` (Go's ``Receipt``).

    ``address`` is the server key without its network prefix, as in Go. ``error`` is this server's
    own error (Go puts the shared MultiError of every server there).

    >>> Receipt("127.0.0.1:8972", reply=6).ok
    True
    """

    address: str
    reply: Any = None
    error: BaseException | None = None
    #: this server's response metadata
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when this server answered without an error."""
        return self.error is None
