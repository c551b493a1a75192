"""The side listener shared by file transfer and streams (layer: server).

Rule: a side connection is served only after it presents a live token that an rpcx call issued
(:class:`rpcx.protocol.sidechannel.TokenTable`: used once, ``wait_num`` waiting at most, expired
after ``token_ttl``). Anything else (no token within ``token_timeout``, an unknown, used or expired
token) is logged and the connection closed; nothing else is affected. Each accepted connection runs
its handler in a task of its own, so transfers run side by side, and the connection is closed when
the handler returns or raises (a raising handler is logged). Unlike Go, which reads tokens one
connection at a time in its accept loop, a peer that never sends its token stalls nobody.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import secrets
import socket
import time
from typing import Any, Awaitable, Callable

from ..protocol.sidechannel import TOKEN_SIZE, TokenTable
from ..transport.sidestream import SideConnection
from ..transport.tcp import split_host_port

__all__ = ["SideChannel", "SideHandler"]

log = logging.getLogger("rpcx.server.side")

#: ``handler(conn, args)``; plain or async. The connection is closed for it when it returns.
SideHandler = Callable[[SideConnection, Any], "Awaitable[None] | None"]


class SideChannel:
    """A TCP listener for side connections and the tokens that admit them.

    Subclasses (:class:`~rpcx.server.filetransfer.FileTransfer`,
    :class:`~rpcx.server.stream.StreamService`) issue tokens from their rpcx methods with
    :meth:`issue` and give :meth:`enable` the service object to register.

    >>> async def demo():
    ...     async with SideChannel("127.0.0.1:0") as side:
    ...         bound = await side.start()
    ...         token, addr = side.issue(lambda conn, args: None, "args")
    ...         return len(token), addr == bound
    >>> asyncio.run(demo())
    (32, True)
    """

    def __init__(
        self,
        addr: str,
        *,
        wait_num: int = 1000,
        token_ttl: float = 60.0,
        token_timeout: float = 10.0,
        advertise_addr: str = "",
    ) -> None:
        split_host_port(addr)  # a bad address fails here, not at the first transfer
        #: where to listen, ``host:port`` (port 0: any free port; the bound one is advertised)
        self.addr = addr
        #: the address replies send clients to, when it is not the bound one (Go's ``AdvertiseAddr``)
        self.advertise_addr = advertise_addr
        self.token_timeout = token_timeout
        self._tokens = TokenTable(wait_num, token_ttl)
        self._server: asyncio.base_events.Server | None = None
        self._bound: str | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        #: counts for tests and logs: connections served, refused (bad token), handlers that raised
        self.stats = {"served": 0, "refused": 0, "failed": 0}

    # -- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> str:
        """Listen (once) and return the bound ``host:port``."""
        if self._server is None:
            host, port = split_host_port(self.addr)
            self._server = await asyncio.start_server(self._serve, host or None, port)
            sock = self._server.sockets[0]
            h, p = sock.getsockname()[:2]
            self._bound = f"[{h}]:{p}" if sock.family == socket.AF_INET6 else f"{h}:{p}"
            log.info("%s: side channel listening on %s", type(self).__name__, self._bound)
        assert self._bound is not None
        return self._bound

    @property
    def address(self) -> str | None:
        """The bound ``host:port`` once started."""
        return self._bound

    @property
    def advertised(self) -> str:
        """What replies carry as ``Addr``."""
        return self.advertise_addr or self._bound or self.addr

    def close(self) -> None:
        """Stop accepting side connections; transfers in flight carry on (as Go's ``Stop``)."""
        if self._server is not None:
            self._server.close()

    async def aclose(self) -> None:
        """Stop accepting and cancel the transfers in flight; idempotent."""
        self.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def __aenter__(self) -> "SideChannel":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def enable(self, server: Any, name: str, service: Any) -> None:
        """Listen, register ``service`` under ``name`` and close the listener when ``server``
        leaves its registries (shutdown runs the ``unregister`` hook)."""
        await self.start()
        server.register_name(name, service)
        server.add_plugin(_CloseWithServer(self, name))

    # -- tokens ---------------------------------------------------------------------------------
    def issue(self, handler: SideHandler, args: Any) -> tuple[bytes, str]:
        """A fresh token admitting one connection to ``handler(conn, args)``, and the address to dial."""
        if self._server is None:
            raise RuntimeError("side channel not started: enable it with await server.enable_...() first")
        token = secrets.token_bytes(TOKEN_SIZE)
        self._tokens.add(token, (handler, args), now=time.monotonic())
        return token, self.advertised

    # -- connections ----------------------------------------------------------------------------
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        conn = SideConnection(reader, writer)
        try:
            await self._run(conn)
        finally:
            self._tasks.discard(task)
            await conn.aclose()

    async def _run(self, conn: SideConnection) -> None:
        try:
            token = await asyncio.wait_for(conn.receive_exactly(TOKEN_SIZE), self.token_timeout)
        except (asyncio.IncompleteReadError, TimeoutError, ConnectionError, OSError) as exc:
            self.stats["refused"] += 1
            why = "timed out" if isinstance(exc, TimeoutError) else "connection ended"
            log.warning("%s: failed to read token from %s (%s)", type(self).__name__, conn.peer, why)
            return
        entry = self._tokens.take(token, now=time.monotonic())
        if entry is None:
            self.stats["refused"] += 1
            log.warning("%s: unknown, used or expired token from %s; connection closed",
                        type(self).__name__, conn.peer)
            return
        handler, args = entry
        self.stats["served"] += 1
        try:
            result = handler(conn, args)
            if inspect.isawaitable(result):
                await result
        except asyncio.CancelledError:
            raise
        except Exception:
            self.stats["failed"] += 1
            log.exception("%s: handler for %s failed", type(self).__name__, conn.peer)


class _CloseWithServer:
    """A lifecycle-only plugin (the fast path stays on): the side listener closes with the server."""

    def __init__(self, side: SideChannel, name: str) -> None:
        self.side = side
        self.name = name

    def unregister(self, name: str) -> None:
        if name == self.name:
            self.side.close()
