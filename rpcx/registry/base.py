"""One registry interface for every backend (layer: registry, above client and server).

Go rpcx's registries share one layout: ``basePath/Service/network@host:port`` holds the server's
metadata (a URL query string). A backend here is only a small async key-value adapter
(:class:`Backend`: put with a TTL, delete, list a directory's children, watch a directory); the
liveness rules, refreshing, the disk cache and the watch loop are written once, in this module:

* :class:`RegistryPlugin` is a server plugin with lifecycle hooks only (``register``,
  ``register_function``, ``unregister``), so the server keeps its fast path. It publishes each
  service at the address clients should dial, re-puts it every ``update_interval`` (the entry lives
  ``ttl`` seconds, 2 x the interval as Go), rewrites it when the metadata changes and deletes it on
  graceful shutdown. With ``metrics=CallMeter(server)`` it also publishes Go's ``calls`` and
  ``connections`` rates in the metadata (:mod:`rpcx.registry.metrics`).
* :class:`RegistryDiscovery` implements :class:`rpcx.client.discovery.ServiceDiscovery`: the
  current list, and a watch yielding the whole list on every change. It keeps the last list in a
  JSON file so clients keep calling through a registry outage; with neither registry nor cache it
  refuses to start (:class:`RegistryUnavailableError`). Group and ``state=inactive`` filtering is
  XClient's.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, AsyncIterator
from urllib.parse import urlsplit

from ..client.discovery import KVPair
from ..errors import RpcxError
from .metrics import CallMeter, merge_metrics

__all__ = [
    "Backend",
    "RegistryPlugin",
    "RegistryDiscovery",
    "RegistryError",
    "RegistryUnavailableError",
    "join_key",
]

log = logging.getLogger("rpcx.registry")

#: what a backend raises when the registry cannot be reached or drops the connection
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (OSError, ConnectionError, TimeoutError, asyncio.TimeoutError)


class RegistryError(RpcxError):
    """A registry refused or failed an operation."""


class RegistryUnavailableError(RegistryError):
    """The registry cannot be reached (and, for a discovery starting up, no cached list exists)."""


def join_key(*parts: str) -> str:
    """``basePath/Service/network@addr`` exactly as Go's ``fmt.Sprintf("%s/%s/%s")`` builds it.

    >>> join_key("/rpcx_test", "Arith", "tcp@127.0.0.1:8972")
    '/rpcx_test/Arith/tcp@127.0.0.1:8972'
    """
    return "/".join(p.rstrip("/") if i == 0 else p for i, p in enumerate(parts))


class Backend(ABC):
    """The key-value operations a registry needs; one subclass per backend.

    Keys are Go's (``/base/Service/tcp@h:p``); each backend maps them to its own store as Go's
    libkv does. Every method may raise :class:`RegistryUnavailableError` (or an ``OSError``) when
    the registry is down; callers retry.
    """

    #: the URL scheme (``redis``, ``etcd``, ``zookeeper``)
    scheme = ""

    def __init__(self, url: str, *, connect_timeout: float = 5.0) -> None:
        parts = urlsplit(url)
        if parts.scheme != self.scheme or not parts.netloc:
            raise ValueError(f"{url!r} is not a {self.scheme}:// registry URL (e.g. {self.scheme}://127.0.0.1:PORT)")
        self.url = url
        #: ``host:port`` pairs, comma-separated in the URL for a cluster
        self.endpoints = parts.netloc.split(",")
        self.connect_timeout = connect_timeout
        #: how long a publisher's entries outlive it (set by RegistryPlugin: a lease's TTL for
        #: etcd, the session timeout for ZooKeeper, the key expiry for Redis)
        self.ttl: float = 20.0
        self._refs = 1

    @abstractmethod
    async def connect(self) -> None:
        """Reach the registry, or raise :class:`RegistryUnavailableError`."""

    @abstractmethod
    async def put(self, key: str, value: str, ttl: float | None) -> None:
        """Create or overwrite ``key``; with a ``ttl`` it disappears unless refreshed in time."""

    async def refresh(self, ttl: float) -> None:
        """Keep this client's entries alive (a lease or session); called every update interval,
        before the entries are put again. Key-expiry backends need nothing here."""

    @abstractmethod
    async def delete(self, key: str) -> None:
        """Remove ``key`` (no error when it is already gone)."""

    @abstractmethod
    async def list(self, directory: str) -> list[KVPair]:
        """The direct children of ``directory``: ``KVPair(child name, value)``, sorted by name."""

    @abstractmethod
    def watch(self, directory: str) -> AsyncIterator[None]:
        """Yield once as soon as the watch is in place, then once per change under ``directory``
        (the caller lists again); raise when the connection is lost."""

    @abstractmethod
    async def close(self) -> None:
        """Release the connection."""


#: errors after which a discovery falls back to its cache or retries
RETRYABLE: tuple[type[BaseException], ...] = (RegistryUnavailableError, *CONNECTION_ERRORS)


# -- server side -----------------------------------------------------------------------------------
class RegistryPlugin:
    """Publishes a server's services to a registry (Go's ``XxxRegisterPlugin``).

    Add it to the server before registering services, then ``await plugin.start(address)`` with the
    address clients should dial once the server listens; ``await plugin.aclose()`` after
    ``server.shutdown()`` (shutdown's ``unregister`` hooks queue the deletes; ``aclose`` waits for
    them and closes the connection).

    >>> from rpcx.registry import registry_plugin
    >>> plugin = registry_plugin("redis://127.0.0.1:6379", base_path="/rpcx_test")   # doctest: +SKIP
    >>> server.add_plugin(plugin); server.register(Arith(), "weight=2")               # doctest: +SKIP
    >>> await plugin.start(await server.start("tcp@127.0.0.1:8972"))                  # doctest: +SKIP
    """

    def __init__(
        self,
        backend: Backend,
        *,
        base_path: str = "/rpcx",
        update_interval: float = 10.0,
        ttl: float | None = None,
        metrics: "CallMeter | None" = None,
    ) -> None:
        if update_interval <= 0:
            raise ValueError("update_interval must be positive")
        self.backend = backend
        #: Go's ``Metrics``: when set, ``calls`` and ``connections`` rates are merged into every
        #: entry each time it is put (at least every ``update_interval``), see rpcx.registry.metrics
        self.metrics = metrics
        self.base_path = base_path.rstrip("/") or "/"
        self.update_interval = update_interval
        #: how long an entry outlives its server (Go: 2 x UpdateInterval)
        self.ttl = ttl if ttl is not None else 2 * update_interval
        backend.ttl = self.ttl
        self.service_address: str | None = None
        #: service name -> metadata, as registered
        self.services: dict[str, str] = {}
        self._queue: asyncio.Queue[tuple[str, str]] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._refresh_queued = False
        self._closed = False

    # lifecycle hooks (plain functions: the server calls them synchronously)
    def register(self, name: str, obj: Any, metadata: str = "") -> None:
        if name in self.services and self.services[name] == metadata:
            return  # nothing new to publish
        self.services[name] = metadata
        self._enqueue("put", name)

    def register_function(self, service_path: str, fname: str, fn: Any, metadata: str = "") -> None:
        if service_path not in self.services:
            self.services[service_path] = metadata
            self._enqueue("put", service_path)

    def unregister(self, name: str) -> None:
        if self.services.pop(name, None) is not None:
            self._enqueue("delete", name)

    def set_metadata(self, name: str, metadata: str) -> None:
        """Rewrite a registered service's metadata in the registry (e.g. ``state=inactive``)."""
        if name not in self.services:
            raise KeyError(f"service {name!r} is not registered")
        self.register(name, None, metadata)

    def _enqueue(self, op: str, name: str) -> None:
        if self._queue is not None:  # before start(), start() publishes everything registered
            self._queue.put_nowait((op, name))

    def _key(self, name: str) -> str:
        assert self.service_address is not None
        return join_key(self.base_path, name, self.service_address)

    async def start(self, service_address: str) -> None:
        """Connect, publish every service registered so far at ``service_address`` (the key
        clients dial, e.g. ``tcp@10.0.0.5:8972``) and keep the entries alive."""
        _, _, hostport = service_address.partition("@")
        host = hostport.rpartition(":")[0].strip("[]")
        if not hostport or host in ("", "0.0.0.0", "::"):
            raise ValueError(
                f"{service_address!r} is not an address clients can dial: pass the server's reachable "
                "address, e.g. tcp@10.0.0.5:8972"
            )
        self.service_address = service_address
        await self.backend.connect()
        await self._publish_all()
        self._queue = asyncio.Queue()
        self._tasks = [asyncio.ensure_future(self._worker()), asyncio.ensure_future(self._refresher())]

    async def _publish_all(self) -> None:
        await self.backend.put(self.base_path, "rpcx_path", None)
        for name, metadata in list(self.services.items()):
            await self._put(name, metadata)

    async def _put(self, name: str, metadata: str) -> None:
        if self.metrics is not None:
            metadata = merge_metrics(metadata, self.metrics.rates())
        await self.backend.put(join_key(self.base_path, name), name, None)
        await self.backend.put(self._key(name), metadata, self.ttl)

    async def _worker(self) -> None:
        # every write goes through this one task, in order: a refresh never re-puts a service
        # whose delete was queued before it
        assert self._queue is not None
        while True:
            op, name = await self._queue.get()
            try:
                if op == "put" and name in self.services:
                    await self._put(name, self.services[name])
                elif op == "delete":
                    await self.backend.delete(self._key(name))
                elif op == "refresh":
                    self._refresh_queued = False
                    await self.backend.refresh(self.ttl)
                    await self._publish_all()
            except Exception as exc:  # noqa: BLE001 - the registry may be down; the next refresh retries
                log.warning("registry %s: %s %s failed: %s", self.backend.url, op, name, exc)
            finally:
                self._queue.task_done()

    async def _refresher(self) -> None:
        while True:
            await asyncio.sleep(self.update_interval)
            if not self._refresh_queued:  # a registry slower than the interval: no pile of refreshes
                self._refresh_queued = True
                self._enqueue("refresh", "")

    async def aclose(self) -> None:
        """Finish queued writes (the deletes of a graceful shutdown), delete what is still
        published, stop refreshing and close the connection."""
        if self._closed:
            return
        self._closed = True
        refresher = self._tasks[1] if self._tasks else None
        if refresher is not None:
            refresher.cancel()
        if self._queue is not None:
            for name in list(self.services):
                self.unregister(name)
            try:
                await asyncio.wait_for(self._queue.join(), self.backend.connect_timeout)
            except TimeoutError:
                log.warning("registry %s: entries not removed in time; they expire within %.0fs", self.backend.url, self.ttl)
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.backend.close()


