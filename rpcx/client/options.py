"""Client configuration, grouped by concern (layer: client)."""

from __future__ import annotations

import ssl as _ssl
from dataclasses import dataclass, field
from enum import IntEnum
from typing import TYPE_CHECKING, Any, Callable

from ..protocol.constants import DEFAULT_RPC_PATH, CompressType, SerializeType
from ..protocol.decoder import Limits

if TYPE_CHECKING:
    from .breaker import CircuitBreaker

__all__ = ["FailMode", "SelectMode", "Heartbeat", "Backoff", "Option"]


class FailMode(IntEnum):
    """What XClient does when a call fails (Go's numbers)."""

    FAILOVER = 0  #: retry on a server chosen afresh by the selector
    FAILFAST = 1  #: return the first error
    FAILTRY = 2  #: retry the same server
    FAILBACKUP = 3  #: send a second request if the first is slow; first answer wins


class SelectMode(IntEnum):
    """How XClient picks a server (Go's numbers)."""

    RANDOM = 0
    ROUND_ROBIN = 1
    WEIGHTED_ROUND_ROBIN = 2
    WEIGHTED_ICMP = 3
    CONSISTENT_HASH = 4
    CLOSEST = 5
    SELECT_BY_USER = 1000


@dataclass(frozen=True)
class Heartbeat:
    """Send a heartbeat every ``interval`` seconds; close the connection if none is echoed in ``max_wait``."""

    interval: float = 10.0
    max_wait: float = 30.0


@dataclass(frozen=True)
class Backoff:
    """How long XClient holds a server out of selection after it refused a dial: ``initial`` seconds,
    doubling with each further refusal up to ``maximum``; a successful dial resets it.

    >>> Backoff()
    Backoff(initial=0.1, maximum=5.0)
    """

    initial: float = 0.1
    maximum: float = 5.0

    def __post_init__(self) -> None:
        if not 0 < self.initial <= self.maximum:
            raise ValueError(f"Backoff needs 0 < initial <= maximum, got {self.initial}, {self.maximum}")


@dataclass(frozen=True)
class Option:
    """XClient and Client options; defaults are Go's ``DefaultOption``.

    >>> Option().retries, Option().serialize_type, Option().connect_timeout
    (3, <SerializeType.MSGPACK: 3>, 1.0)
    """

    serialize_type: int = SerializeType.MSGPACK
    #: used only for payloads over 1024 bytes, as in Go
    compress_type: int = CompressType.NONE
    retries: int = 3
    retry_interval: float = 0.0
    connect_timeout: float = 1.0
    #: Failbackup's delay before the second request
    backup_latency: float = 0.010
    #: ``None`` disables heartbeats (Go's default)
    heartbeat: Heartbeat | None = None
    #: an SSLContext for tcp/unix; ``server_hostname`` overrides the name checked in the certificate
    tls: _ssl.SSLContext | None = None
    server_hostname: str | None = None
    #: the kcp network's block crypt (Go's ``Option.Block``), e.g.
    #: ``rpcx.transport.kcp.block_from_password("rpcx-key")``; other networks ignore it, as Go
    kcp_block: Any = None
    #: only use servers whose metadata ``group`` includes this
    group: str = ""
    #: a timeout applied to calls that do not pass their own (None: wait forever, as Go)
    default_timeout: float | None = None
    #: close the connection when nothing has arrived from the server for this many seconds
    #: (Go's ``IdleTimeout``); None keeps it open
    idle_timeout: float | None = None
    #: inbound frame limits
    limits: Limits = field(default_factory=Limits)
    #: XClient: hold a server that refused a dial out of selection for this back-off (``None``: never;
    #: not in Go, whose selectors keep choosing a refusing server until discovery drops it)
    dial_backoff: Backoff | None = field(default_factory=Backoff)
    #: keep calling the last server that answered until it fails (Go's ``Sticky``)
    sticky: bool = False
    #: the client's coordinates for ``SelectMode.CLOSEST`` (Go's ``ConfigGeoSelector``)
    latitude: float | None = None
    longitude: float | None = None
    #: TCP keep-alive on each connection's TCP socket, probing after this many idle seconds (Go's
    #: ``TCPKeepAlivePeriod``); None: the OS default (off)
    tcp_keepalive_period: float | None = 60.0
    #: the HTTP path of the http (CONNECT) and ws/wss networks (Go's ``RPCPath``)
    rpc_path: str = DEFAULT_RPC_PATH
    #: ``SelectMode.WEIGHTED_ICMP``: measure every server's round trip (three rpcx heartbeats, Go's
    #: three pings) this often in seconds, besides whenever the server list changes (Go: only then);
    #: None: only then
    ping_interval: float | None = 30.0
    #: makes one circuit breaker per server (Go's ``GenBreaker``); None: no breaker (Go's default)
    breaker: "Callable[[], CircuitBreaker] | None" = None
