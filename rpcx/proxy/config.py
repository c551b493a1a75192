"""The proxy's configuration file: YAML in, a checked :class:`ProxyConfig` out (layer: proxy).

Every mistake is a :class:`ConfigError` naming where it is (``routes[1].match.service``) and what
is wrong, so ``rpcx proxy -c proxy.yaml`` can say it in one line. The file's shape (see
``examples/proxy/proxy.yaml`` and ``docs/proxy.md``)::

    listen: tcp@127.0.0.1:9000          # or a list of addresses
    clusters:
      arith:
        servers: [tcp@127.0.0.1:8972, {address: tcp@127.0.0.1:8973, weight: 2}]
        # or: registry: {url: redis://127.0.0.1:6379, service: Arith, base_path: /rpcx}
    routes:
      - name: mul
        match: {service: {exact: Arith}, method: {prefix: Mu}, metadata: {tenant: {exact: a}}}
        clusters: [{name: arith, weight: 1}]          # or cluster: arith
        timeout: 2s
        metadata: {set: {k: v}, add: {k2: v2}, remove: [k3]}
        rewrite: {service: Arith, method: Mul}
        faults: {delay: {percent: 10, duration: 50ms}, abort: {percent: 1, error: boom, when: {x: {exact: y}}}}
    default: {cluster: arith}
    access_log: {path: "-", filter: 'rpc_time >= 0.01 or status == "error"'}
    http: true                          # HTTP invoke and JSON-RPC on the listen ports too (default false)

>>> cfg = parse_config({"listen": "tcp@127.0.0.1:0", "clusters": {"a": {"servers": ["tcp@127.0.0.1:1"]}},
...                     "default": {"cluster": "a"}})
>>> cfg.routes.default.clusters
(('a', 1),)
>>> parse_config({"listen": "tcp@127.0.0.1:0", "clusters": {}, "routes": [{"cluster": "b"}]})
Traceback (most recent call last):
...
rpcx.proxy.config.ConfigError: routes[0].cluster: unknown cluster 'b' (defined: none)
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any

from ..client.discovery import KVPair
from .expr import ExpressionError, compile_filter
from .calls import FIELDS
from .faults import AbortFault, DelayFault, Faults
from .outlier import ERROR_KINDS, OutlierConfig
from .routing import Match, Route, RouteTable, StringMatch

__all__ = ["ConfigError", "ProxyConfig", "ClusterConfig", "AccessLogConfig", "MetricsConfig", "parse_config",
           "load_config", "parse_duration"]


class ConfigError(ValueError):
    """A configuration mistake: ``where`` (a path into the file) and ``what``."""

    def __init__(self, where: str, what: str) -> None:
        super().__init__(f"{where}: {what}" if where else what)
        self.where = where
        self.what = what


@dataclass(frozen=True)
class ClusterConfig:
    """Static ``servers`` (``KVPair(key, "weight=N")``) or a ``registry`` URL and service."""

    name: str
    servers: tuple[KVPair, ...] = ()
    registry: str | None = None
    service: str | None = None
    base_path: str = "/rpcx"
    connections_per_server: int = 2
    connect_timeout: float = 5.0
    heartbeat_interval: float | None = None
    group: str = ""
    #: more servers a call may be tried on after a dial or connection error
    retries: int = 0
    #: CircuitBreaker keyword arguments (failures, cooldown, window, error_rate, min_calls), or None
    breaker: tuple[tuple[str, float], ...] | None = None
    #: TLS to the servers: ``tls_ca`` (PEM file to trust; None: the system's), ``tls_insecure``
    #: (no verification), ``tls_server_name`` (the name checked in their certificates)
    tls: bool = False
    tls_ca: str | None = None
    tls_insecure: bool = False
    tls_server_name: str | None = None
    #: outlier ejection of the servers (None: off)
    outlier: OutlierConfig | None = None


@dataclass(frozen=True)
class MetricsConfig:
    """Prometheus metrics: served on the admin endpoint's ``/metrics``, and on ``listen`` if set."""

    listen: str | None = None
    buckets: tuple[float, ...] | None = None


