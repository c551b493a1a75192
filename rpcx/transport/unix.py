"""The unix network: a socket path (layer: transport). Like Go, no TLS and no gateway here.

Go's server listens on unix in plain text even when it has a TLS config, so this network declares
``TLS = False``: :func:`rpcx.transport.listen` / :func:`~rpcx.transport.dial` refuse ``ssl=`` here,
and a Server or Client with a TLS context talks plain text on unix (with a warning).
"""

from __future__ import annotations

import asyncio
import os
import ssl as _ssl
import stat

from ..errors import RpcxConnectionError
from .base import Address, ProtocolFactory, refuse_tls

__all__ = ["TLS", "listen", "dial"]

TLS = False


class UnixListener:
    def __init__(self, path: str, server: asyncio.base_events.Server) -> None:
        self._server = server
        self._path = path
        self.address = f"unix@{path}"

    def close(self) -> None:
        self._server.close()
        try:
            os.unlink(self._path)
        except OSError:
            pass

    async def wait_closed(self) -> None:
        await self._server.wait_closed()


async def listen(
    addr: Address, protocol_factory: ProtocolFactory, *, ssl: _ssl.SSLContext | None = None, backlog: int = 1024
) -> UnixListener:
    refuse_tls(addr, ssl)
    try:
        if stat.S_ISSOCK(os.stat(addr.address).st_mode):
            os.unlink(addr.address)  # a stale socket file from a previous run; never any other file
    except OSError:
        pass
    server = await asyncio.get_running_loop().create_unix_server(protocol_factory, addr.address, backlog=backlog)
    return UnixListener(addr.address, server)


async def dial(
    addr: Address, protocol_factory: ProtocolFactory, *, ssl: _ssl.SSLContext | None = None, timeout: float | None = None,
    server_hostname: str | None = None,
) -> tuple[asyncio.Transport, asyncio.Protocol]:
    """Connect to the socket at ``addr.address`` (``ssl`` and ``server_hostname`` are accepted as
    every dial's standard options; ``ssl`` must be None)."""
    refuse_tls(addr, ssl)
    try:
        async with asyncio.timeout(timeout):
            return await asyncio.get_running_loop().create_unix_connection(protocol_factory, addr.address)
    except TimeoutError:
        raise RpcxConnectionError(f"dial {addr}: timed out after {timeout}s") from None
    except OSError as exc:
        raise RpcxConnectionError(f"dial {addr}: {exc}") from exc
