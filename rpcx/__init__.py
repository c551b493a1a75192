"""rpcx for Python: an RPC framework that speaks Go rpcx's wire protocol byte for byte.

>>> from rpcx import Server, XClient, FailMode, SelectMode, Peer2PeerDiscovery
"""

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
