"""From a checked configuration to a running proxy (layer: proxy; what ``rpcx proxy -c`` runs).

>>> import asyncio
>>> from rpcx.proxy.config import parse_config
>>> cfg = parse_config({"listen": "tcp@127.0.0.1:0", "clusters": {"a": {"servers": ["tcp@127.0.0.1:1"]}},
...                     "default": {"cluster": "a"}})
>>> async def main():
...     proxy = await build_proxy(cfg)
...     [addr] = [await proxy.start(a) for a in cfg.listen]
...     await proxy.aclose()
...     return addr.startswith("tcp@127.0.0.1:")
>>> asyncio.run(main())
True
"""

from __future__ import annotations

import random
from typing import Iterable

from ..client.discovery import MultipleServersDiscovery, ServiceDiscovery
from ..protocol.decoder import Limits
from ..transport.base import server_tls_context
from .accesslog import AccessLog
from .calls import CallObserver
from .cluster import Cluster
from .config import ClusterConfig, ProxyConfig
from .server import ProxyServer

__all__ = ["build_proxy", "discovery_for"]


async def discovery_for(cfg: ClusterConfig) -> ServiceDiscovery:
    """Static servers, or a connected registry discovery (``redis://``, ``etcd://``, ...)."""
    if cfg.registry is None:
        return MultipleServersDiscovery(cfg.servers)
    from ..registry import registry_discovery

    assert cfg.service is not None
    return await registry_discovery(cfg.registry, cfg.service, base_path=cfg.base_path)


async def build_proxy(cfg: ProxyConfig, *, rng: random.Random | None = None,
                      observers: Iterable[CallObserver] = ()) -> ProxyServer:
    """A :class:`ProxyServer` for ``cfg`` (not yet listening: call ``start`` for each of ``cfg.listen``).
    The access log of ``cfg`` is added to ``observers``."""
    limits = Limits() if cfg.max_message_length is None else Limits(max_message_length=cfg.max_message_length)
    clusters = {}
    for name, cc in cfg.clusters.items():
        clusters[name] = Cluster(name, await discovery_for(cc), connections_per_server=cc.connections_per_server,
                                 connect_timeout=cc.connect_timeout, heartbeat_interval=cc.heartbeat_interval,
                                 limits=limits, group=cc.group)
    obs = list(observers)
    if cfg.access_log is not None:
        obs.append(AccessLog(cfg.access_log.filter, path=cfg.access_log.path,
                             include_metadata=cfg.access_log.include_metadata))
    tls = server_tls_context(cfg.tls_cert, cfg.tls_key) if cfg.tls_cert else None
    return ProxyServer(cfg.routes, clusters, rng=rng, observers=obs, limits=limits,
                       frame_timeout=cfg.frame_timeout, tls=tls)
