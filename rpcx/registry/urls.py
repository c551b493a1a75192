"""The ``dns://`` and ``mdns://`` registry URLs (layer: registry; standard library only).

They are not key-value stores (see :mod:`rpcx.registry.dns`, :mod:`rpcx.registry.mdns`), so their
URLs say different things than ``redis://host:port``:

* ``mdns://[IFACE,...][?ttl=120&timeout=1&interval=10]``: the host part lists the IPv4 addresses
  of the interfaces to multicast on (``mdns://127.0.0.1`` keeps it on loopback); empty means every
  interface (``zeroconf.InterfaceChoice.All``). ``ttl`` is the publisher's record TTL, ``timeout``
  and ``interval`` the discovery's browse time and watch interval (Go's ``NewMDNSDiscovery``).
* ``dns://[NAMESERVER[:PORT]]/NAME[?port=8972&network=tcp&interval=60]``: the servers are the A
  and AAAA records of ``NAME`` (Go's ``NewDNSDiscovery(NAME, network, port, interval)``), asked
  of ``NAMESERVER`` (an IP address; empty: the system's resolver configuration). Client side only:
  DNS is read-only to rpcx.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = ["mdns_options", "dns_options"]


def _query(url: str, allowed: dict[str, type]) -> dict[str, Any]:
    parts = urlsplit(url)
    out: dict[str, Any] = {}
    for name, values in parse_qs(parts.query, keep_blank_values=True, strict_parsing=False).items():
        if name not in allowed:
            raise ValueError(f"{url!r}: unknown option {name!r} (known: {', '.join(sorted(allowed))})")
        try:
            out[name] = allowed[name](values[-1])
        except ValueError:
            raise ValueError(f"{url!r}: option {name}={values[-1]!r} is not a {allowed[name].__name__}") from None
    return out


def mdns_options(url: str) -> tuple[list[str] | None, dict[str, Any]]:
    """``(interface addresses or None for all, options)`` of an ``mdns://`` URL.

    >>> mdns_options("mdns://127.0.0.1?timeout=0.3")
    (['127.0.0.1'], {'timeout': 0.3})
    >>> mdns_options("mdns://")
    (None, {})
    >>> mdns_options("mdns://eth0")
    Traceback (most recent call last):
    ...
    ValueError: 'mdns://eth0': 'eth0' is not an interface's IPv4 address (e.g. mdns://127.0.0.1, or mdns:// for all)
    """
    import ipaddress

    parts = urlsplit(url)
    if parts.scheme != "mdns" or parts.path not in ("", "/"):
        raise ValueError(f"{url!r} is not an mdns:// URL (mdns://[IFACE_IP,...][?ttl=&timeout=&interval=])")
    interfaces = [h for h in parts.netloc.split(",") if h] or None
    for host in interfaces or []:
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            raise ValueError(
                f"{url!r}: {host!r} is not an interface's IPv4 address (e.g. mdns://127.0.0.1, or mdns:// for all)"
            ) from None
    return interfaces, _query(url, {"ttl": int, "timeout": float, "interval": float})


def dns_options(url: str) -> dict[str, Any]:
    """The :class:`~rpcx.registry.dns.DNSDiscovery` arguments of a ``dns://`` URL.

    >>> dns_options("dns://127.0.0.1:5353/svc.test?port=8972&interval=0.5")
    {'domain': 'svc.test', 'nameservers': ['127.0.0.1'], 'nameserver_port': 5353, 'port': 8972, 'interval': 0.5}
    >>> dns_options("dns:///rpcx.example.com")
    {'domain': 'rpcx.example.com'}
    >>> dns_options("dns://127.0.0.1:53")
    Traceback (most recent call last):
    ...
    ValueError: 'dns://127.0.0.1:53' names no domain: dns://[NAMESERVER[:PORT]]/NAME[?port=8972&network=tcp&interval=60]
    """
    parts = urlsplit(url)
    domain = parts.path.strip("/")
    if parts.scheme != "dns" or not domain or "/" in domain:
        raise ValueError(f"{url!r} names no domain: dns://[NAMESERVER[:PORT]]/NAME[?port=8972&network=tcp&interval=60]")
    out: dict[str, Any] = {"domain": domain}
    if parts.hostname:
        out["nameservers"] = [parts.hostname]
        if parts.port is not None:  # urlsplit raises ValueError for a port that is not a number
            out["nameserver_port"] = parts.port
    out.update(_query(url, {"port": int, "network": str, "interval": float}))
    return out
