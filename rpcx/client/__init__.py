"""rpcx clients: one connection (:class:`Client`), a service over many servers (:class:`XClient`),
and blocking facades for code that is not async."""

from .blocking import BlockingClient, BlockingXClient
from .client import Client
from .discovery import KVPair, MultipleServersDiscovery, Peer2PeerDiscovery, ServiceDiscovery
from .options import Backoff, FailMode, Heartbeat, Option, SelectMode
from .selector import Call, Outcome, RandomSelector, RoundRobinSelector, Selector
from .xclient import XClient

__all__ = [
    "Backoff",
    "BlockingClient",
    "BlockingXClient",
    "Call",
    "Client",
    "FailMode",
    "Heartbeat",
    "KVPair",
    "MultipleServersDiscovery",
    "Option",
    "Outcome",
    "Peer2PeerDiscovery",
    "RandomSelector",
    "RoundRobinSelector",
    "SelectMode",
    "Selector",
    "ServiceDiscovery",
    "XClient",
]
