"""The web console of a gateway, like rpcx-ui and grpcui (layer: gateway; the page is package data,
this module its JSON endpoints and the gateway's call counters).

Off by default: ``enable_gateway(server, console=True)``, ``StandaloneGateway(..., console=True)``,
``rpcx serve ... --gateway --console``, ``rpcx gateway ... --console``. Under :data:`PREFIX` the
gateway then answers, before HTTP invoke or JSON-RPC see the request:

=====================================  ===========================================================
``GET  /_rpcx/console/``               the page (``static/console.html``, ``console.js``, ``console.css``)
``GET  /_rpcx/console/api/overview``   JSON: the services and servers the gateway knows, with the
                                       calls, errors and time it counted for each
``POST /_rpcx/console/api/call``       JSON ``{"service", "method", "args", "meta", "auth"}`` in;
                                       the reply, its metadata, the error and the seconds out
=====================================  ===========================================================

A call from the page is an rpcx request with JSON arguments (serialize type JSON), served by the
gateway's own ``handle`` (the server's dispatch path on the rpcx port, an XClient in the standalone
gateway), so it is counted, authorized and timed like any HTTP invoke call. The call endpoint takes
only ``Content-Type: application/json``: a page from another origin cannot post that without a
CORS preflight, which the console does not answer. The path prefix shadows a service named
``_rpcx`` for HTTP invoke by URL path (the ``X-RPCX-ServicePath`` header still reaches it).

>>> c = Console(lambda: {"services": [{"name": "Arith", "methods": ["Mul"]}], "servers": []})
>>> c.owns("/_rpcx/console/api/overview"), c.owns("/Arith")
(True, False)
>>> c.count("Arith", "Mul", ok=False, seconds=0.002)
>>> c.overview()["services"][0]["calls"], c.overview()["services"][0]["errors"]
(1, 1)
"""

from __future__ import annotations

import json
import time
import urllib.parse
from dataclasses import dataclass
from importlib import resources
from typing import Any, Callable

from ..protocol.constants import AUTH_KEY, SERVICE_ERROR, MessageStatusType, MessageType, SerializeType
from ..protocol.message import Message
from ..server.dispatch import Handled
from .invoke import Answer, Handle, HandleNow

__all__ = ["Console", "Counter", "PREFIX"]

#: where the console lives on the gateway's port
PREFIX = "/_rpcx/console"

_STATIC = {
    "": ("console.html", "text/html; charset=utf-8"),
    "console.js": ("console.js", "text/javascript; charset=utf-8"),
    "console.css": ("console.css", "text/css; charset=utf-8"),
}
_JSON = {"Content-Type": "application/json", "Cache-Control": "no-store"}
# the page runs only its own script and styles, talks only to its own origin, and is not framed
_PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
                               "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


@dataclass
class Counter:
    """Calls, errors and busy seconds the gateway counted for one service method or one server."""

    calls: int = 0
    errors: int = 0
    seconds: float = 0.0

    def add(self, ok: bool, seconds: float) -> None:
        """Count one call that took ``seconds`` (an error unless ``ok``)."""
        self.calls += 1
        self.errors += not ok
        self.seconds += seconds

    def as_json(self) -> dict[str, Any]:
        """``{"calls", "errors", "mean_ms"}`` for the page."""
        mean = self.seconds / self.calls * 1000 if self.calls else 0.0
        return {"calls": self.calls, "errors": self.errors, "mean_ms": round(mean, 3)}


def failed(handled: Handled) -> bool:
    """Whether a gateway call failed: no reply, refused, or an error reply."""
    reply = handled.reply
    return reply is None or handled.refused is not None or reply.status == MessageStatusType.ERROR


