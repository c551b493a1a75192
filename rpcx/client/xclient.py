"""``XClient``: calls one service across the servers discovery offers, with Go's fail modes (layer: client).

Rule: one attempt on one server happens in exactly one place, ``XClient._attempt``; every fail
mode, ``go``, ``oneshot``, ``send_raw``, ``broadcast``, ``fork`` and ``inform`` are loops over it.
One cached :class:`Client` per server key; a connection error drops it and the next attempt dials
again, which is how a client rides through a server restart.

XClient is a stack of small bases, each in its own module and each using only those below it:

===================  ==========================  ===============================================
module               base                        owns
===================  ==========================  ===============================================
``serverset.py``     ``ServerSet``               discovery's list and its watch, group/state
                                                 filters, dial hold-outs, the selector and
                                                 ``wrap_select``, breakers, background tasks
``connections.py``   ``ConnectionCache``         one ``Client`` per key: shared dials, dropping
                                                 and draining, connection hooks, ``aclose``
``attempt.py``       ``AttemptPoint``            ``_attempt(call, key)``, ``classify``, auth
                                                 and ``__ServerTimeout`` metadata, ``_report``
``failmodes.py``     ``FailModes``               Failfast, Failtry, Failover, Failbackup
``fanout.py``        ``FanOut``                  ``broadcast``, ``fork``, ``inform``
``xclient.py``       ``XClient``                 construction, ``call``, ``send_raw``,
                                                 ``oneshot``, ``go``
===================  ==========================  ===============================================

Not in Go: a server that refuses a dial is not chosen again by the same call and is held out of
selection for ``Option.dial_backoff`` (when every server is held out, all are tried anyway), so a
stopped server that discovery still lists costs no calls.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from ..codec.base import CodecRegistry
from ..protocol.message import Message
from .attempt import RAW, classify
from .client import PushHandler
from .discovery import ServiceDiscovery
from .fanout import FanOut
from .options import FailMode, Option, SelectMode
from .pending import PendingCall, Receipt
from .selector import Call, Outcome

__all__ = ["XClient", "Call", "Outcome", "PendingCall", "Receipt", "classify"]


class XClient(FanOut):
    """A client for one service path over a set of servers.

    >>> from rpcx.client import Peer2PeerDiscovery
    >>> xc = XClient("Arith", FailMode.FAILTRY, SelectMode.RANDOM, Peer2PeerDiscovery("tcp@127.0.0.1:8972"))
    >>> # reply = await xc.call("Mul", {"A": 10, "B": 20}, timeout=1.0); await xc.aclose()

    Discovery is watched from the first call on, and the watch is closed by :meth:`aclose`.
    ``SelectMode.SELECT_BY_USER`` needs :meth:`set_selector` before the first call.
    """

    def __init__(
        self,
        service_path: str,
        fail_mode: FailMode = FailMode.FAILTRY,
        select_mode: SelectMode = SelectMode.RANDOM,
        discovery: ServiceDiscovery | None = None,
        option: Option = Option(),
        *,
        codecs: CodecRegistry | None = None,
        on_push: PushHandler | None = None,
    ) -> None:
        if discovery is None:
            raise ValueError("XClient needs a discovery, e.g. Peer2PeerDiscovery('tcp@127.0.0.1:8972')")
        self.fail_mode = FailMode(fail_mode)
        self._auth = None
        self._init_server_set(service_path, select_mode, discovery, option)
        self._init_connections(codecs, on_push)

    async def call(
        self,
        method: str,
        args: Any,
        reply_type: Any = None,
        *,
        metadata: dict[str, str] | None = None,
        response_metadata: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> Any:
        """Call ``method`` on a selected server, applying the fail mode. Returns the decoded reply."""
        call = self._begin(method, args, metadata)
        timeout = timeout if timeout is not None else self.option.default_timeout
        deadline = time.monotonic() + timeout if timeout is not None else None
        # the fail-mode switch inline (not _call_with_fail_mode): one coroutine less on the hot path
        if self.fail_mode == FailMode.FAILBACKUP:
            return await self._call_backup(call, reply_type, response_metadata, deadline)
        if self.fail_mode == FailMode.FAILFAST:
            key = self._select(call)
            result = await self._attempt(call, key, reply_type=reply_type, deadline=deadline,
                                         response_metadata=response_metadata)
            return result.unwrap()
        return await self._call_retrying(call, reply_type, response_metadata, deadline)

    async def send_raw(self, msg: Message, *, timeout: float | None = None) -> Message:
        """Send a request :class:`Message` built elsewhere (a gateway's: payload already encoded,
        its serialize type, metadata and method as they came) to a selected server, applying the
        fail mode; return the raw response frame (Go's ``XClient.SendRaw``). An error response is
        returned, not raised (it is an answer; only dial and connection errors are retried); the
        deadline goes to the server as ``__ServerTimeout`` as for :meth:`call`."""
        call = self._begin(msg.service_method, msg, msg.metadata)
        timeout = timeout if timeout is not None else self.option.default_timeout
        deadline = time.monotonic() + timeout if timeout is not None else None
        reply = await self._call_with_fail_mode(call, RAW, None, deadline)
        assert isinstance(reply, Message)
        return reply

    async def oneshot(self, method: str, args: Any, *, metadata: dict[str, str] | None = None) -> None:
        """Send a oneway call to a selected server and return once it is written (one attempt)."""
        call = self._begin(method, args, metadata)
        (await self._attempt(call, self._select(call), oneway=True)).unwrap()

    def go(
        self,
        method: str,
        args: Any,
        reply_type: Any = None,
        *,
        metadata: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> PendingCall:
        """Start a call and return at once (Go's ``Go``): await the :class:`PendingCall` for the
        reply, or read its ``reply``, ``error`` and ``response_metadata`` when it is done. It goes
        through the fail mode like :meth:`call` (Go's ``Go`` ignores it). Needs a running loop."""
        self._begin(method, args, metadata)  # a closed XClient fails here, not in the task
        md: dict[str, str] = {}
        task = asyncio.get_running_loop().create_task(
            self.call(method, args, reply_type, metadata=metadata, response_metadata=md, timeout=timeout))
        return PendingCall(method, task, md)

    # -- side channels (Go's SendFile, DownloadFile, Stream): see rpcx/client/sidechannel.py ----
    async def send_file(self, file_name: Any, rate_in_bytes_per_second: int = 0,
                        meta: dict[str, str] | None = None, *, timeout: float | None = None) -> int:
        """Upload a file to the ``_filetransfer`` service (Go's ``SendFile``); returns bytes sent."""
        from .sidechannel import send_file
        return await send_file(self, file_name, rate_in_bytes_per_second, meta, timeout=timeout)

    async def download_file(self, request_file_name: str, save_to: Any, meta: dict[str, str] | None = None,
                            *, timeout: float | None = None) -> int:
        """Download into a path or writer (Go's ``DownloadFile``); returns bytes received."""
        from .sidechannel import download_file
        return await download_file(self, request_file_name, save_to, meta, timeout=timeout)

    async def stream(self, meta: dict[str, str] | None = None, *, timeout: float | None = None) -> Any:
        """A raw byte stream from the ``_streamservice`` service (Go's ``Stream``): a
        :class:`~rpcx.transport.sidestream.SideConnection`."""
        from .sidechannel import open_stream
        return await open_stream(self, meta, timeout=timeout)

    async def __aenter__(self) -> "XClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
