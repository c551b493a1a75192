"""The tcp, tcp4 and tcp6 networks, with optional TLS (layer: transport)."""

from __future__ import annotations

import asyncio
import socket
import ssl as _ssl
from typing import Any

from ..errors import RpcxConnectionError
from .base import Address, ProtocolFactory

__all__ = ["TLS", "listen", "dial", "split_host_port"]

#: tcp, tcp4 and tcp6 take TLS (the ``ssl`` option), as in Go
TLS = True

_FAMILY = {"tcp": socket.AF_UNSPEC, "tcp4": socket.AF_INET, "tcp6": socket.AF_INET6}


def split_host_port(address: str) -> tuple[str, int]:
    """Split ``host:port``; IPv6 hosts come bracketed.

    >>> split_host_port("[::1]:8972"), split_host_port("127.0.0.1:0")
    (('::1', 8972), ('127.0.0.1', 0))
    """
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"bad tcp address {address!r}: expected host:port")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port)


def _join(family: int, host: str, port: int) -> str:
    return f"[{host}]:{port}" if family == socket.AF_INET6 or ":" in host else f"{host}:{port}"


class TcpListener:
    def __init__(self, network: str, server: asyncio.base_events.Server) -> None:
        self._server = server
        sock = server.sockets[0]
        host, port = sock.getsockname()[:2]
        self.address = f"{network}@{_join(sock.family, host, port)}"

    def close(self) -> None:
        self._server.close()

    async def wait_closed(self) -> None:
        await self._server.wait_closed()


async def listen(
    addr: Address, protocol_factory: ProtocolFactory, *, ssl: _ssl.SSLContext | None = None,
    backlog: int = 1024, reuse_port: bool = False,
) -> TcpListener:
    host, port = split_host_port(addr.address)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        protocol_factory, host or None, port, family=_FAMILY.get(addr.network, socket.AF_UNSPEC),
        ssl=ssl, backlog=backlog, reuse_address=True, reuse_port=reuse_port or None,
    )
    return TcpListener(addr.network, server)


async def dial(
    addr: Address, protocol_factory: ProtocolFactory, *, ssl: _ssl.SSLContext | None = None,
    timeout: float | None = None, server_hostname: str | None = None,
) -> tuple[asyncio.Transport, asyncio.Protocol]:
    host, port = split_host_port(addr.address)
    loop = asyncio.get_running_loop()
    kwargs: dict[str, Any] = {"family": _FAMILY.get(addr.network, socket.AF_UNSPEC)}
    if ssl is not None:
        kwargs["ssl"] = ssl
        kwargs["server_hostname"] = server_hostname if server_hostname is not None else host
    try:
        async with asyncio.timeout(timeout):
            return await loop.create_connection(protocol_factory, host, port, **kwargs)
    except TimeoutError:
        raise RpcxConnectionError(f"dial {addr}: timed out after {timeout}s") from None
    except (OSError, _ssl.SSLError) as exc:
        raise RpcxConnectionError(f"dial {addr}: {exc}") from exc
