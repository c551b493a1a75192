"""Service registries, by URL scheme (layer: registry; see :mod:`rpcx.registry.base`).

DNS and mDNS discovery are not key-value stores and have their own classes:
:class:`rpcx.registry.dns.DNSDiscovery`, :mod:`rpcx.registry.mdns`; :func:`registry_plugin` and
:func:`registry_discovery` take their URLs too (``mdns://127.0.0.1``, ``dns://NS:PORT/NAME``,
see :mod:`rpcx.registry.urls`), DNS for discovery only.

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
from .metrics import CallMeter
from .urls import dns_options, mdns_options

__all__ = [
    "BACKENDS",
    "Backend",
    "CallMeter",
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


def _import_extra(scheme: str, module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise RegistryError(f"the {scheme} registry needs: pip install 'rpcx-python[{scheme}]' ({exc})") from exc


def registry_plugin(
    url: str,
    *,
    base_path: str = "/rpcx",
    update_interval: float = 10.0,
    ttl: float | None = None,
    metrics: CallMeter | None = None,
    **options: Any,
) -> Any:
    """A server plugin publishing to the registry at ``url``: a :class:`RegistryPlugin`, or for
    ``mdns://`` an :class:`rpcx.registry.mdns.MDNSRegisterPlugin` (same ``start``/``aclose``;
    ``base_path`` does not apply, its ``ttl`` is the URL's; ``update_interval`` is how often it
    publishes the ``metrics`` again).
    ``metrics``: a :class:`~rpcx.registry.metrics.CallMeter`, Go's ``Metrics``. ``dns://`` is
    refused: a DNS name is published by whoever runs the zone.

    >>> registry_plugin("dns://127.0.0.1/svc.example")
    Traceback (most recent call last):
    ...
    rpcx.registry.base.RegistryError: dns:// is read-only to rpcx: add the server's address to the name's A records instead
    """
    scheme = urlsplit(url).scheme
    if scheme == "dns":
        raise RegistryError("dns:// is read-only to rpcx: add the server's address to the name's A records instead")
    if scheme == "mdns":
        interfaces, opts = mdns_options(url)
        mdns = _import_extra("mdns", "rpcx.registry.mdns")
        zeroconf = _import_extra("mdns", "zeroconf")
        return mdns.MDNSRegisterPlugin(
            interfaces=interfaces or zeroconf.InterfaceChoice.All,
            ttl=opts.get("ttl", 120),
            metrics=metrics,
            update_interval=update_interval,
            **options,
        )
    return RegistryPlugin(
        backend_for(url, **options), base_path=base_path, update_interval=update_interval, ttl=ttl, metrics=metrics
    )


async def registry_discovery(
    url: str,
    service_path: str,
    *,
    base_path: str = "/rpcx",
    cache: str | os.PathLike[str] | None = None,
    retry_interval: float = 1.0,
    **options: Any,
) -> Any:
    """A connected discovery of ``service_path`` (see :class:`RegistryDiscovery`), or for
    ``mdns://`` and ``dns://`` URLs an :class:`~rpcx.registry.mdns.MDNSDiscovery` (one browse
    done; it may list nothing yet) or :class:`~rpcx.registry.dns.DNSDiscovery` (the name
    resolved), which have no base path and no disk cache."""
    scheme = urlsplit(url).scheme
    if scheme in ("mdns", "dns"):
        if cache is not None:
            raise ValueError(f"{scheme}:// discovery keeps no disk cache")
        if scheme == "mdns":
            interfaces, opts = mdns_options(url)
            mdns = _import_extra("mdns", "rpcx.registry.mdns")
            zeroconf = _import_extra("mdns", "zeroconf")
            return await mdns.MDNSDiscovery.open(  # type: ignore[no-any-return]
                service_path,
                interfaces=interfaces or zeroconf.InterfaceChoice.All,
                timeout=opts.get("timeout", 1.0),
                watch_interval=opts.get("interval", 10.0),
            )
        dns = _import_extra("dns", "rpcx.registry.dns")
        dopts = dns_options(url)
        return await dns.DNSDiscovery.open(dopts.pop("domain"), **dopts, **options)  # type: ignore[no-any-return]
    return await RegistryDiscovery.open(
        backend_for(url, **options), service_path, base_path=base_path, cache=cache, retry_interval=retry_interval
    )
