"""rpcx for Python: an RPC framework that speaks Go rpcx's wire protocol byte for byte.

>>> from rpcx import Server, XClient, FailMode, SelectMode, Peer2PeerDiscovery
"""

from typing import TYPE_CHECKING, Any

# Public names resolve lazily (PEP 562), so ``import rpcx.protocol`` stays standard-library only:
# the sans-IO core must not drag in asyncio, sockets or codecs.
_EXPORTS = {
    "BlockingClient": "client",
    "BlockingXClient": "client",
    "Client": "client",
    "FailMode": "client",
    "Heartbeat": "client",
    "KVPair": "client",
    "MultipleServersDiscovery": "client",
    "Option": "client",
    "Peer2PeerDiscovery": "client",
    "SelectMode": "client",
    "XClient": "client",
    "CallTimeoutError": "errors",
    "ClientClosedError": "errors",
    "CodecError": "errors",
    "ConnectionClosedError": "errors",
    "NoServerAvailableError": "errors",
    "ProtocolError": "errors",
    "RpcxConnectionError": "errors",
    "RpcxError": "errors",
    "ServiceError": "errors",
    "CompressType": "protocol",
    "Limits": "protocol",
    "Message": "protocol",
    "SerializeType": "protocol",
    "Context": "server",
    "Server": "server",
    "current_context": "server",
    "rpc_method": "server",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'rpcx' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_EXPORTS))


if TYPE_CHECKING:
    from .client import (
        BlockingClient,
        BlockingXClient,
        Client,
        FailMode,
        Heartbeat,
        KVPair,
        MultipleServersDiscovery,
        Option,
        Peer2PeerDiscovery,
        SelectMode,
        XClient,
    )
    from .errors import (
        CallTimeoutError,
        ClientClosedError,
        CodecError,
        ConnectionClosedError,
        NoServerAvailableError,
        ProtocolError,
        RpcxConnectionError,
        RpcxError,
        ServiceError,
    )
    from .protocol import CompressType, Limits, Message, SerializeType
    from .server import Context, Server, current_context, rpc_method

__version__ = "0.1.0"

__all__ = [
    "BlockingClient",
    "BlockingXClient",
    "CallTimeoutError",
    "Client",
    "ClientClosedError",
    "CodecError",
    "CompressType",
    "ConnectionClosedError",
    "Context",
    "FailMode",
    "Heartbeat",
    "KVPair",
    "Limits",
    "Message",
    "MultipleServersDiscovery",
    "NoServerAvailableError",
    "Option",
    "Peer2PeerDiscovery",
    "ProtocolError",
    "RpcxConnectionError",
    "RpcxError",
    "SelectMode",
    "SerializeType",
    "Server",
    "ServiceError",
    "XClient",
    "current_context",
    "rpc_method",
    "__version__",
]
