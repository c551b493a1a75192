"""The reuseport network: tcp with SO_REUSEPORT, so several processes serve one port (layer: transport).

Rule: as Go's ``reuseport`` listener (kavu/go_reuseport). The kernel spreads new connections over
every socket bound to the port with SO_REUSEPORT, so N worker processes each ``listen`` on
``reuseport@host:port`` and share it. Go's listener ignores the server's TLS config, so
``TLS = False`` here: a Server with TLS serves reuseport in plain text and logs a warning once
(:func:`rpcx.transport.tls_for`). The listener's address is a ``tcp@`` key, because that is what a
Go server on reuseport registers and what clients dial (Go's client cannot dial ``reuseport@``; ours
dials it as tcp, for convenience). Like Go, an IPv6 host listens on tcp6 and anything else on tcp4.

>>> TLS
False
"""

from __future__ import annotations

import asyncio
import ssl as _ssl

from . import tcp
from .base import Address, ProtocolFactory, refuse_tls

__all__ = ["TLS", "listen", "dial"]

TLS = False


async def listen(
    addr: Address, protocol_factory: ProtocolFactory, *, ssl: _ssl.SSLContext | None = None, backlog: int = 1024,
) -> tcp.TcpListener:
    refuse_tls(addr, ssl)
    host, _ = tcp.split_host_port(addr.address)
    network = "tcp6" if ":" in host else "tcp4"
    listener = await tcp.listen(Address(network, addr.address), protocol_factory, backlog=backlog, reuse_port=True)
    listener.address = "tcp@" + listener.address.partition("@")[2]
    return listener


async def dial(
    addr: Address, protocol_factory: ProtocolFactory, *, ssl: _ssl.SSLContext | None = None,
    timeout: float | None = None, server_hostname: str | None = None,
) -> tuple[asyncio.Transport, asyncio.Protocol]:
    """Dial a reuseport server as tcp (plain text, as Go serves it)."""
    refuse_tls(addr, ssl)
    return await tcp.dial(Address("tcp", addr.address), protocol_factory, timeout=timeout)
