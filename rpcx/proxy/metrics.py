"""Prometheus metrics of the proxy, per route, service and method (layer: proxy observer; pip extra
``metrics``, ``prometheus_client``).

Rule, as in :mod:`rpcx.plugins.metrics`: nothing is added to the forwarding path but the call
observer's ``call_finished(record)`` (a dict look-up, a few additions and a ``bisect`` per call, on
the loop's thread, no lock); the ``prometheus_client`` families are built only when scraped, and
what is a state rather than a count (calls in flight, upstream connections, ejected servers) is read
from the proxy at that moment. Served on the admin endpoint at ``/metrics`` (and on
``metrics.listen`` if the config gives one).

Labels ``route`` (``(none)`` for a call no route took), ``service`` and ``method`` (as the client
sent them, before any rewrite):

- ``rpcx_proxy_calls_total``: finished calls (replied, answered by the proxy, oneway forwarded,
  or left unfinished by their client);
- ``rpcx_proxy_errors_total``: calls answered with an error (from upstream or from the proxy: no
  route, an abort fault, a rate limit, an upstream failure, a timeout);
- ``rpcx_proxy_unfinished_total``: calls whose client left before the reply;
- ``rpcx_proxy_call_duration_seconds``: histogram of the time the client saw (from the request's
  arrival at the proxy to the reply written back);
- ``rpcx_proxy_upstream_duration_seconds``: histogram of the time upstream took (from the request
  written upstream to its reply read; only calls that got a reply from upstream);
- ``rpcx_proxy_active_calls``: calls waiting for a reply now (a delay fault's too);
- ``rpcx_proxy_faults_total`` (and ``kind``: ``delay`` or ``abort``): faults injected;
- ``rpcx_proxy_retries_total``: calls sent to another server after a dial or connection error.

Per cluster and server: ``rpcx_proxy_upstream_connections`` (open or dialling shared connections),
``rpcx_proxy_outlier_ejected`` (1 while the server is ejected) and
``rpcx_proxy_outlier_ejections_total``. Whole proxy: ``rpcx_proxy_clients``,
``rpcx_proxy_clients_refused_total``, ``rpcx_proxy_pushes_dropped_total``.

A configuration reload keeps every count (Prometheus counters only grow while the process lives);
series of routes that a reload removed stay at their last values. The gauges follow the routes and
clusters in force.

>>> from prometheus_client import generate_latest
>>> from rpcx.proxy.calls import CallRecord
>>> m = ProxyMetrics()
>>> m.call_finished(CallRecord(client="c", service="Arith", method="Mul", route="r", cluster="a",
...                            upstream="tcp@127.0.0.1:1", status="ok", error=None, rpc_time=0.002, seq=1))
>>> m.registry.get_sample_value("rpcx_proxy_calls_total", {"route": "r", "service": "Arith", "method": "Mul"})
1.0
"""

from __future__ import annotations

import bisect
import time
from typing import TYPE_CHECKING, Any, Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from ..plugins.metrics import DEFAULT_BUCKETS
from .calls import CallRecord

if TYPE_CHECKING:
    from .server import ProxyServer

__all__ = ["ProxyMetrics", "NO_ROUTE"]

#: the route label of a call no route took
NO_ROUTE = "(none)"

_LABELS = ["route", "service", "method"]


class _Stats:
    """One (route, service, method)'s counts; bucket counts are not cumulative (the last is +Inf)."""

    __slots__ = ("calls", "errors", "unfinished", "retries", "delays", "aborts", "total", "buckets",
                 "up_calls", "up_total", "up_buckets")

    def __init__(self, n: int) -> None:
        self.calls = self.errors = self.unfinished = self.retries = self.delays = self.aborts = 0
        self.up_calls = 0
        self.total = self.up_total = 0.0
        self.buckets = [0] * n
        self.up_buckets = [0] * n


def _histogram(hist: HistogramMetricFamily, labels: list[str], bounds: tuple[float, ...],
               buckets: list[int], total: float) -> None:
    cumulative, acc = [], 0
    for bound, count in zip((*map(repr, bounds), "+Inf"), buckets):
        acc += count
        cumulative.append((bound, acc))
    hist.add_metric(labels, cumulative, total)


