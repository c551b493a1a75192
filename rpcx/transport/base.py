"""One interface for every rpcx network: ``listen`` and ``dial`` speaking asyncio Protocols (layer: transport).

Every network name that may appear in an rpcx key (``tcp@127.0.0.1:8972``, ``unix@/tmp/a.sock``,
later ``quic@``, ``kcp@``, ``http@``, ``ws@``, ``reuseport@``) maps to one module with two
coroutines::

    async def listen(address: str, protocol_factory, *, ssl=None, **options) -> Listener
    async def dial(address: str, protocol_factory, *, ssl=None, timeout=None, **options)
        -> tuple[asyncio.BaseTransport, asyncio.Protocol]

Both speak asyncio's Protocol/Transport interface (``data_received``, ``write``, ``pause_reading``,
``close``), which the server and client cores already drive. A transport that is not a socket
(QUIC streams, KCP sessions) supplies its own Transport object with those methods. Modules are
imported only when their network is first used, so an extra is needed only by those who use it.
"""

from __future__ import annotations

import asyncio
import importlib
from dataclasses import dataclass
from typing import Any, Callable, Protocol

from ..errors import RpcxError

__all__ = ["Address", "Listener", "parse_address", "transport_for", "listen", "dial", "TRANSPORTS"]

ProtocolFactory = Callable[[], asyncio.Protocol]

#: network name -> module implementing it (and the pip extra it needs, if any)
TRANSPORTS: dict[str, tuple[str, str | None]] = {
    "tcp": ("rpcx.transport.tcp", None),
    "tcp4": ("rpcx.transport.tcp", None),
    "tcp6": ("rpcx.transport.tcp", None),
    "unix": ("rpcx.transport.unix", None),
}


@dataclass(frozen=True)
class Address:
    """A parsed rpcx server key.

    >>> parse_address("tcp@127.0.0.1:8972")
    Address(network='tcp', address='127.0.0.1:8972')
    >>> parse_address("127.0.0.1:8972").network
    'tcp'
    >>> str(parse_address("unix@/tmp/a.sock"))
    'unix@/tmp/a.sock'
    """

    network: str
    address: str

    def __str__(self) -> str:
        return f"{self.network}@{self.address}"


def parse_address(key: str) -> Address:
    """Split ``network@address``; a key without ``@`` is tcp, as in Go."""
    network, sep, address = key.partition("@")
    if not sep:
        return Address("tcp", key)
    if not network or not address:
        raise ValueError(f"bad server address {key!r}: expected network@address")
    return Address(network, address)


class Listener(Protocol):
    """What ``listen`` returns."""

    #: the bound address as an rpcx key (``tcp@127.0.0.1:40123`` when port 0 was asked for)
    address: str

    def close(self) -> None: ...

    async def wait_closed(self) -> None: ...


def transport_for(network: str) -> Any:
    """The module implementing ``network``; a clear error names an unknown network or missing extra."""
    try:
        module, extra = TRANSPORTS[network]
    except KeyError:
        raise RpcxError(f"{network} unsupported: known networks are {', '.join(sorted(TRANSPORTS))}") from None
    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RpcxError(f"the {network} transport needs: pip install 'rpcx-python[{extra}]' ({exc})") from exc


async def listen(key: str | Address, protocol_factory: ProtocolFactory, **options: Any) -> Listener:
    addr = key if isinstance(key, Address) else parse_address(key)
    return await transport_for(addr.network).listen(addr, protocol_factory, **options)


async def dial(
    key: str | Address, protocol_factory: ProtocolFactory, **options: Any
) -> tuple[asyncio.BaseTransport, asyncio.Protocol]:
    addr = key if isinstance(key, Address) else parse_address(key)
    return await transport_for(addr.network).dial(addr, protocol_factory, **options)
