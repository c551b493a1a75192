"""The proxy's admin HTTP endpoint: config, clusters, health, reload, metrics (layer: proxy, asyncio).

A deliberately small HTTP/1.1 responder on its own port (``admin: tcp@127.0.0.1:9901`` in the
config), one request per connection, JSON out:

- ``GET /health``: ``{"status": "ok", "clients": N, "reloads": N}``
- ``GET /config``: the routes and clusters in force (names, matches, weights, timeouts, faults)
- ``GET /clusters``: per cluster its servers, open upstream connections, breaker states and
  outlier ejection state
- ``POST /reload``: reload the file now; 200 ``{"reloaded": true}`` or 400 with the error
- ``GET /metrics``: Prometheus text format (:mod:`rpcx.proxy.metrics`; 404 when the config has no
  ``metrics``)

``AdminServer(app, only=("/metrics",))`` serves just those paths (the ``metrics.listen`` endpoint).
Requests are read with a size limit and a time limit; a malformed one gets 400 and the connection
is closed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from ..transport.tcp import split_host_port

if TYPE_CHECKING:
    from .app import ProxyApp

__all__ = ["AdminServer"]

log = logging.getLogger("rpcx.proxy")

MAX_REQUEST = 8192
READ_TIMEOUT = 10.0


def _json_default(value: Any) -> Any:
    return sorted(value) if isinstance(value, (set, frozenset)) else str(value)


class _Raw:
    """A reply body that is not JSON."""

    def __init__(self, data: bytes, content_type: str) -> None:
        self.data = data
        self.content_type = content_type


def _route_view(r: Any) -> dict[str, Any]:
    def sm(m: Any) -> Any:
        return None if m is None else {m.kind: m.value}

    faults: dict[str, Any] = {}
    if r.faults.delay is not None:
        faults["delay"] = {"percent": r.faults.delay.percent, "seconds": r.faults.delay.seconds}
    if r.faults.abort is not None:
        faults["abort"] = {"percent": r.faults.abort.percent, "error": r.faults.abort.error}
    return {
        "name": r.name,
        "match": {"service": sm(r.match.service), "method": sm(r.match.method), "client": sm(r.match.client),
                  "client_cidr": [str(n) for n in r.match.client_cidr],
                  "metadata": {k: sm(v) if v is not None else "present" for k, v in r.match.metadata}},
        "clusters": [{"name": n, "weight": w} for n, w in r.clusters],
        "timeout": r.timeout, "pin_upstream": r.pin_upstream, "faults": faults,
        "metadata": {"set": dict(r.set_metadata), "add": dict(r.add_metadata), "remove": list(r.remove_metadata)},
        "rewrite": {"service": r.rewrite_service, "method": r.rewrite_method},
    }


class AdminServer:
    """Serves the admin endpoints of ``app`` (see the module docstring).

    >>> AdminServer.__name__
    'AdminServer'
    """

    def __init__(self, app: "ProxyApp", only: tuple[str, ...] | None = None) -> None:
        self.app = app
        self.only = only
        self._server: asyncio.base_events.Server | None = None
        self.address = ""

    async def start(self, address: str) -> str:
        """Listen on ``address`` (``tcp@host:port``; port 0 picks one); return the bound address."""
        network, _, hostport = address.rpartition("@")
        if network not in ("", "tcp"):
            raise ValueError(f"the admin endpoint listens on tcp, not {network!r}")
        host, port = split_host_port(hostport)
        self._server = await asyncio.start_server(self._serve, host, port)
        h, p = self._server.sockets[0].getsockname()[:2]
        self.address = f"tcp@{h}:{p}"
        return self.address

    async def aclose(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT)
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError):
                await self._reply(writer, 400, {"error": "a request head ending in a blank line, under 8 KiB"})
                return
            if len(head) > MAX_REQUEST:
                await self._reply(writer, 400, {"error": "request head too large"})
                return
            parts = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
            if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
                await self._reply(writer, 400, {"error": "expected 'METHOD /path HTTP/1.1'"})
                return
            method, path = parts[0], parts[1].split("?", 1)[0]
            status, body = await self._route(method, path)
            await self._reply(writer, status, body)
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def _route(self, method: str, path: str) -> tuple[int, Any]:
        app = self.app
        proxy = app.proxy
        if proxy is None or app.config is None:
            return 503, {"error": "the proxy is not started"}
        gets = {"/health", "/config", "/clusters", "/metrics"}
        if self.only is not None and path not in self.only:
            return 404, {"error": f"no such endpoint {path}", "endpoints": list(self.only)}
        if path in gets and method != "GET" or path == "/reload" and method != "POST":
            return 405, {"error": f"{method} is not allowed on {path}"}
        if path == "/health":
            return 200, {"status": "ok", "clients": proxy.clients, "reloads": app.reloads}
        if path == "/config":
            cfg = app.config
            return 200, {
                "listen": list(cfg.listen),
                "routes": [_route_view(r) for r in proxy.routes.routes],
                "default": _route_view(proxy.routes.default) if proxy.routes.default is not None else None,
                "clusters": {n: {k: v for k, v in asdict(c).items() if k != "name"} for n, c in cfg.clusters.items()},
            }
        if path == "/clusters":
            now = time.monotonic()  # the clock outlier ejection runs on
            return 200, {n: {"servers": c.servers, "connections": c.connections(), "retries": c.retries,
                             "breakers": {k: b.state.value for k, b in c.breakers.items()},
                             "outliers": None if c.outlier is None else
                             {k: h.view(now) for k, h in c.outlier.hosts.items()}}
                         for n, c in proxy.clusters.items()}
        if path == "/metrics":
            if proxy.metrics is None:
                return 404, {"error": "metrics are off: add 'metrics: true' to the configuration"}
            from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

            return 200, _Raw(generate_latest(proxy.metrics.registry), CONTENT_TYPE_LATEST)
        if path == "/reload":
            error = await app.reload()
            return (200, {"reloaded": True}) if error is None else (400, {"reloaded": False, "error": error})
        return 404, {"error": f"no such endpoint {path}", "endpoints": sorted(gets | {"/reload"})}

    @staticmethod
    async def _reply(writer: asyncio.StreamWriter, status: int, body: Any) -> None:
        reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
                  503: "Service Unavailable"}[status]
        if isinstance(body, _Raw):
            data, ctype = body.data, body.content_type
        else:
            data, ctype = json.dumps(body, default=_json_default, indent=1).encode() + b"\n", "application/json"
        writer.write(f"HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\n"
                     f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode() + data)
        await writer.drain()
