"""DNS discovery, as Go's ``client.NewDNSDiscovery(domain, network, port, interval)`` (layer: registry).

Go's rule: the servers of a service are the A and AAAA records of one domain name, all serving on
one ``port``; each address becomes the key ``network@ip:port`` (sorted, no metadata) and the name
is resolved again every ``interval``. Client side only: a DNS name is published by whoever runs
the zone, not by the rpcx server.

Resolution goes through dnspython's async resolver (pip extra ``dns``): the system's resolver
configuration by default, or the ``nameservers`` given (which is how the tests point it at a
dnsmasq on loopback; the standard library's ``getaddrinfo`` cannot be pointed at a server).

Two deliberate differences from Go, both in Go's spirit: a failed lookup at start-up is an error
(:class:`RegistryUnavailableError`) instead of a silently empty list, and watchers are told only
when the list changes (Go pushes it after every lookup). A failed lookup later keeps the last list,
as Go does.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from typing import AsyncIterator, Sequence

import dns.asyncresolver
import dns.exception
import dns.resolver

from ..client.discovery import KVPair
from .base import RegistryUnavailableError

__all__ = ["DNSDiscovery", "make_pairs"]

log = logging.getLogger("rpcx.registry.dns")


def make_pairs(network: str, ips: Sequence[str], port: int) -> list[KVPair]:
    """Go's keys ``network@ip:port`` for the resolved addresses, sorted by key, duplicates dropped.

    Go writes an IPv6 address without brackets (``fmt.Sprintf("%s@%s:%d")``); so do we, since a
    Go client reading the same name would dial the same key.

    >>> make_pairs("tcp", ["127.0.0.2", "127.0.0.1", "127.0.0.2"], 8972)
    [KVPair(key='tcp@127.0.0.1:8972', value=''), KVPair(key='tcp@127.0.0.2:8972', value='')]
    """
    keys = {f"{network}@{ipaddress.ip_address(ip)}:{port}" for ip in ips}
    return [KVPair(k) for k in sorted(keys)]


class DNSDiscovery:
    """The servers behind one DNS name, re-resolved every ``interval`` seconds.

    Made with ``await DNSDiscovery.open(...)``, which resolves once and raises
    :class:`RegistryUnavailableError` when that fails.

    >>> d = await DNSDiscovery.open("svc.example", "tcp", 8972, interval=30)   # doctest: +SKIP
    >>> d.get_services()                                                        # doctest: +SKIP
    [KVPair(key='tcp@10.0.0.5:8972', value=''), KVPair(key='tcp@10.0.0.6:8972', value='')]
    >>> xclient = XClient("Arith", discovery=d)                                 # doctest: +SKIP
    """

    def __init__(
        self,
        domain: str,
        network: str = "tcp",
        port: int = 8972,
        interval: float = 60.0,
        *,
        nameservers: Sequence[str] | None = None,
        nameserver_port: int = 53,
        timeout: float = 5.0,
    ) -> None:
        if interval <= 0:
            raise ValueError("interval must be positive")
        if not 0 < port < 65536:
            raise ValueError(f"port {port} is not a TCP/UDP port")
        self.domain = domain
        self.network = network
        self.port = port
        self.interval = interval
        self.nameservers = list(nameservers) if nameservers else None
        self.nameserver_port = nameserver_port
        self.timeout = timeout
        resolver = dns.asyncresolver.Resolver(configure=self.nameservers is None)
        if self.nameservers is not None:
            resolver.nameservers = self.nameservers
            resolver.port = nameserver_port
        resolver.lifetime = timeout
        resolver.cache = None  # every interval asks the server again; a cache would hide changes
        self._resolver = resolver
        self._pairs: list[KVPair] = []
        self._closed = False

    @classmethod
    async def open(
        cls,
        domain: str,
        network: str = "tcp",
        port: int = 8972,
        interval: float = 60.0,
        *,
        nameservers: Sequence[str] | None = None,
        nameserver_port: int = 53,
        timeout: float = 5.0,
    ) -> "DNSDiscovery":
        """Resolve ``domain`` once; an unresolvable name is an error naming it."""
        d = cls(
            domain, network, port, interval, nameservers=nameservers, nameserver_port=nameserver_port, timeout=timeout
        )
        d._pairs = await d.lookup()
        return d

    async def lookup(self) -> list[KVPair]:
        """Resolve A and AAAA now and return the keys (does not change :meth:`get_services`).

        Raises :class:`RegistryUnavailableError` when the name has no address or no server answers.
        """
        ips: list[str] = []
        errors: list[str] = []
        for rdtype in ("A", "AAAA"):
            try:
                answer = await self._resolver.resolve(self.domain, rdtype, search=False)
            except dns.resolver.NoAnswer:
                continue  # a name with only A (or only AAAA) records
            except (dns.exception.DNSException, OSError) as exc:
                errors.append(f"{rdtype}: {exc}")
                continue
            ips.extend(r.to_text() for r in answer)
        if not ips:
            where = f" at {','.join(self.nameservers)}:{self.nameserver_port}" if self.nameservers else ""
            why = "; ".join(errors) or "no A or AAAA records"
            raise RegistryUnavailableError(f"cannot resolve {self.domain!r}{where}: {why}")
        return make_pairs(self.network, ips, self.port)

    def get_services(self) -> list[KVPair]:
        """The servers of the last successful lookup."""
        return list(self._pairs)

    async def refresh(self) -> list[KVPair]:
        """Resolve now and keep the result (a failure keeps the last list and is raised)."""
        self._pairs = await self.lookup()
        return self.get_services()

    def watch(self) -> AsyncIterator[list[KVPair]]:
        """The whole list each time a lookup (every ``interval``) finds it changed. A failed lookup
        yields nothing: the last list stays in force, as in Go."""
        return self._watch(self.get_services())

    async def _watch(self, seen: list[KVPair]) -> AsyncIterator[list[KVPair]]:
        while not self._closed:
            await asyncio.sleep(self.interval)
            try:
                pairs = await self.refresh()
            except RegistryUnavailableError as exc:
                log.warning("dns discovery: %s; keeping %d server(s)", exc, len(self._pairs))
                continue
            if pairs != seen:
                seen = pairs
                yield pairs

    def clone(self, service_path: str) -> "DNSDiscovery":
        """The same name and port for another service path (Go's ``Clone``: DNS knows no services).
        It starts with this discovery's list and resolves again on its own schedule."""
        d = DNSDiscovery(
            self.domain,
            self.network,
            self.port,
            self.interval,
            nameservers=self.nameservers,
            nameserver_port=self.nameserver_port,
            timeout=self.timeout,
        )
        d._pairs = self.get_services()
        return d

    async def aclose(self) -> None:
        """Stop the watches (each ends at its next wake-up; XClient also closes its own)."""
        self._closed = True
