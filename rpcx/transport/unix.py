"""The unix network: a socket path (layer: transport). Like Go, no TLS and no gateway here."""

from __future__ import annotations

import asyncio
import os
import stat
from typing import Any

from ..errors import RpcxConnectionError
from .base import Address, ProtocolFactory

__all__ = ["listen", "dial"]


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


async def listen(addr: Address, protocol_factory: ProtocolFactory, *, ssl: Any = None, **_: Any) -> UnixListener:
    try:
        if stat.S_ISSOCK(os.stat(addr.address).st_mode):
            os.unlink(addr.address)  # a stale socket file from a previous run; never any other file
    except OSError:
        pass
    server = await asyncio.get_running_loop().create_unix_server(protocol_factory, addr.address, ssl=ssl)
    return UnixListener(addr.address, server)


async def dial(
    addr: Address, protocol_factory: ProtocolFactory, *, ssl: Any = None, timeout: float | None = None, **_: Any
) -> tuple[asyncio.BaseTransport, asyncio.Protocol]:
    try:
        async with asyncio.timeout(timeout):
            return await asyncio.get_running_loop().create_unix_connection(
                protocol_factory, addr.address, ssl=ssl, server_hostname="localhost" if ssl else None
            )
    except TimeoutError:
        raise RpcxConnectionError(f"dial {addr}: timed out after {timeout}s") from None
    except OSError as exc:
        raise RpcxConnectionError(f"dial {addr}: {exc}") from exc
