"""rpcx clients: one connection (:class:`Client`), a service over many servers (:class:`XClient`),
and blocking facades for code that is not async."""

from .blocking import BlockingClient, BlockingXClient
from .client import Client
from .discovery import KVPair, MultipleServersDiscovery, Peer2PeerDiscovery, ServiceDiscovery
from .options import FailMode, Heartbeat, Option, SelectMode
from .selector import RandomSelector, RoundRobinSelector, Selector
from .xclient import XClient

__all__ = [
    "BlockingClient",
    "BlockingXClient",
    "Client",
    "FailMode",
    "Heartbeat",
    "KVPair",
    "MultipleServersDiscovery",
    "Option",
    "Peer2PeerDiscovery",
    "RandomSelector",
    "RoundRobinSelector",
    "SelectMode",
    "Selector",
    "ServiceDiscovery",
    "XClient",
]
