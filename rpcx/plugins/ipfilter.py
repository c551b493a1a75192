"""IP allow and deny lists with CIDR, checked when a connection is accepted (layer: server plugins;
Go's ``serverplugin`` whitelist and blacklist in one).

Rule: a peer in a ``deny`` network is refused; with an ``allow`` list, a peer outside every ``allow``
network is refused too. A peer without an IP address (a Unix socket, an in-memory transport) is
refused only when there is an ``allow`` list. Only ``post_conn_accept``: the fast path stays on.
"""

from __future__ import annotations

import ipaddress
import logging
from typing import Any, Iterable

__all__ = ["IPFilter"]

log = logging.getLogger("rpcx.server")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _networks(items: Iterable[str]) -> list[Network]:
    out = []
    for item in items:
        try:
            out.append(ipaddress.ip_network(item, strict=False))
        except ValueError as exc:
            raise ValueError(f"IPFilter: {item!r} is not an IP address or CIDR network: {exc}") from None
    return out


def peer_ip(peer: Any) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The IP address of a connection's ``peer`` (``(host, port, ...)`` for TCP), or None.

    >>> peer_ip(("127.0.0.1", 5000)), peer_ip("/tmp/sock")
    (IPv4Address('127.0.0.1'), None)
    """
    if isinstance(peer, tuple) and peer and isinstance(peer[0], str):
        try:
            ip = ipaddress.ip_address(peer[0].split("%", 1)[0])  # drop an IPv6 zone
        except ValueError:
            return None
        # an IPv4 peer on a dual-stack socket arrives as ::ffff:a.b.c.d
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        return ip
    return None


class IPFilter:
    """Refuse connections by the peer's IP address.

    >>> f = IPFilter(allow=["127.0.0.0/8", "::1"], deny=["127.0.0.2"])
    >>> f.permits(("127.0.0.1", 1)), f.permits(("127.0.0.2", 1)), f.permits(("10.0.0.1", 1))
    (True, False, False)
    """

    def __init__(self, allow: Iterable[str] = (), deny: Iterable[str] = ()) -> None:
        self.allow = _networks(allow)
        self.deny = _networks(deny)

    def permits(self, peer: Any) -> bool:
        """Whether a connection from ``peer`` is accepted."""
        ip = peer_ip(peer)
        if ip is None:
            return not self.allow
        if any(ip.version == n.version and ip in n for n in self.deny):
            return False
        return not self.allow or any(ip.version == n.version and ip in n for n in self.allow)

    def post_conn_accept(self, conn: Any) -> bool:
        ok = self.permits(conn.peer)
        if not ok:
            log.info("IPFilter: refused a connection from %s", conn.peer)
        return ok