# -- client side -----------------------------------------------------------------------------------
class DiscoveryCache:
    """The last known server list of each service, in one JSON file (Go's ``CacheDiscovery``).

    >>> import tempfile, os
    >>> c = DiscoveryCache(os.path.join(tempfile.mkdtemp(), "d.json"))
    >>> c.save("redis://h:1/rpcx/Arith", [KVPair("tcp@127.0.0.1:1", "weight=2")])
    >>> c.load("redis://h:1/rpcx/Arith")
    [KVPair(key='tcp@127.0.0.1:1', value='weight=2')]
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("discovery cache %s unreadable: %s", self.path, exc)
            return {}
        return data if isinstance(data, dict) else {}

    def load(self, name: str) -> list[KVPair] | None:
        entry = self._read().get(name)
        if not isinstance(entry, list):
            return None
        return [KVPair(str(e["key"]), str(e.get("value", ""))) for e in entry if isinstance(e, dict) and "key" in e]

    def save(self, name: str, pairs: list[KVPair]) -> None:
        data = self._read()
        data[name] = [{"key": p.key, "value": p.value} for p in pairs]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
        os.replace(tmp, self.path)  # readers never see half a file


class RegistryDiscovery:
    """The servers of one service, as a registry lists them (Go's ``NewXxxDiscovery``).

    Made with ``await RegistryDiscovery.open(...)`` (or :func:`rpcx.registry.registry_discovery`),
    which fetches the list, falls back to ``cache`` when the registry is down, and raises
    :class:`RegistryUnavailableError` when it has neither.

    >>> from rpcx.registry import registry_discovery
    >>> d = await registry_discovery("redis://127.0.0.1:6379", "Arith", base_path="/rpcx_test")  # doctest: +SKIP
    >>> xclient = XClient("Arith", discovery=d)                                                   # doctest: +SKIP
    """

    def __init__(
        self,
        backend: Backend,
        service_path: str,
        *,
        base_path: str = "/rpcx",
        cache: DiscoveryCache | None = None,
        retry_interval: float = 1.0,
        pairs: list[KVPair] | None = None,
    ) -> None:
        self.backend = backend
        self.service_path = service_path
        self.base_path = base_path.rstrip("/") or "/"
        self.directory = join_key(self.base_path, service_path)
        self.cache = cache
        self.retry_interval = retry_interval
        self._pairs: list[KVPair] = list(pairs or [])
        self._closed = False

    @classmethod
    async def open(
        cls,
        backend: Backend,
        service_path: str,
        *,
        base_path: str = "/rpcx",
        cache: str | os.PathLike[str] | None = None,
        retry_interval: float = 1.0,
    ) -> "RegistryDiscovery":
        """Connect and fetch the list (or the cached one when the registry cannot be reached)."""
        d = cls(
            backend,
            service_path,
            base_path=base_path,
            cache=DiscoveryCache(cache) if cache is not None else None,
            retry_interval=retry_interval,
        )
        try:
            await backend.connect()
            d._set(await backend.list(d.directory))
        except RETRYABLE as exc:
            cached = d.cache.load(d._cache_name) if d.cache is not None else None
            if cached is None:
                await backend.close()
                where = f"no cached list in {d.cache.path}" if d.cache is not None else "no cache configured"
                raise RegistryUnavailableError(
                    f"cannot reach the registry {backend.url} ({exc}) and {where}: start the registry or check the URL"
                ) from exc
            log.warning("registry %s unreachable (%s); serving %d cached server(s)", backend.url, exc, len(cached))
            d._pairs = cached
        return d

    @property
    def _cache_name(self) -> str:
        return f"{self.backend.url}{self.directory}"

    def _set(self, pairs: list[KVPair]) -> bool:
        if pairs == self._pairs:
            return False
        self._pairs = list(pairs)
        if self.cache is not None:
            try:
                self.cache.save(self._cache_name, self._pairs)
            except OSError as exc:
                log.warning("discovery cache %s not written: %s", self.cache.path, exc)
        return True

    def get_services(self) -> list[KVPair]:
        """The servers known now (the cached list while the registry is unreachable)."""
        return list(self._pairs)

    async def refresh(self) -> list[KVPair]:
        """List the servers now (a clone starts with its cached list, or none, until this or its watch)."""
        self._set(await self.backend.list(self.directory))
        return self.get_services()

    def watch(self) -> AsyncIterator[list[KVPair]]:
        """The whole list on every change. Through a registry outage it yields nothing (the last
        list stays in force) and reconnects every ``retry_interval`` seconds."""
        # what this watcher has seen: the list now; several watchers of one discovery each get
        # every change after their watch() call
        return self._watch(self.get_services())

    async def _watch(self, seen: list[KVPair]) -> AsyncIterator[list[KVPair]]:
        while not self._closed:
            try:
                await self.backend.connect()  # a discovery started from its cache has never connected
                async for _ in self.backend.watch(self.directory):
                    pairs = await self.backend.list(self.directory)
                    self._set(pairs)
                    if pairs != seen:
                        seen = pairs
                        yield list(pairs)
            except RETRYABLE as exc:
                log.warning("registry %s: watch of %s lost (%s); retrying", self.backend.url, self.directory, exc)
            except Exception as exc:  # noqa: BLE001 - a client library's own error type; retried the same
                log.warning("registry %s: watch of %s failed (%r); retrying", self.backend.url, self.directory, exc)
            if not self._closed:
                await asyncio.sleep(self.retry_interval)

    def clone(self, service_path: str) -> "RegistryDiscovery":
        """A discovery of another service through the same registry connection; its list is the
        cached one (or empty) until :meth:`refresh` or its watch's first list."""
        cached = self.cache.load(f"{self.backend.url}{join_key(self.base_path, service_path)}") if self.cache else None
        self.backend._refs += 1
        return RegistryDiscovery(
            self.backend,
            service_path,
            base_path=self.base_path,
            cache=self.cache,
            retry_interval=self.retry_interval,
            pairs=cached,
        )

    async def aclose(self) -> None:
        """Stop watching; the registry connection closes with the last discovery sharing it."""
        if self._closed:
            return
        self._closed = True
        self.backend._refs -= 1
        if self.backend._refs <= 0:
            await self.backend.close()