class ProxyMetrics:
    """The proxy's Prometheus metrics (see the module docstring): a call observer and a
    ``prometheus_client`` collector. :meth:`attach` it to the proxy for the gauges.

    >>> m = ProxyMetrics(buckets=(0.01, 0.1))
    >>> m.registry.get_sample_value("rpcx_proxy_clients")
    0.0
    """

    wants_metadata = False

    def __init__(self, registry: CollectorRegistry | None = None, *, buckets: tuple[float, ...] = DEFAULT_BUCKETS) -> None:
        self.bounds = tuple(sorted(buckets))
        self._stats: dict[tuple[str, str, str], _Stats] = {}
        self.proxy: "ProxyServer | None" = None
        self.registry = registry if registry is not None else CollectorRegistry()
        self.registry.register(self)  # type: ignore[arg-type]

    def attach(self, proxy: "ProxyServer") -> "ProxyMetrics":
        """Read the gauges (calls in flight, connections, ejections) from ``proxy``; returns self."""
        self.proxy = proxy
        return self

    # -- the observer: once per finished call, on the loop's thread ------------------------------
    def call_finished(self, record: CallRecord) -> None:
        key = (record.route or NO_ROUTE, record.service, record.method)
        st = self._stats.get(key)
        if st is None:
            st = self._stats[key] = _Stats(len(self.bounds) + 1)
        st.calls += 1
        status = record.status
        if status == "error":
            st.errors += 1
        elif status == "unfinished":
            st.unfinished += 1
        if record.retries:
            st.retries += record.retries
        fault = record.fault
        if fault is not None:
            if "delay" in fault:
                st.delays += 1
            if "abort" in fault:
                st.aborts += 1
        dt = record.rpc_time
        st.total += dt
        st.buckets[bisect.bisect_left(self.bounds, dt)] += 1
        up = record.upstream_time
        if up is not None:
            st.up_calls += 1
            st.up_total += up
            st.up_buckets[bisect.bisect_left(self.bounds, up)] += 1

    # -- prometheus_client collector --------------------------------------------------------------
    def collect(self) -> Iterator[Any]:
        calls = CounterMetricFamily("rpcx_proxy_calls", "Finished calls.", labels=_LABELS)
        errors = CounterMetricFamily("rpcx_proxy_errors", "Calls answered with an error.", labels=_LABELS)
        unfinished = CounterMetricFamily("rpcx_proxy_unfinished", "Calls whose client left before the reply.",
                                         labels=_LABELS)
        retries = CounterMetricFamily("rpcx_proxy_retries", "Calls sent again to another server.", labels=_LABELS)
        faults = CounterMetricFamily("rpcx_proxy_faults", "Faults injected.", labels=[*_LABELS, "kind"])
        down = HistogramMetricFamily("rpcx_proxy_call_duration_seconds",
                                     "Time from the request's arrival to the reply written back.", labels=_LABELS)
        up = HistogramMetricFamily("rpcx_proxy_upstream_duration_seconds",
                                   "Time from the request written upstream to its reply.", labels=_LABELS)
        for key, st in list(self._stats.items()):
            labels = list(key)
            calls.add_metric(labels, float(st.calls))
            errors.add_metric(labels, float(st.errors))
            unfinished.add_metric(labels, float(st.unfinished))
            retries.add_metric(labels, float(st.retries))
            faults.add_metric([*labels, "delay"], float(st.delays))
            faults.add_metric([*labels, "abort"], float(st.aborts))
            _histogram(down, labels, self.bounds, st.buckets, st.total)
            if st.up_calls:
                _histogram(up, labels, self.bounds, st.up_buckets, st.up_total)
        yield from (calls, errors, unfinished, retries, faults, down, up)
        yield from self._gauges()

    def _gauges(self) -> Iterator[Any]:
        proxy = self.proxy
        active = GaugeMetricFamily("rpcx_proxy_active_calls", "Calls waiting for a reply now.", labels=_LABELS)
        conns = GaugeMetricFamily("rpcx_proxy_upstream_connections", "Open (or dialling) shared upstream connections.",
                                  labels=["cluster", "server"])
        ejected = GaugeMetricFamily("rpcx_proxy_outlier_ejected", "1 while the server is ejected as an outlier.",
                                    labels=["cluster", "server"])
        ejections = CounterMetricFamily("rpcx_proxy_outlier_ejections", "Times the server was ejected as an outlier.",
                                        labels=["cluster", "server"])
        clients = GaugeMetricFamily("rpcx_proxy_clients", "Client connections open now.")
        refused = CounterMetricFamily("rpcx_proxy_clients_refused", "Client connections closed by max_clients.")
        pushes = CounterMetricFamily("rpcx_proxy_pushes_dropped", "Server pushes on shared connections, dropped.")
        if proxy is not None:
            counts: dict[tuple[str, str, str], int] = {}
            for d in list(proxy._downstreams):
                for call in list(d.calls):
                    h = call.header
                    key = (call.route.name if call.route is not None else NO_ROUTE, h.service_path, h.service_method)
                    counts[key] = counts.get(key, 0) + 1
            for key in self._stats.keys() | counts.keys():  # a series once seen stays, at 0 when idle
                active.add_metric(list(key), float(counts.get(key, 0)))
            now = time.monotonic()  # the clock outlier ejection runs on
            for name, cluster in proxy.clusters.items():
                for server, n in cluster.connections().items():
                    conns.add_metric([name, server], float(n))
                outlier = getattr(cluster, "outlier", None)
                if outlier is not None:
                    for server, host in outlier.hosts.items():
                        ejected.add_metric([name, server], 1.0 if host.is_ejected(now) else 0.0)
                        ejections.add_metric([name, server], float(host.ejections_total))
            clients.add_metric([], float(proxy.clients))
            refused.add_metric([], float(proxy.clients_refused))
            pushes.add_metric([], float(proxy.pushes_dropped))
        else:
            clients.add_metric([], 0.0)
        yield from (active, conns, ejected, ejections, clients, refused, pushes)