@dataclass(frozen=True)
class AccessLogConfig:
    path: str = "-"
    filter: str | None = None
    include_metadata: bool = False


@dataclass(frozen=True)
class ProxyConfig:
    listen: tuple[str, ...]
    clusters: dict[str, ClusterConfig]
    routes: RouteTable
    access_log: AccessLogConfig | None = None
    frame_timeout: float | None = 30.0
    max_message_length: int | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    #: where the admin HTTP endpoint listens (tcp@host:port), or None
    admin: str | None = None
    #: client connections open at once at most (None: no limit)
    max_clients: int | None = None
    #: Prometheus metrics (None: not collected)
    metrics: MetricsConfig | None = None
    #: the TLS listeners also take plain rpcx, told apart by the first byte
    tls_plaintext: bool = False
    #: HTTP invoke and JSON-RPC 2.0 on the listen ports too, routed like rpcx calls
    http: bool = False


_DURATION = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*(ms|s|m|h)?\s*$")


def parse_duration(value: Any, where: str) -> float:
    """Seconds from ``1.5``, ``"250ms"``, ``"2s"``, ``"1m"``.

    >>> parse_duration("250ms", "x"), parse_duration(2, "x")
    (0.25, 2.0)
    """
    if isinstance(value, bool):
        raise ConfigError(where, f"expected a duration such as 2s or 250ms, got {value!r}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        m = _DURATION.match(str(value))
        if m is None:
            raise ConfigError(where, f"expected a duration such as 2s or 250ms, got {value!r}")
        seconds = float(m.group(1)) * {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}[m.group(2) or "s"]
    if seconds < 0:
        raise ConfigError(where, f"a duration cannot be negative, got {value!r}")
    return seconds


def _mapping(value: Any, where: str, allowed: set[str]) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(where, f"expected a mapping, got {type(value).__name__} {value!r}")
    for k in value:
        if k not in allowed:
            raise ConfigError(f"{where}.{k}" if where else str(k),
                              f"unknown key (expected one of: {', '.join(sorted(allowed))})")
    return value


def _str(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(where, f"expected a non-empty string, got {value!r}")
    return value


def _number(value: Any, where: str, lo: float, hi: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(where, f"expected a number, got {value!r}")
    if value < lo or (hi is not None and value > hi):
        raise ConfigError(where, f"{value} is out of range ({lo:g} to {hi:g})" if hi is not None
                          else f"{value} must be at least {lo:g}")
    return float(value)


def _string_match(value: Any, where: str) -> StringMatch:
    if isinstance(value, str):
        return StringMatch("exact", value)
    m = _mapping(value, where, {"exact", "prefix", "regex"})
    if len(m) != 1:
        raise ConfigError(where, "give exactly one of exact, prefix or regex")
    kind, text = next(iter(m.items()))
    text = _str(text, f"{where}.{kind}")
    try:
        return StringMatch(kind, text)
    except re.error as exc:
        raise ConfigError(f"{where}.{kind}", f"bad regular expression: {exc}") from None


def _metadata_conditions(value: Any, where: str) -> tuple[tuple[str, StringMatch | None], ...]:
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise ConfigError(where, "expected a mapping of metadata key to a match (or present: true)")
    out: list[tuple[str, StringMatch | None]] = []
    for key, cond in value.items():
        w = f"{where}.{key}"
        if isinstance(cond, dict) and set(cond) == {"present"}:
            if cond["present"] is not True:
                raise ConfigError(f"{w}.present", "only present: true is supported")
            out.append((str(key), None))
        else:
            out.append((str(key), _string_match(cond, w)))
    return tuple(out)


def _match(value: Any, where: str) -> Match:
    m = _mapping(value, where, {"service", "method", "metadata", "client"})
    client = None
    cidrs: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
    if "client" in m:
        c = m["client"]
        if isinstance(c, dict) and "cidr" in c:
            _mapping(c, f"{where}.client", {"cidr"})
            nets = c["cidr"] if isinstance(c["cidr"], list) else [c["cidr"]]
            for i, n in enumerate(nets):
                try:
                    cidrs.append(ipaddress.ip_network(str(n), strict=False))
                except ValueError as exc:
                    raise ConfigError(f"{where}.client.cidr[{i}]", str(exc)) from None
        else:
            client = _string_match(c, f"{where}.client")
    return Match(
        service=_string_match(m["service"], f"{where}.service") if "service" in m else None,
        method=_string_match(m["method"], f"{where}.method") if "method" in m else None,
        metadata=_metadata_conditions(m.get("metadata"), f"{where}.metadata"),
        client=client,
        client_cidr=tuple(cidrs),
    )


def _faults(value: Any, where: str) -> Faults:
    m = _mapping(value, where, {"delay", "abort"})
    delay = abort = None
    if "delay" in m:
        w = f"{where}.delay"
        d = _mapping(m["delay"], w, {"percent", "duration", "when"})
        if "duration" not in d:
            raise ConfigError(w, "a delay needs a duration")
        delay = DelayFault(percent=_number(d.get("percent", 100), f"{w}.percent", 0, 100),
                           seconds=parse_duration(d["duration"], f"{w}.duration"),
                           when=_metadata_conditions(d.get("when"), f"{w}.when"))
    if "abort" in m:
        w = f"{where}.abort"
        a = _mapping(m["abort"], w, {"percent", "error", "when"})
        abort = AbortFault(percent=_number(a.get("percent", 100), f"{w}.percent", 0, 100),
                           error=_str(a.get("error", "fault injected by the proxy"), f"{w}.error"),
                           when=_metadata_conditions(a.get("when"), f"{w}.when"))
    return Faults(delay=delay, abort=abort)


def _string_pairs(value: Any, where: str) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise ConfigError(where, "expected a mapping of metadata key to value")
    return tuple((str(k), str(v)) for k, v in value.items())


_ROUTE_KEYS = {"name", "match", "cluster", "clusters", "timeout", "metadata", "rewrite", "faults", "pin_upstream",
               "rate_limit"}


def _route(value: Any, where: str, clusters: dict[str, ClusterConfig], default_name: str) -> Route:
    r = _mapping(value, where, _ROUTE_KEYS)
    if ("cluster" in r) == ("clusters" in r):
        raise ConfigError(where, "give either cluster: NAME or clusters: [{name: NAME, weight: N}, ...]")
    known = ", ".join(sorted(clusters)) or "none"
    targets: list[tuple[str, int]] = []
    if "cluster" in r:
        name = _str(r["cluster"], f"{where}.cluster")
        if name not in clusters:
            raise ConfigError(f"{where}.cluster", f"unknown cluster {name!r} (defined: {known})")
        targets.append((name, 1))
    else:
        items = r["clusters"]
        if not isinstance(items, list) or not items:
            raise ConfigError(f"{where}.clusters", "expected a non-empty list of {name: NAME, weight: N}")
        for i, item in enumerate(items):
            w = f"{where}.clusters[{i}]"
            c = _mapping(item, w, {"name", "weight"})
            name = _str(c.get("name"), f"{w}.name")
            if name not in clusters:
                raise ConfigError(f"{w}.name", f"unknown cluster {name!r} (defined: {known})")
            weight = c.get("weight", 1)
            if isinstance(weight, bool) or not isinstance(weight, int) or weight < 0:
                raise ConfigError(f"{w}.weight", f"expected a whole number >= 0, got {weight!r}")
            targets.append((name, weight))
        if sum(wt for _, wt in targets) == 0:
            raise ConfigError(f"{where}.clusters", "the weights add up to 0")
    md = _mapping(r.get("metadata"), f"{where}.metadata", {"set", "add", "remove"})
    remove = md.get("remove") or []
    if not isinstance(remove, list):
        raise ConfigError(f"{where}.metadata.remove", "expected a list of keys")
    rw = _mapping(r.get("rewrite"), f"{where}.rewrite", {"service", "method"})
    pin = r.get("pin_upstream", False)
    if not isinstance(pin, bool):
        raise ConfigError(f"{where}.pin_upstream", f"expected true or false, got {pin!r}")
    timeout = parse_duration(r["timeout"], f"{where}.timeout") if "timeout" in r else None
    if timeout == 0:
        raise ConfigError(f"{where}.timeout", "a timeout must be more than 0 (leave it out for none)")
    rate_limit = None
    if r.get("rate_limit") is not None:
        w = f"{where}.rate_limit"
        rl = _mapping(r["rate_limit"], w, {"rate", "burst"})
        if "rate" not in rl:
            raise ConfigError(w, "give rate: calls per second (and optionally burst: N)")
        rate = _number(rl["rate"], f"{w}.rate", 0)
        if rate == 0:
            raise ConfigError(f"{w}.rate", "must be more than 0")
        burst = rl.get("burst", max(1, int(rate)))
        if isinstance(burst, bool) or not isinstance(burst, int) or burst < 1:
            raise ConfigError(f"{w}.burst", f"expected a whole number >= 1, got {burst!r}")
        rate_limit = (rate, burst)
    return Route(
        rate_limit=rate_limit,
        name=_str(r.get("name", default_name), f"{where}.name"),
        match=_match(r.get("match"), f"{where}.match"),
        clusters=tuple(targets),
        timeout=timeout,
        set_metadata=_string_pairs(md.get("set"), f"{where}.metadata.set"),
        add_metadata=_string_pairs(md.get("add"), f"{where}.metadata.add"),
        remove_metadata=tuple(str(k) for k in remove),
        rewrite_service=_str(rw["service"], f"{where}.rewrite.service") if "service" in rw else None,
        rewrite_method=_str(rw["method"], f"{where}.rewrite.method") if "method" in rw else None,
        faults=_faults(r.get("faults"), f"{where}.faults"),
        pin_upstream=pin,
    )


def _cluster(name: str, value: Any, where: str) -> ClusterConfig:
    c = _mapping(value, where, {"servers", "registry", "connections_per_server", "connect_timeout",
                                "heartbeat_interval", "group", "retries", "breaker", "tls", "outlier"})
    if ("servers" in c) == ("registry" in c):
        raise ConfigError(where, "give either servers: [...] or registry: {url: ..., service: ...}")
    servers: list[KVPair] = []
    registry = service = None
    base_path = "/rpcx"
    if "servers" in c:
        items = c["servers"]
        if not isinstance(items, list) or not items:
            raise ConfigError(f"{where}.servers", "expected a non-empty list of addresses")
        for i, item in enumerate(items):
            w = f"{where}.servers[{i}]"
            if isinstance(item, str):
                addr, weight = item, 1
            else:
                s = _mapping(item, w, {"address", "weight"})
                addr = _str(s.get("address"), f"{w}.address")
                weight = s.get("weight", 1)
                if isinstance(weight, bool) or not isinstance(weight, int) or weight < 1:
                    raise ConfigError(f"{w}.weight", f"expected a whole number >= 1, got {weight!r}")
            if "@" not in addr:
                raise ConfigError(w, f"expected network@address (tcp@127.0.0.1:8972), got {addr!r}")
            servers.append(KVPair(addr, f"weight={weight}" if weight != 1 else ""))
    else:
        g = _mapping(c["registry"], f"{where}.registry", {"url", "service", "base_path"})
        registry = _str(g.get("url"), f"{where}.registry.url")
        service = _str(g.get("service"), f"{where}.registry.service")
        base_path = _str(g.get("base_path", "/rpcx"), f"{where}.registry.base_path")
    n = c.get("connections_per_server", 2)
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 1024:
        raise ConfigError(f"{where}.connections_per_server", f"expected a whole number from 1 to 1024, got {n!r}")
    retries = c.get("retries", 0)
    if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 16:
        raise ConfigError(f"{where}.retries", f"expected a whole number from 0 to 16, got {retries!r}")
    breaker = None
    if c.get("breaker") is not None:
        w = f"{where}.breaker"
        b = _mapping(c["breaker"], w, {"failures", "cooldown", "window", "error_rate", "min_calls"})
        params: list[tuple[str, float]] = []
        for k in ("failures", "min_calls"):
            if k in b:
                if isinstance(b[k], bool) or not isinstance(b[k], int) or b[k] < 1:
                    raise ConfigError(f"{w}.{k}", f"expected a whole number >= 1, got {b[k]!r}")
                params.append((k, b[k]))
        for k in ("cooldown", "window"):
            if k in b:
                params.append((k, parse_duration(b[k], f"{w}.{k}")))
        if "error_rate" in b:
            rate = _number(b["error_rate"], f"{w}.error_rate", 0, 1)
            if rate == 0:
                raise ConfigError(f"{w}.error_rate", "must be more than 0")
            params.append(("error_rate", rate))
        if dict(params).get("window", 1) == 0:
            raise ConfigError(f"{w}.window", "must be more than 0")
        breaker = tuple(params)
    tls = c.get("tls")
    if tls is True:
        tls = {}
    tls_doc = _mapping(tls, f"{where}.tls", {"ca", "insecure", "server_name"}) if tls is not None else None
    if tls_doc is not None and not isinstance(tls_doc.get("insecure", False), bool):
        raise ConfigError(f"{where}.tls.insecure", "expected true or false")
    return ClusterConfig(
        name=name, servers=tuple(servers), registry=registry, service=service, base_path=base_path,
        connections_per_server=n, retries=retries, breaker=breaker,
        tls=tls_doc is not None,
        tls_ca=_str(tls_doc["ca"], f"{where}.tls.ca") if tls_doc and "ca" in tls_doc else None,
        tls_insecure=bool(tls_doc.get("insecure", False)) if tls_doc else False,
        tls_server_name=_str(tls_doc["server_name"], f"{where}.tls.server_name")
        if tls_doc and "server_name" in tls_doc else None,
        connect_timeout=parse_duration(c.get("connect_timeout", 5.0), f"{where}.connect_timeout"),
        heartbeat_interval=(parse_duration(c["heartbeat_interval"], f"{where}.heartbeat_interval")
                            if c.get("heartbeat_interval") else None),
        group=str(c.get("group", "")),
        outlier=_outlier(c.get("outlier"), f"{where}.outlier"),
    )


def _whole(value: Any, where: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(where, f"expected a whole number >= {low}, got {value!r}")
    return value


def _outlier(value: Any, where: str) -> OutlierConfig | None:
    """``outlier: {consecutive_errors, error_rate, window, min_calls, base_ejection_time,
    max_ejection_time, max_ejection_percent, errors}`` (``outlier: true``: the defaults)."""
    if value is None or value is False:
        return None
    if value is True:
        value = {}
    o = _mapping(value, where, {"consecutive_errors", "error_rate", "window", "min_calls", "base_ejection_time",
                                "max_ejection_time", "max_ejection_percent", "errors"})
    d = OutlierConfig()
    consecutive = _whole(o.get("consecutive_errors", d.consecutive_errors), f"{where}.consecutive_errors", 0)
    rate = None
    if o.get("error_rate") is not None:
        rate = _number(o["error_rate"], f"{where}.error_rate", 0, 1)
        if rate == 0:
            raise ConfigError(f"{where}.error_rate", "must be more than 0 (leave it out for none)")
    if consecutive == 0 and rate is None:
        raise ConfigError(where, "consecutive_errors is 0 and no error_rate: nothing would eject a server")
    window = parse_duration(o.get("window", d.window), f"{where}.window")
    if window == 0:
        raise ConfigError(f"{where}.window", "must be more than 0")
    base = parse_duration(o.get("base_ejection_time", d.base_ejection_time), f"{where}.base_ejection_time")
    if base == 0:
        raise ConfigError(f"{where}.base_ejection_time", "must be more than 0")
    cap = parse_duration(o.get("max_ejection_time", max(base, d.max_ejection_time)), f"{where}.max_ejection_time")
    if cap < base:
        raise ConfigError(f"{where}.max_ejection_time", f"must be at least base_ejection_time ({base:g}s)")
    errors = o.get("errors", sorted(d.errors))
    if not isinstance(errors, list) or not errors:
        raise ConfigError(f"{where}.errors", f"expected a non-empty list of: {', '.join(sorted(ERROR_KINDS))}")
    for i, e in enumerate(errors):
        if e not in ERROR_KINDS:
            raise ConfigError(f"{where}.errors[{i}]", f"unknown error kind {e!r} (expected one of: "
                                                      f"{', '.join(sorted(ERROR_KINDS))})")
    return OutlierConfig(
        consecutive_errors=consecutive, error_rate=rate, window=window,
        min_calls=_whole(o.get("min_calls", d.min_calls), f"{where}.min_calls", 1),
        base_ejection_time=base, max_ejection_time=cap,
        max_ejection_percent=_number(o.get("max_ejection_percent", d.max_ejection_percent),
                                     f"{where}.max_ejection_percent", 0, 100),
        errors=frozenset(errors),
    )


def _metrics(value: Any) -> MetricsConfig | None:
    """``metrics: true`` or ``metrics: {listen: tcp@HOST:PORT, buckets: [0.001, 0.01, ...]}``."""
    if value is None or value is False:
        return None
    if value is True:
        value = {}
    m = _mapping(value, "metrics", {"listen", "buckets"})
    listen = _tcp_address(m["listen"], "metrics.listen", "the metrics endpoint") if m.get("listen") is not None else None
    buckets = None
    if m.get("buckets") is not None:
        b = m["buckets"]
        if not isinstance(b, list) or not b:
            raise ConfigError("metrics.buckets", "expected a non-empty list of latency bounds in seconds")
        bounds = [parse_duration(x, f"metrics.buckets[{i}]") for i, x in enumerate(b)]
        for i, x in enumerate(bounds):
            if x == 0 or (i and x <= bounds[i - 1]):
                raise ConfigError(f"metrics.buckets[{i}]", "bounds must be more than 0 and increasing")
        buckets = tuple(bounds)
    try:
        import prometheus_client  # noqa: F401
    except ImportError:  # pragma: no cover - depends on the installed extras
        raise ConfigError("metrics", "Prometheus metrics need prometheus_client: "
                                     "pip install 'rpcx-python[metrics]'") from None
    return MetricsConfig(listen=listen, buckets=buckets)


_TOP = {"listen", "clusters", "routes", "default", "access_log", "frame_timeout", "max_message_length", "tls",
        "admin", "max_clients", "metrics", "http"}


def parse_config(doc: Any) -> ProxyConfig:
    """Check a parsed YAML document and build the configuration; raises :class:`ConfigError`."""
    top = _mapping(doc, "", _TOP)
    if "listen" not in top:
        raise ConfigError("listen", "missing: where the proxy listens, e.g. listen: tcp@127.0.0.1:9000")
    listen = top["listen"] if isinstance(top["listen"], list) else [top["listen"]]
    addrs = tuple(_str(a, f"listen[{i}]" if isinstance(top["listen"], list) else "listen") for i, a in enumerate(listen))
    clusters_doc = top.get("clusters") or {}
    if not isinstance(clusters_doc, dict):
        raise ConfigError("clusters", "expected a mapping of cluster name to cluster")
    clusters = {str(n): _cluster(str(n), v, f"clusters.{n}") for n, v in clusters_doc.items()}
    routes_doc = top.get("routes") or []
    if not isinstance(routes_doc, list):
        raise ConfigError("routes", "expected a list of routes")
    routes = [_route(r, f"routes[{i}]", clusters, f"route{i}") for i, r in enumerate(routes_doc)]
    names = [r.name for r in routes]
    for i, n in enumerate(names):
        if n in names[:i]:
            raise ConfigError(f"routes[{i}].name", f"route name {n!r} is used twice")
    default = None
    if top.get("default") is not None:
        d = top["default"]
        if isinstance(d, dict) and "match" in d:
            raise ConfigError("default.match", "the default route matches every call: give it no match")
        default = _route(d, "default", clusters, "default")
    if not routes and default is None:
        raise ConfigError("routes", "no routes and no default: nothing would be forwarded")
    access = None
    if top.get("access_log") is not None:
        a = _mapping(top["access_log"], "access_log", {"path", "filter", "include_metadata"})
        filt = a.get("filter")
        if filt is not None:
            filt = _str(filt, "access_log.filter")
            try:
                compile_filter(filt, FIELDS)
            except ExpressionError as exc:
                raise ConfigError("access_log.filter", str(exc)) from None
        access = AccessLogConfig(path=_str(a.get("path", "-"), "access_log.path"), filter=filt,
                                 include_metadata=bool(a.get("include_metadata", False)))
    tls = _mapping(top.get("tls"), "tls", {"cert", "key", "plaintext"})
    if tls and not ("cert" in tls and "key" in tls):
        raise ConfigError("tls", "give both cert and key (PEM files)")
    plaintext = tls.get("plaintext", False)
    if not isinstance(plaintext, bool):
        raise ConfigError("tls.plaintext", f"expected true or false, got {plaintext!r}")
    http = top.get("http", False)
    if not isinstance(http, bool):
        raise ConfigError("http", f"expected true or false, got {http!r}")
    if http:
        try:
            import h11  # noqa: F401
        except ImportError:  # pragma: no cover - depends on the installed extras
            raise ConfigError("http", "HTTP invoke and JSON-RPC need h11: pip install 'rpcx-python[gateway]'") from None
    ft = top.get("frame_timeout", 30.0)
    mml = top.get("max_message_length")
    if mml is not None and (isinstance(mml, bool) or not isinstance(mml, int) or mml < 1):
        raise ConfigError("max_message_length", f"expected a whole number of bytes, got {mml!r}")
    return ProxyConfig(
        listen=addrs, clusters=clusters, routes=RouteTable(routes, default), access_log=access,
        frame_timeout=parse_duration(ft, "frame_timeout") if ft is not None else None,
        max_message_length=mml,
        tls_cert=_str(tls["cert"], "tls.cert") if tls else None,
        tls_key=_str(tls["key"], "tls.key") if tls else None,
        admin=_admin(top.get("admin")),
        max_clients=_max_clients(top.get("max_clients")),
        metrics=_metrics(top.get("metrics")),
        tls_plaintext=plaintext,
        http=http,
    )


def _max_clients(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError("max_clients", f"expected a whole number >= 1, got {value!r}")
    return value


def _admin(value: Any) -> str | None:
    if value is None:
        return None
    return _tcp_address(value, "admin", "the admin endpoint")


def _tcp_address(value: Any, where: str, what: str) -> str:
    addr = _str(value, where)
    network, sep, rest = addr.partition("@")
    if not sep or network != "tcp" or ":" not in rest:
        raise ConfigError(where, f"expected tcp@HOST:PORT ({what} is HTTP over tcp), got {addr!r}")
    return addr


def load_config(path: str) -> ProxyConfig:
    """Read and check the YAML file at ``path``; a YAML syntax error names its line and column."""
    try:
        import yaml
    except ImportError:  # pragma: no cover - depends on the installed extras
        raise ConfigError("", "reading a proxy config needs PyYAML: pip install 'rpcx-python[proxy]'") from None
    try:
        with open(path, encoding="utf-8") as f:
            doc = yaml.safe_load(f)
    except OSError as exc:
        raise ConfigError(path, f"cannot read: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else path
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(where, f"not valid YAML: {problem}") from None
    try:
        return parse_config(doc)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc.where}" if exc.where else path, exc.what) from None