class Console:
    """The console of one gateway. ``describe()`` says what the gateway knows::

        {"kind": "server" | "gateway",
         "services": [{"name", "methods": [...], "metadata", ...}],
         "servers": [{"address", "metadata", "state", ...}]}

    and :meth:`overview` adds the counters: per service and method (every call through the
    gateway's ``handle``, from HTTP invoke, JSON-RPC or the page) and per server (what the owner
    reports with :meth:`count_server`; the on-port gateway is its own one server).
    """

    def __init__(self, describe: Callable[[], dict[str, Any]]) -> None:
        self.describe = describe
        self.methods: dict[tuple[str, str], Counter] = {}
        self.servers: dict[str, Counter] = {}

    # -- counting -----------------------------------------------------------------------------
    def count(self, service: str, method: str, ok: bool, seconds: float) -> None:
        """Count one call of ``service.method``."""
        key = (service, method)
        counter = self.methods.get(key)
        if counter is None:
            counter = self.methods[key] = Counter()
        counter.add(ok, seconds)

    def count_server(self, address: str, ok: bool, seconds: float) -> None:
        """Count one attempt on the server at ``address`` (the standalone gateway's XClients)."""
        counter = self.servers.get(address)
        if counter is None:
            counter = self.servers[address] = Counter()
        counter.add(ok, seconds)

    def counting(self, handle: Handle) -> Handle:
        """``handle`` wrapped so every call through it is counted."""

        async def counted(req: Message, peer: Any) -> Handled:
            start = time.perf_counter()
            try:
                handled = await handle(req, peer)
            except BaseException:
                self.count(req.service_path, req.service_method, False, time.perf_counter() - start)
                raise
            self.count(req.service_path, req.service_method, not failed(handled), time.perf_counter() - start)
            return handled

        return counted

    def counting_now(self, handle_now: HandleNow) -> HandleNow:
        """``handle_now`` wrapped so every call it serves is counted (one it declines is counted
        by :meth:`counting` when it is served)."""

        def counted(req: Message, peer: Any) -> Handled | None:
            start = time.perf_counter()
            try:
                handled = handle_now(req, peer)
            except BaseException:
                self.count(req.service_path, req.service_method, False, time.perf_counter() - start)
                raise
            if handled is not None:
                self.count(req.service_path, req.service_method, not failed(handled), time.perf_counter() - start)
            return handled

        return counted

    def overview(self) -> dict[str, Any]:
        """``describe()`` with the counters added (services and methods the gateway has only seen
        called are listed too: a standalone gateway learns services from its traffic)."""
        d = self.describe()
        services = {s["name"]: dict(s) for s in d.get("services", [])}
        for (service, method), counter in self.methods.items():
            s = services.setdefault(service, {"name": service, "methods": [], "metadata": ""})
            if method and method not in s["methods"]:
                s["methods"] = [*s["methods"], method]
        for s in services.values():
            total = Counter()
            per_method = {}
            for m in s.get("methods", []):
                c = self.methods.get((s["name"], m), Counter())
                per_method[m] = c.as_json()
                total.calls += c.calls
                total.errors += c.errors
                total.seconds += c.seconds
            s["per_method"] = per_method
            s.update(total.as_json())
        everything = Counter()
        for c in self.methods.values():
            everything.calls += c.calls
            everything.errors += c.errors
            everything.seconds += c.seconds
        servers = []
        for srv in d.get("servers", []):
            # the gateway on an rpcx server is that one server: every call it counted was there
            c = everything if d.get("kind") == "server" else self.servers.get(srv["address"], Counter())
            servers.append({**srv, **c.as_json()})
        return {"kind": d.get("kind", "gateway"), "services": sorted(services.values(), key=lambda s: s["name"]),
                "servers": servers}

    # -- HTTP ---------------------------------------------------------------------------------
    def owns(self, target: str) -> bool:
        """Whether a request target is the console's."""
        path = target.partition("?")[0]
        return path == PREFIX or path.startswith(PREFIX + "/")

    async def serve(self, handle: Handle, method: str, target: str, h: dict[str, str], body: bytes,
                    peer: Any) -> Answer:
        """Answer one request under :data:`PREFIX` (``handle`` serves the page's calls)."""
        path = urllib.parse.unquote(target.partition("?")[0])
        if path == PREFIX:
            return Answer(301, {"Location": PREFIX + "/"})
        rest = path[len(PREFIX) + 1:]
        if rest == "api/overview":
            if method not in ("GET", "HEAD"):
                return _not_allowed("GET")
            return Answer(200, dict(_JSON), _dumps(self.overview()))
        if rest == "api/call":
            if method != "POST":
                return _not_allowed("POST")
            if h.get("Content-Type", "").split(";")[0].strip().lower() != "application/json":
                return _json_error(415, "the call endpoint takes Content-Type: application/json")
            return await self._call(handle, body, peer)
        static = _STATIC.get(rest)
        if static is None:
            return Answer(404, {"Content-Type": "text/plain; charset=utf-8"}, b"404 page not found\n")
        if method not in ("GET", "HEAD"):
            return _not_allowed("GET")
        name, content_type = static
        data = resources.files("rpcx.gateway").joinpath("static", name).read_bytes()
        return Answer(200, {"Content-Type": content_type, **_PAGE_HEADERS}, data)

    async def _call(self, handle: Handle, body: bytes, peer: Any) -> Answer:
        try:
            doc = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            return _json_error(400, f"the body is not JSON: {exc}")
        if not isinstance(doc, dict):
            return _json_error(400, 'the body is a JSON object: {"service": ..., "method": ..., "args": ...}')
        service, method_name = doc.get("service"), doc.get("method")
        if not isinstance(service, str) or not service or not isinstance(method_name, str) or not method_name:
            return _json_error(400, "service and method are required strings, e.g. Arith and Mul")
        meta = doc.get("meta") or {}
        if isinstance(meta, str):  # the page sends k=v&k2=v2, as X-RPCX-Meta takes it
            meta = {k: v[0] for k, v in urllib.parse.parse_qs(meta, keep_blank_values=True).items()}
        if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
            return _json_error(400, "meta is k=v&k2=v2 or a JSON object of strings")
        metadata = dict(meta)
        auth = doc.get("auth")
        if isinstance(auth, str) and auth:
            metadata[AUTH_KEY] = auth
        args = doc.get("args")
        payload = json.dumps(args if args is not None else {}, separators=(",", ":"), ensure_ascii=False).encode()
        req = Message(message_type=MessageType.REQUEST, serialize_type=SerializeType.JSON,
                      service_path=service, service_method=method_name, metadata=metadata, payload=payload)
        start = time.perf_counter()
        handled = await handle(req, peer)
        seconds = time.perf_counter() - start
        reply = handled.reply
        out: dict[str, Any] = {"ok": not failed(handled), "seconds": seconds, "metadata": {}, "reply": None,
                               "error": None}
        if reply is None:
            out["error"] = "no reply"
        else:
            md = dict(reply.metadata)
            out["error"] = md.pop(SERVICE_ERROR, None) if not out["ok"] else None
            if not out["ok"] and not out["error"]:
                out["error"] = "refused"
            out["metadata"] = md
            if reply.payload:
                try:
                    out["reply"] = json.loads(bytes(reply.payload))
                except (ValueError, UnicodeDecodeError):
                    out["reply"] = None
                    out["raw"] = bytes(reply.payload)[:4096].decode("utf-8", "replace")
        return Answer(200, dict(_JSON), _dumps(out))


def _dumps(doc: Any) -> bytes:
    return json.dumps(doc, ensure_ascii=False, default=str).encode()


def _json_error(status: int, why: str) -> Answer:
    return Answer(status, dict(_JSON), _dumps({"ok": False, "error": why}))


def _not_allowed(allow: str) -> Answer:
    return Answer(405, {"Allow": allow, "Content-Type": "text/plain; charset=utf-8"}, b"Method Not Allowed\n")

