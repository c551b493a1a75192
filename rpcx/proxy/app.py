"""From a checked configuration to a running proxy, and hot reload (layer: proxy; what
``rpcx proxy -c`` runs).

:class:`ProxyApp` runs a proxy from a file and reloads it on demand (SIGHUP, or the file changing):
the new file is read and checked completely first; an invalid one changes nothing and the error,
naming where and what, is logged and returned. A valid one is swapped in at once
(:meth:`ProxyServer.reload`): clusters whose configuration did not change are kept with their
connections, calls in flight finish where they were sent, and no call fails because of the reload.
Listen addresses and TLS are read at start only (changing them needs a restart; a reload says so).

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

import asyncio
import functools
import logging
import os
import random
import ssl
from typing import Iterable

from ..client.breaker import CircuitBreaker
from ..client.discovery import MultipleServersDiscovery, ServiceDiscovery
from ..protocol.decoder import Limits
from ..transport.base import server_tls_context
from .accesslog import AccessLog
from .admin import AdminServer
from .calls import CallObserver
from .cluster import Cluster
from .config import ClusterConfig, ConfigError, ProxyConfig, load_config
from .server import ProxyServer

__all__ = ["build_proxy", "discovery_for", "ProxyApp"]

log = logging.getLogger("rpcx.proxy")


async def discovery_for(cfg: ClusterConfig) -> ServiceDiscovery:
    """Static servers, or a connected registry discovery (``redis://``, ``etcd://``, ...)."""
    if cfg.registry is None:
        return MultipleServersDiscovery(cfg.servers)
    from ..registry import registry_discovery

    assert cfg.service is not None
    return await registry_discovery(cfg.registry, cfg.service, base_path=cfg.base_path)


def _limits(cfg: ProxyConfig) -> Limits:
    return Limits() if cfg.max_message_length is None else Limits(max_message_length=cfg.max_message_length)


async def _clusters(cfg: ProxyConfig, keep: dict[str, tuple[ClusterConfig, Cluster]] | None = None) -> dict[str, Cluster]:
    """The clusters of ``cfg``; one whose configuration equals one in ``keep`` is that same object."""
    out: dict[str, Cluster] = {}
    for name, cc in cfg.clusters.items():
        old = (keep or {}).get(name)
        if old is not None and old[0] == cc and not old[1].retired:
            out[name] = old[1]
            continue
        breaker = None
        if cc.breaker is not None:
            breaker = functools.partial(CircuitBreaker, **dict(cc.breaker))  # type: ignore[arg-type]
        out[name] = Cluster(name, await discovery_for(cc), connections_per_server=cc.connections_per_server,
                            connect_timeout=cc.connect_timeout, heartbeat_interval=cc.heartbeat_interval,
                            limits=_limits(cfg), group=cc.group, retries=cc.retries, breaker=breaker,
                            tls=_client_tls(cc), server_hostname=cc.tls_server_name, outlier=cc.outlier)
    return out


def _client_tls(cc: ClusterConfig) -> ssl.SSLContext | None:
    """The TLS context for a cluster's upstream connections (None: plain text)."""
    if not cc.tls:
        return None
    ctx = ssl.create_default_context(cafile=cc.tls_ca)
    if cc.tls_insecure:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _observers(cfg: ProxyConfig, observers: Iterable[CallObserver], metrics: CallObserver | None = None) -> list[CallObserver]:
    obs = list(observers)
    if metrics is not None and metrics not in obs:
        obs.append(metrics)
    if cfg.access_log is not None:
        obs.append(AccessLog(cfg.access_log.filter, path=cfg.access_log.path,
                             include_metadata=cfg.access_log.include_metadata))
    return obs


async def build_proxy(cfg: ProxyConfig, *, rng: random.Random | None = None,
                      observers: Iterable[CallObserver] = ()) -> ProxyServer:
    """A :class:`ProxyServer` for ``cfg`` (not yet listening: call ``start`` for each of ``cfg.listen``).
    The access log of ``cfg`` is added to ``observers``, and with ``metrics`` in ``cfg`` a
    :class:`~rpcx.proxy.metrics.ProxyMetrics` (unless ``observers`` has one), kept as ``proxy.metrics``."""
    limits = _limits(cfg)
    clusters = await _clusters(cfg)
    observers = list(observers)
    metrics = None
    if cfg.metrics is not None:
        from .metrics import DEFAULT_BUCKETS, ProxyMetrics

        metrics = next((o for o in observers if isinstance(o, ProxyMetrics)), None)
        if metrics is None:
            metrics = ProxyMetrics(buckets=cfg.metrics.buckets or DEFAULT_BUCKETS)
    obs = _observers(cfg, observers, metrics)
    tls = server_tls_context(cfg.tls_cert, cfg.tls_key) if cfg.tls_cert else None
    proxy = ProxyServer(cfg.routes, clusters, rng=rng, observers=obs, limits=limits,
                        frame_timeout=cfg.frame_timeout, tls=tls, max_clients=cfg.max_clients,
                        tls_plaintext=cfg.tls_plaintext, http=cfg.http)
    if metrics is not None:
        proxy.metrics = metrics.attach(proxy)
    return proxy


class ProxyApp:
    """A proxy run from the configuration file at ``path``, with hot reload (see the module docstring).

    >>> async def main(path):                                           # doctest: +SKIP
    ...     app = ProxyApp(path)
    ...     print(await app.start())
    ...     error = await app.reload()        # None, or what is wrong and where (the old config stays)
    """

    def __init__(self, path: str, *, rng: random.Random | None = None, observers: Iterable[CallObserver] = ()) -> None:
        self.path = path
        self.rng = rng
        self.extra_observers = list(observers)
        self.config: ProxyConfig | None = None
        self.proxy: ProxyServer | None = None
        self.reloads = 0
        self._stamp: tuple[float, int] | None = None
        self._lock = asyncio.Lock()
        self.admin: AdminServer | None = None
        #: serves only /metrics, on ``metrics.listen``
        self.metrics_endpoint: AdminServer | None = None

    def _file_stamp(self) -> tuple[float, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_mtime, st.st_size)

    async def start(self) -> list[str]:
        """Read the file (a :class:`ConfigError` if it is invalid), start the proxy on every
        ``listen`` address and return the bound addresses."""
        self._stamp = self._file_stamp()
        cfg = self.config = load_config(self.path)
        self.proxy = await build_proxy(cfg, rng=self.rng, observers=self.extra_observers)
        try:
            bound = [await self.proxy.start(a) for a in cfg.listen]
            if cfg.admin is not None:
                self.admin = AdminServer(self)
                await self.admin.start(cfg.admin)
                log.info("admin endpoint on %s", self.admin.address)
            if cfg.metrics is not None and cfg.metrics.listen is not None:
                self.metrics_endpoint = AdminServer(self, only=("/metrics",))
                await self.metrics_endpoint.start(cfg.metrics.listen)
                log.info("metrics endpoint on %s", self.metrics_endpoint.address)
            return bound
        except BaseException:
            await self.aclose()
            raise

    async def reload(self) -> str | None:
        """Read the file again and swap it in; None when done, else why not (the old config stays)."""
        async with self._lock:
            assert self.proxy is not None and self.config is not None, "start() first"
            self._stamp = self._file_stamp()
            try:
                cfg = load_config(self.path)
            except ConfigError as exc:
                log.error("configuration not reloaded, the old one stays: %s", exc)
                return str(exc)
            old = self.config
            if ((cfg.listen, cfg.tls_cert, cfg.tls_key, cfg.tls_plaintext, cfg.admin, cfg.metrics, cfg.http)
                    != (old.listen, old.tls_cert, old.tls_key, old.tls_plaintext, old.admin, old.metrics, old.http)):
                log.warning("listen addresses, TLS, http, the admin address and the metrics settings change only "
                            "on a restart; the rest is reloaded")
            keep = {n: (old.clusters[n], c) for n, c in self.proxy.clusters.items() if n in old.clusters}
            try:
                clusters = await _clusters(cfg, keep)
            except Exception as exc:  # noqa: BLE001 - a CA file or registry that fails keeps the old config
                log.error("configuration not reloaded, the old one stays: %s", exc)
                return f"{self.path}: {exc}"
            new_observers = (_observers(cfg, self.extra_observers, self.proxy.metrics)
                             if cfg.access_log != old.access_log else None)
            self.proxy.frame_timeout = cfg.frame_timeout
            self.proxy.max_clients = cfg.max_clients
            await self.proxy.reload(cfg.routes, clusters, new_observers)
            self.config = cfg
            self.reloads += 1
            log.info("configuration reloaded from %s", self.path)
            return None

    async def watch_file(self, interval: float = 1.0) -> None:
        """Reload whenever the file's modification time or size changes (checked every ``interval``)."""
        while True:
            await asyncio.sleep(interval)
            stamp = self._file_stamp()
            if stamp is not None and stamp != self._stamp:
                await self.reload()

    async def aclose(self) -> None:
        """Close the proxy and its admin (and metrics) endpoint."""
        if self.admin is not None:
            await self.admin.aclose()
        if self.metrics_endpoint is not None:
            await self.metrics_endpoint.aclose()
        if self.proxy is not None:
            await self.proxy.aclose()
