"""Service discovery: where the servers of a service are (layer: client).

Every discovery offers the current list of ``KVPair(key="network@addr", value=metadata)`` and a
way to watch it change; registries (ZooKeeper, etcd, Consul, Redis, mDNS) implement the same
interface in ``rpcx.registry``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import AsyncIterator, Iterable, Protocol

__all__ = ["KVPair", "ServiceDiscovery", "Peer2PeerDiscovery", "MultipleServersDiscovery"]


@dataclass(frozen=True)
class KVPair:
    """One server: its rpcx key and its metadata (a URL query string such as ``weight=2&group=a``)."""

    key: str
    value: str = ""


class ServiceDiscovery(Protocol):
    """Where the servers of one service are.

    ``watch()`` returns ``None`` when the list never changes, else a new async iterator of whole
    server lists; its owner closes it with ``aclose()`` (an async generator has one), which must
    release whatever the watch holds. XClient calls ``watch()`` on its first call, not before.
    """

    def get_services(self) -> list[KVPair]:
        """The servers known now, as ``KVPair(key='network@addr', value=metadata)``."""

    def watch(self) -> AsyncIterator[list[KVPair]] | None:
        """An async iterator of the whole list on every change, or None when it never changes."""

    def clone(self, service_path: str) -> "ServiceDiscovery":
        """A discovery of the same registry for another service path."""

    async def aclose(self) -> None:
        """Stop watching and release the registry connection."""


class Peer2PeerDiscovery:
    """One fixed server.

    >>> Peer2PeerDiscovery("tcp@127.0.0.1:8972").get_services()
    [KVPair(key='tcp@127.0.0.1:8972', value='')]
    """

    def __init__(self, server: str, metadata: str = "") -> None:
        self._pairs = [KVPair(server, metadata)]

    def get_services(self) -> list[KVPair]:
        """The one server."""
        return list(self._pairs)

    def watch(self) -> None:
        """None: a fixed server never changes (Go returns a nil channel)."""
        return None

    def clone(self, service_path: str) -> "Peer2PeerDiscovery":
        """The same discovery: one fixed server serves every service path."""
        return self

    async def aclose(self) -> None:
        """Nothing to release."""
        return None


class MultipleServersDiscovery:
    """A list of servers that the application may replace with :meth:`update`; watchers see each change.

    >>> d = MultipleServersDiscovery([KVPair("tcp@127.0.0.1:1"), KVPair("tcp@127.0.0.1:2")])
    >>> [p.key for p in d.get_services()]
    ['tcp@127.0.0.1:1', 'tcp@127.0.0.1:2']
    """

    def __init__(self, pairs: Iterable[KVPair]) -> None:
        self._pairs = list(pairs)
        self._watchers: list[asyncio.Queue[list[KVPair]]] = []

    def get_services(self) -> list[KVPair]:
        """The current list of servers."""
        return list(self._pairs)

    def update(self, pairs: Iterable[KVPair]) -> None:
        """Replace the list; every watcher receives the new one."""
        self._pairs = list(pairs)
        for q in self._watchers:
            q.put_nowait(list(self._pairs))

    def watch(self) -> "_Watch":
        """A new watcher: an async iterator of server lists, one per :meth:`update`. Close it with
        ``await it.aclose()``; until then every update is queued for it."""
        q: asyncio.Queue[list[KVPair]] = asyncio.Queue()
        self._watchers.append(q)
        return _Watch(self, q)

    @property
    def watchers(self) -> int:
        """Watchers not yet closed."""
        return len(self._watchers)

    def clone(self, service_path: str) -> "MultipleServersDiscovery":
        """A discovery with the same servers, for another service path (Go's ``Clone``)."""
        return MultipleServersDiscovery(self._pairs)

    async def aclose(self) -> None:
        """Nothing to release: the list lives in memory."""
        return None


class _Watch:
    """One watcher of a :class:`MultipleServersDiscovery`. Unlike an async generator, ``aclose()``
    unregisters it even if it was never iterated (a generator's ``finally`` would not run then)."""

    def __init__(self, owner: MultipleServersDiscovery, q: asyncio.Queue[list[KVPair]]) -> None:
        self._owner = owner
        self._q = q
        self._closed = False

    def __aiter__(self) -> "_Watch":
        return self

    async def __anext__(self) -> list[KVPair]:
        if self._closed:
            raise StopAsyncIteration
        pairs = await self._q.get()
        if self._closed:  # woken by aclose()
            raise StopAsyncIteration
        return pairs

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            self._owner._watchers.remove(self._q)
            self._q.put_nowait([])  # wake a reader waiting in __anext__
