"""HTTP invoke and JSON-RPC 2.0 on the rpcx port, as Go rpcx serves them (layer: gateway).

:func:`enable_gateway` registers the gateway with :meth:`Server.add_protocol
<rpcx.server.Server.add_protocol>`: a connection whose first bytes are an HTTP/1 request line goes
to an :class:`~rpcx.gateway.http.HttpConnection`; rpcx connections (first byte 0x08) are not
touched. Every call goes through the server's one dispatch path
(:meth:`~rpcx.server.dispatch.Dispatcher.handle_message`): the same plugins, auth, codecs and error
texts as rpcx calls. Go turns its gateway on by default; here it is opt-in (it needs the ``h11``
extra, and a port that answers HTTP is a surface a server should choose). See docs/gateway.md.

>>> from rpcx import Server
>>> server = Server()
>>> enable_gateway(server)
>>> [p.name for p in server._protocols]
['http']

Needs ``pip install 'rpcx-python[gateway]'`` (h11).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

from ..protocol.detect import match_http
from .cors import CorsOptions

if TYPE_CHECKING:
    import asyncio

    from ..server.connection import ServerConnection
    from ..server.server import Server
    from .console import Console

__all__ = ["enable_gateway", "Gateway", "CorsOptions", "JSONRPC_HEADER"]

#: the header (any case) whose value ``true`` (exactly) on a connection's first request selects JSON-RPC
JSONRPC_HEADER = "X-Jsonrpc-2.0"


class Gateway:
    """The gateway of one server: which of HTTP invoke and JSON-RPC are on, and the factory of
    its HTTP connections (what :func:`enable_gateway` registers).

    >>> Gateway(None, http_invoke=True, jsonrpc=True).choose({"X-Jsonrpc-2.0": "true"})
    'jsonrpc'
    >>> Gateway(None, http_invoke=True, jsonrpc=False).choose({"X-Jsonrpc-2.0": "true"})
    'invoke'
    >>> Gateway(None, http_invoke=False, jsonrpc=True).choose({}) is None
    True

    ``handle(request, peer) -> Handled`` serves each rpcx request built from HTTP (see
    :data:`rpcx.gateway.invoke.Handle`); ``max_body`` bounds request bodies (0: no bound) and
    ``frame_timeout`` how long a started request may take to arrive; ``console`` serves the web
    console (:mod:`rpcx.gateway.console`) and counts the calls; ``handle_now(request, peer) ->
    Handled | None`` (optional) serves a request without a task when it can; ``parser`` is ``"h11"``,
    ``"httptools"`` or ``"auto"`` (httptools when it is installed).
    """

    def __init__(
        self,
        handle: Any,
        *,
        http_invoke: bool,
        jsonrpc: bool,
        cors: Optional[CorsOptions] = None,
        max_body: int = 0,
        frame_timeout: Optional[float] = 30.0,
        console: Optional["Console"] = None,
        parser: str = "auto",
        handle_now: Any = None,
    ) -> None:
        #: the web console (None: off); when on, every call through ``handle`` is counted
        self.console = console
        #: the HTTP parser: "h11" (the definition) or "httptools" (faster, same answers)
        self.parser = _parser(parser)
        #: the open HTTP connections, when the owner tracks them (the standalone gateway)
        self.connections: Optional[set[Any]] = None
        self.handle = console.counting(handle) if console is not None else handle
        #: serves a request at once when it can (the server's ``serve_now``), else None: then
        #: ``handle`` is awaited in a task
        self.handle_now = console.counting_now(handle_now) if console is not None and handle_now else handle_now
        self.max_body = max_body
        self.frame_timeout = frame_timeout
        self.http_invoke = http_invoke
        self.jsonrpc = jsonrpc
        #: CORS for both protocols (Go's ``Server.SetCORS``); None: no CORS headers at all
        self.cors = cors

    def choose(self, headers: dict[str, str]) -> Optional[str]:
        """The protocol of a connection, from its first request's headers (canonical names), in
        cmux's order: JSON-RPC's header match first, then any HTTP/1 request."""
        if self.jsonrpc and headers.get(JSONRPC_HEADER) == "true":
            return "jsonrpc"
        if self.http_invoke:
            return "invoke"
        return None

    def connection(self, conn: "ServerConnection") -> "asyncio.Protocol":
        """The handler of a server connection the sniffer gave to HTTP (``add_protocol``'s factory)."""
        return self.protocol(conn.peer)

    def protocol(self, peer: Any = None) -> "asyncio.Protocol":
        """A new HTTP connection handler with the chosen parser."""
        if self.parser == "httptools":
            from .fasthttp import FastHttpConnection

            return FastHttpConnection(peer, self)
        from .http import HttpConnection

        return HttpConnection(peer, self)


def enable_gateway(
    server: "Server",
    *,
    disable_http_gateway: bool = False,
    disable_jsonrpc: bool = False,
    cors: Optional[CorsOptions] = None,
    console: bool = False,
    parser: str = "auto",
) -> None:
    """Serve HTTP invoke and JSON-RPC 2.0 on ``server``'s ports beside rpcx (TLS too, when the
    server has TLS: the sniffing sees the decrypted bytes). The two switches are Go's
    ``Server.DisableHTTPGateway`` and ``DisableJSONRPC``; with both set nothing is registered.
    ``cors`` is Go's ``Server.SetCORS`` (``CorsOptions.allow_all()`` is ``AllowAllCORSOptions()``).
    ``console`` serves the web console under ``/_rpcx/console/`` (:mod:`rpcx.gateway.console`):
    this server's services and listeners, with the calls the gateway counted. ``parser`` picks the
    HTTP/1 parser: ``"h11"``, ``"httptools"`` (``pip install 'rpcx-python[gateway-speed]'``; about
    four times the calls/s, the same answers) or ``"auto"``: httptools when installed."""
    try:
        import h11  # noqa: F401
    except ImportError:
        raise ImportError("the rpcx gateway needs h11: pip install 'rpcx-python[gateway]'") from None
    if disable_http_gateway and disable_jsonrpc and not console:
        return
    board = None
    if console:
        from .console import Console

        board = Console(lambda: describe_server(server))
    gateway = Gateway(server.handle_message, http_invoke=not disable_http_gateway, jsonrpc=not disable_jsonrpc,
                      cors=cors, max_body=server.limits.max_message_length, frame_timeout=server.frame_timeout,
                      console=board, parser=parser, handle_now=server.serve_now)
    server.add_protocol("http", match_http, gateway.connection)


def describe_server(server: "Server") -> dict[str, Any]:
    """What the console lists for a gateway on an rpcx server: its services and its listeners,
    which all count the gateway's calls as one server (it is one)."""
    services = [{"name": name, "methods": _method_names(svc.methods), "metadata": svc.metadata}
                for name, svc in sorted(server.services.items())]
    state = "shutting down" if server._shutting_down else "serving"
    servers = [{"address": listener.address, "metadata": "", "state": state} for listener in server.listeners]
    return {"kind": "server", "services": services, "servers": servers}


def _method_names(methods: Any) -> list[str]:
    """The method names a person calls: ``mul``, the alias registered beside ``Mul``, is left out.

    >>> _method_names({"Mul": 1, "mul": 1, "ping": 1})
    ['Mul', 'ping']
    """
    return sorted(m for m in methods if not (m[:1].islower() and m[:1].upper() + m[1:] in methods))


def _parser(name: str) -> str:
    """The parser ``name`` stands for; ``auto`` is httptools when it can be imported.

    >>> _parser("h11")
    'h11'
    """
    if name == "auto":
        try:
            import httptools  # noqa: F401
        except ImportError:
            return "h11"
        return "httptools"
    if name == "httptools":
        try:
            import httptools  # noqa: F401,F811
        except ImportError:
            raise ImportError("parser='httptools' needs httptools: pip install 'rpcx-python[gateway-speed]'") from None
        return name
    if name != "h11":
        raise ValueError(f"parser is 'h11', 'httptools' or 'auto', got {name!r}")
    return name
