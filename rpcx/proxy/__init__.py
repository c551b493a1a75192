"""The rpcx-aware proxy (layer: proxy): per-call routing to upstream clusters, fault injection and
an access log, forwarding payloads untouched (only the seq of a frame changes; a route that edits
metadata or renames a call re-encodes the header sections, never the payload).

Modules, each small: ``frames`` (byte-level edits), ``routing`` (matches and routes), ``faults``,
``expr`` (the access log's filter language), ``calls`` (per-call state and records), ``upstream``
(one connection to a server), ``downstream`` (one client's connection), ``cluster`` (servers and connection pools), ``server`` (the proxy),
``accesslog``, ``config`` (the YAML file), ``app`` (config to proxy), ``outlier`` (outlier ejection),
``detect`` (TLS and plain rpcx on one port), ``metrics`` (Prometheus; imported on its own, it needs
``prometheus_client``: ``from rpcx.proxy.metrics import ProxyMetrics``). See docs/proxy.md.
"""

from .accesslog import AccessLog
from .app import ProxyApp, build_proxy
from .calls import CallObserver, CallRecord
from .cluster import Cluster
from .config import ConfigError, ProxyConfig, load_config, parse_config
from .detect import DetectingListener
from .expr import ExpressionError, compile_filter
from .faults import AbortFault, DelayFault, Faults
from .outlier import OutlierConfig, OutlierDetector
from .routing import Match, Route, RouteTable, StringMatch
from .server import ProxyServer

__all__ = [
    "AbortFault",
    "AccessLog",
    "CallObserver",
    "CallRecord",
    "Cluster",
    "ConfigError",
    "DelayFault",
    "DetectingListener",
    "ExpressionError",
    "Faults",
    "Match",
    "OutlierConfig",
    "OutlierDetector",
    "ProxyApp",
    "ProxyConfig",
    "ProxyServer",
    "Route",
    "RouteTable",
    "StringMatch",
    "build_proxy",
    "compile_filter",
    "load_config",
    "parse_config",
]
