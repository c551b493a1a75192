"""The http network: rpcx through an HTTP CONNECT tunnel, byte for byte as Go rpcx (layer: transport).

Rule: after one bounded handshake the connection is plain rpcx on the same socket. The client
writes ``CONNECT /_rpcx_ HTTP/1.0\\n\\n``; the server answers exactly
``HTTP/1.0 200 Connected to rpcx\\n\\n`` (LF only) and both sides hand the socket to the rpcx
protocol with whatever bytes followed the head. Like Go's ``ServeHTTP``, another method on
``/_rpcx_`` gets ``405`` with the body ``405 must CONNECT\\n`` and another path ``404``; a Go client
accepts only the status text ``200 Connected to rpcx``, and so does :func:`dial`. TLS wraps the tcp
socket first when configured (Go's ``http`` listener is ``tls.Listen`` then, and its client
``tls.Dial``), so ``TLS = True``.

>>> CONNECTED
b'HTTP/1.0 200 Connected to rpcx\\n\\n'
"""

from __future__ import annotations

import asyncio
import logging
import ssl as _ssl
from typing import Any

from ._http1 import Head, HeadReader, HandshakeListener, dial_with_handshake, hand_over, listen_with_handshake, refuse
from .base import Address, ProtocolFactory

__all__ = ["TLS", "RPC_PATH", "CONNECTED", "listen", "dial"]

log = logging.getLogger("rpcx.transport")

TLS = True
#: Go's ``share.DefaultRPCPath``
RPC_PATH = "/_rpcx_"
CONNECTED = b"HTTP/1.0 200 Connected to rpcx\n\n"
_STATUS = "200 Connected to rpcx"


async def listen(
    addr: Address, protocol_factory: ProtocolFactory, *, ssl: _ssl.SSLContext | None = None,
    backlog: int = 1024, path: str = RPC_PATH, handshake_timeout: float = 10.0,
) -> HandshakeListener:
    def on_head(t: Any, head: Head, rest: bytes) -> None:
        method, target, _ = head.start
        if target.partition("?")[0] != path:
            refuse(t, "http", f"{method} {target[:80]}", "404 Not Found", "404 page not found\n")
        elif method != "CONNECT":
            refuse(t, "http", f"{method} {target[:80]}", "405 Method Not Allowed", "405 must CONNECT\n")
        else:
            t.write(CONNECTED)
            hand_over(t, protocol_factory(), rest)

    def on_fail(t: Any, reason: str, status: str | None) -> None:
        if status is None:
            log.info("http: %s from %s", reason, t.get_extra_info("peername"))
            t.abort()
        else:
            refuse(t, "http", reason, status)

    return await listen_with_handshake(
        addr.network, addr.address,
        lambda pending: HeadReader(on_head, on_fail, timeout=handshake_timeout, pending=pending),
        ssl=ssl, backlog=backlog,
    )


async def dial(
    addr: Address, protocol_factory: ProtocolFactory, *, ssl: _ssl.SSLContext | None = None,
    timeout: float | None = None, server_hostname: str | None = None, path: str = RPC_PATH,
) -> tuple[asyncio.Transport, asyncio.Protocol]:
    def check(head: Head) -> str | None:
        status = f"{head.start[1]} {head.start[2]}"
        # Go's client compares resp.Status the same way
        return None if status == _STATUS else f"unexpected HTTP response: {status}"

    t, rest = await dial_with_handshake(addr, f"CONNECT {path} HTTP/1.0\n\n".encode(), check, timeout=timeout,
                                        ssl=ssl, server_hostname=server_hostname)
    protocol = protocol_factory()
    hand_over(t, protocol, rest)
    return t, protocol
