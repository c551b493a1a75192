"""rpcx clients: one connection (:class:`Client`), a service over many servers (:class:`XClient`),
and blocking facades for code that is not async."""

from .blocking import BlockingClient, BlockingXClient
from .breaker import BreakerOpenError, BreakerState, CircuitBreaker
from .client import Client
from .consistent_hash import ConsistentHashSelector
from .discovery import KVPair, MultipleServersDiscovery, Peer2PeerDiscovery, ServiceDiscovery
from .options import Backoff, FailMode, Heartbeat, Option, SelectMode
from .geo import ClosestSelector
from .plugins import ClientPluginContainer
from .selector import Call, Outcome, RandomSelector, RoundRobinSelector, Selector, StickySelector
from .weighted import WeightedICMPSelector, WeightedRoundRobinSelector
from .oneclient import OneClient
from .pending import PendingCall, Receipt
from .pool import OneClientPool, XClientPool
from .xclient import XClient

__all__ = [
    "Backoff",
    "BlockingClient",
    "BlockingXClient",
    "BreakerOpenError",
    "BreakerState",
    "Call",
    "CircuitBreaker",
    "Client",
    "ClientPluginContainer",
    "ClosestSelector",
    "ConsistentHashSelector",
    "FailMode",
    "Heartbeat",
    "KVPair",
    "MultipleServersDiscovery",
    "OneClient",
    "OneClientPool",
    "Option",
    "Outcome",
    "Peer2PeerDiscovery",
    "PendingCall",
    "RandomSelector",
    "Receipt",
    "RoundRobinSelector",
    "SelectMode",
    "Selector",
    "ServiceDiscovery",
    "StickySelector",
    "WeightedICMPSelector",
    "WeightedRoundRobinSelector",
    "XClient",
    "XClientPool",
]
