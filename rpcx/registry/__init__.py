"""Service registries, by URL scheme (layer: registry; see :mod:`rpcx.registry.base`).

DNS and mDNS discovery are not key-value stores and have their own classes:
:class:`rpcx.registry.dns.DNSDiscovery`, :mod:`rpcx.registry.mdns`.

Each backend is one module, imported only when its scheme is first used; its client library is a
pip extra, and a missing one is an error naming the ``pip install``.

>>> sorted(BACKENDS)
['consul', 'etcd', 'redis', 'zookeeper']
>>> backend_for("ftp://127.0.0.1:1")
Traceback (most recent call last):
...
rpcx.registry.base.RegistryError: unknown registry scheme 'ftp' in 'ftp://127.0.0.1:1': known are consul://, etcd://, redis://, zookeeper://
"""

from __future__ import annotations

import importlib
import os
from typing import Any
from urllib.parse import urlsplit

from .base import (
    Backend,
    DiscoveryCache,
    RegistryDiscovery,
    RegistryError,
    RegistryPlugin,
    RegistryUnavailableError,
    join_key,
)

__all__ = [
    "BACKENDS",
    "Backend",
    "DiscoveryCache",
    "RegistryDiscovery",
    "RegistryError",
    "RegistryPlugin",
    "RegistryUnavailableError",
    "backend_for",
    "join_key",
    "registry_discovery",
    "registry_plugin",
]

#: scheme -> (module, class, the pip extra its client library comes with)
BACKENDS: dict[str, tuple[str, str, str]] = {
    "redis": ("rpcx.registry.redis", "RedisBackend", "redis"),
    "etcd": ("rpcx.registry.etcd", "EtcdBackend", "etcd"),
    "zookeeper": ("rpcx.registry.zookeeper", "ZooKeeperBackend", "zookeeper"),
    # UNTESTED against a real Consul agent (none can be had here): see rpcx.registry.consul
    "consul": ("rpcx.registry.consul", "ConsulBackend", "consul"),
}


def backend_for(url: str, **options: Any) -> Backend:
    """A backend for ``url`` (``redis://h:p``, ``etcd://h:p``, ``zookeeper://h:p``, ``consul://h:p``), not yet connected."""
    scheme = urlsplit(url).scheme
    try:
        module_name, cls_name, extra = BACKENDS[scheme]
    except KeyError:
        known = ", ".join(f"{s}://" for s in sorted(BACKENDS))
        raise RegistryError(f"unknown registry scheme {scheme!r} in {url!r}: known are {known}") from None
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise RegistryError(f"the {scheme} registry needs: pip install 'rpcx-python[{extra}]' ({exc})") from exc
    backend: Backend = getattr(module, cls_name)(url, **options)
    return backend


def registry_plugin(
    url: str, *, base_path: str = "/rpcx", update_interval: float = 10.0, ttl: float | None = None, **options: Any
) -> RegistryPlugin:
    """A server plugin publishing to the registry at ``url`` (see :class:`RegistryPlugin`)."""
    return RegistryPlugin(backend_for(url, **options), base_path=base_path, update_interval=update_interval, ttl=ttl)


async def registry_discovery(
    url: str,
    service_path: str,
    *,
    base_path: str = "/rpcx",
    cache: str | os.PathLike[str] | None = None,
    retry_interval: float = 1.0,
    **options: Any,
) -> RegistryDiscovery:
    """A connected discovery of ``service_path`` (see :class:`RegistryDiscovery`)."""
    return await RegistryDiscovery.open(
        backend_for(url, **options), service_path, base_path=base_path, cache=cache, retry_interval=retry_interval
    )
