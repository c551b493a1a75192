"""The transport contract: one ``listen``/``dial`` module per rpcx network name (layer: transport).

Every network name that may appear in an rpcx key (``tcp@127.0.0.1:8972``, ``unix@/tmp/a.sock``,
``memory@name``, ``http@``, ``ws@``, ``wss@``, ``reuseport@``, ``quic@``; later ``kcp@``) maps to
one module in :data:`TRANSPORTS`, imported only when its network is first used, so an extra is needed only by those who use it.
A module provides (:class:`NetworkModule`)::

    TLS: bool                     # does this network take TLS?
    async def listen(addr, protocol_factory, *, ssl=None, <explicit options>) -> Listener
    async def dial(addr, protocol_factory, *, ssl=None, timeout=None, server_hostname=None,
                   <explicit options>) -> (transport, protocol)

Connections speak asyncio's Protocol/Transport interface, which the server and client cores
drive: the transport is a :class:`ConnectionTransport` (the subset of ``asyncio.Transport`` we rely
on) and the protocol a :class:`ConnectionProtocol`. Sockets get asyncio's own transports; a network
that is not a socket (``memory``, later QUIC streams) supplies an object with the same behaviour,
and ``rpcx.testing.transport_conformance`` checks that it does.

The TLS rule is Go's: tcp, tcp4, tcp6, http, wss and quic take TLS (quic must); unix, memory, ws and reuseport do not
(Go's server listens on unix and reuseport in plain text even when it has a TLS config; ws is
discussed in ``rpcx/transport/ws.py``). :func:`listen` and :func:`dial` refuse ``ssl=`` on
a network without TLS (:class:`~rpcx.errors.RpcxError`), and refuse an option the network does not
declare (``TypeError``). A Server or Client has one TLS setting for all its addresses, so it asks
:func:`tls_for`, which hands the context only to networks that take it and logs a warning (once
per network) when it is left unused, as Go's server silently does.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import logging
import ssl as _ssl
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Protocol, cast, runtime_checkable

from ..errors import RpcxError

__all__ = [
    "Address",
    "Listener",
    "ConnectionTransport",
    "ConnectionProtocol",
    "NetworkModule",
    "ProtocolFactory",
    "parse_address",
    "transport_for",
    "takes_tls",
    "refuse_tls",
    "tls_for",
    "dial_options",
    "listen",
    "dial",
    "server_tls_context",
    "cert_chain_of",
    "TRANSPORTS",
]

log = logging.getLogger("rpcx.transport")

ProtocolFactory = Callable[[], asyncio.Protocol]

#: network name -> module implementing it (and the pip extra it needs, if any)
TRANSPORTS: dict[str, tuple[str, str | None]] = {
    "tcp": ("rpcx.transport.tcp", None),
    "tcp4": ("rpcx.transport.tcp", None),
    "tcp6": ("rpcx.transport.tcp", None),
    "unix": ("rpcx.transport.unix", None),
    "memory": ("rpcx.transport.memory", None),
    "memu": ("rpcx.transport.memory", None),  # Go's name for its in-memory network
    "http": ("rpcx.transport.http", None),
    "ws": ("rpcx.transport.ws", "ws"),
    "wss": ("rpcx.transport.wss", "ws"),
    "reuseport": ("rpcx.transport.reuseport", None),
    "quic": ("rpcx.transport.quic", "quic"),
    "kcp": ("rpcx.transport.kcp", "kcp"),
}

#: the networks whose modules declare ``TLS = True`` (for messages, without importing every module)
_TLS_NETWORKS = "tcp, tcp4, tcp6, http, wss and quic"

#: keyword options every module's listen / dial must accept (the server and client always pass them)
LISTEN_OPTIONS = frozenset({"ssl"})
DIAL_OPTIONS = frozenset({"ssl", "timeout", "server_hostname"})


@dataclass(frozen=True)
class Address:
    """A parsed rpcx server key.

    >>> parse_address("tcp@127.0.0.1:8972")
    Address(network='tcp', address='127.0.0.1:8972')
    >>> parse_address("127.0.0.1:8972").network
    'tcp'
    >>> str(parse_address("unix@/tmp/a.sock"))
    'unix@/tmp/a.sock'
    """

    network: str
    address: str

    def __str__(self) -> str:
        return f"{self.network}@{self.address}"


def parse_address(key: str) -> Address:
    """Split ``network@address``; a key without ``@`` is tcp, as in Go."""
    network, sep, address = key.partition("@")
    if not sep:
        return Address("tcp", key)
    if not network or not address:
        raise ValueError(f"bad server address {key!r}: expected network@address")
    return Address(network, address)


# -- the contract ---------------------------------------------------------------------------------
class Listener(Protocol):
    """What a module's ``listen`` returns: a bound endpoint accepting connections.

    ``close()`` stops accepting (connections already made stay open: the server closes those
    itself); ``wait_closed()`` returns once the listener is fully closed.
    """

    #: the bound address as an rpcx key (``tcp@127.0.0.1:40123`` when port 0 was asked for)
    address: str

    def close(self) -> None: ...

    async def wait_closed(self) -> None: ...


@runtime_checkable
class ConnectionTransport(Protocol):
    """One end of a connection, as the server and client protocols drive it: the subset of
    ``asyncio.Transport`` rpcx relies on, with asyncio's semantics.

    * ``write(data)`` queues bytes, never blocks and never calls back into the peer. When the bytes
      the peer has not consumed pass the high-water mark (64 KiB by default), the writing protocol
      gets ``pause_writing()``; once they drop to the low-water mark, ``resume_writing()``.
      ``get_write_buffer_size()`` says how many bytes are queued on this side.
    * ``pause_reading()`` / ``resume_reading()``: no ``data_received`` while paused; what the peer
      writes meanwhile queues on the peer's side (and pauses the peer's protocol in turn).
    * ``close()`` flushes what was written, then the peer sees EOF, then ``connection_lost(None)``;
      nothing more is read. ``abort()`` drops what is queued and ends at once (the peer sees a
      reset or EOF). ``is_closing()`` is true after either.
    * ``write_eof()`` half-closes (only where ``can_write_eof()``; TLS cannot).
    * ``get_extra_info`` keys used: ``'peername'`` and ``'sockname'`` (for logs and
      ``Context.peer``), ``'ssl_object'`` and ``'peercert'`` (None without TLS).

    >>> import asyncio
    >>> issubclass(asyncio.Transport, ConnectionTransport)   # asyncio's own transports conform
    True
    """

    def write(self, data: bytes | bytearray | memoryview) -> None: ...

    def close(self) -> None: ...

    def abort(self) -> None: ...

    def is_closing(self) -> bool: ...

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...

    def get_extra_info(self, name: str, default: Any = None) -> Any: ...

    def get_write_buffer_size(self) -> int: ...

    def can_write_eof(self) -> bool: ...

    def write_eof(self) -> None: ...


class ConnectionProtocol(Protocol):
    """What the transport calls, on the event loop, never from inside ``write()``, in this order:
    ``connection_made(transport)``, then ``data_received(bytes)`` any number of times, then at most
    one ``eof_received()`` (return a true value to stay half-open; otherwise the transport closes),
    then exactly one ``connection_lost(exc)`` (None after an orderly close). ``pause_writing()`` /
    ``resume_writing()`` alternate, starting with pause, whenever the write buffer crosses the
    water marks. ``asyncio.Protocol`` subclasses conform.
    """

    def connection_made(self, transport: Any) -> None: ...

    def data_received(self, data: bytes) -> None: ...

    def eof_received(self) -> bool | None: ...

    def connection_lost(self, exc: Exception | None) -> None: ...

    def pause_writing(self) -> None: ...

    def resume_writing(self) -> None: ...


class NetworkModule(Protocol):
    """The interface of a network module (``rpcx/transport/tcp.py`` is the model).

    Options are explicit keyword-only parameters with defaults, never ``**kwargs``: :func:`listen`
    and :func:`dial` read the accepted names from the signatures and refuse anything else.
    ``dial`` translates its failures into :class:`~rpcx.errors.RpcxConnectionError`.
    """

    #: whether this network takes TLS (the ``ssl`` option)
    TLS: bool

    async def listen(
        self, addr: Address, protocol_factory: ProtocolFactory, *, ssl: _ssl.SSLContext | None = None
    ) -> Listener: ...

    async def dial(
        self, addr: Address, protocol_factory: ProtocolFactory, *, ssl: _ssl.SSLContext | None = None,
        timeout: float | None = None, server_hostname: str | None = None,
    ) -> tuple[ConnectionTransport, asyncio.Protocol]: ...


# -- lookup and validation ------------------------------------------------------------------------
_checked: dict[str, tuple[frozenset[str], frozenset[str]]] = {}


def transport_for(network: str) -> NetworkModule:
    """The module implementing ``network``; a clear error names an unknown network or missing extra."""
    try:
        module_name, extra = TRANSPORTS[network]
    except KeyError:
        raise RpcxError(f"{network} unsupported: known networks are {', '.join(sorted(TRANSPORTS))}") from None
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:  # tests/transport/test_extras.py hides each extra's package
        raise RpcxError(f"the {network} transport needs: pip install 'rpcx-python[{extra}]' ({exc})") from exc
    if module_name not in _checked:
        _checked[module_name] = _check_module(module_name, module)
    return cast(NetworkModule, module)


def _check_module(name: str, module: Any) -> tuple[frozenset[str], frozenset[str]]:
    """The keyword options of ``module``'s listen and dial, after checking it keeps the contract
    (a mistake in a new module is reported when it is first used, not when a peer misbehaves)."""
    if not isinstance(getattr(module, "TLS", None), bool):
        raise TypeError(f"transport module {name} must declare TLS = True or False")
    found = []
    for fn_name, required in (("listen", LISTEN_OPTIONS), ("dial", DIAL_OPTIONS)):
        fn = getattr(module, fn_name, None)
        if not inspect.iscoroutinefunction(fn):
            raise TypeError(f"transport module {name} must define 'async def {fn_name}'")
        params = list(inspect.signature(fn).parameters.values())
        if any(p.kind is p.VAR_KEYWORD for p in params):
            raise TypeError(f"{name}.{fn_name} takes **kwargs: declare each option as a keyword-only parameter")
        options = frozenset(p.name for p in params if p.kind is p.KEYWORD_ONLY)
        if not required <= options:
            raise TypeError(f"{name}.{fn_name} must accept {', '.join(sorted(required - options))}")
        found.append(options)
    return found[0], found[1]


def _validate(network: str, verb: str, options: dict[str, Any]) -> NetworkModule:
    module = transport_for(network)
    listen_opts, dial_opts = _checked[TRANSPORTS[network][0]]
    accepted = listen_opts if verb == "listen" else dial_opts
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise TypeError(
            f"{verb}() on the {network} network got unknown option(s) {', '.join(map(repr, unknown))}; "
            f"it accepts: {', '.join(sorted(accepted))}"
        )
    if options.get("ssl") is not None and not module.TLS:
        raise RpcxError(
            f"the {network} network does not take TLS (as in Go, only {_TLS_NETWORKS} do): "
            f"{verb} without ssl= or use a tcp address"
        )
    return module


def dial_options(network: str) -> frozenset[str]:
    """The keyword options ``network``'s dial accepts (a client passes the ones it has, e.g. ``path``).

    >>> "path" in dial_options("http"), "path" in dial_options("tcp")
    (True, False)
    """
    transport_for(network)
    return _checked[TRANSPORTS[network][0]][1]


def refuse_tls(addr: Address, ssl: _ssl.SSLContext | None) -> None:
    """For modules with ``TLS = False``: a direct call with ``ssl=`` fails as :func:`listen` would."""
    if ssl is not None:
        raise RpcxError(f"the {addr.network} network does not take TLS (as in Go, only {_TLS_NETWORKS} do)")


def takes_tls(network: str) -> bool:
    """Whether ``network`` takes TLS: Go's rule, tcp/tcp4/tcp6, http (CONNECT inside TLS), wss and
    quic (which cannot do without) yes; unix, memory, ws and reuseport (whose Go listener ignores the TLS config) no.

    >>> takes_tls("tcp"), takes_tls("http"), takes_tls("unix"), takes_tls("memory")
    (True, True, False, False)
    """
    return transport_for(network).TLS


_cert_chains: "weakref.WeakKeyDictionary[_ssl.SSLContext, tuple[str, str | None]]" = weakref.WeakKeyDictionary()


def server_tls_context(certfile: str, keyfile: str | None = None) -> _ssl.SSLContext:
    """A server TLS context loaded from ``certfile``/``keyfile``, which also remembers the two
    files: QUIC's TLS (aioquic) cannot take an ``ssl.SSLContext`` and loads them itself.

    >>> try:
    ...     server_tls_context("/nonexistent/cert.pem")
    ... except FileNotFoundError:
    ...     print("no such file")
    no such file
    """
    context = _ssl.create_default_context(_ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certfile, keyfile)
    _cert_chains[context] = (certfile, keyfile)
    return context


def cert_chain_of(context: _ssl.SSLContext) -> tuple[str, str | None] | None:
    """The ``(certfile, keyfile)`` a context was made from by :func:`server_tls_context`, else None."""
    return _cert_chains.get(context)


_tls_ignored: set[str] = set()


def tls_for(network: str, context: _ssl.SSLContext | None) -> _ssl.SSLContext | None:
    """The TLS context a Server or Client should use on ``network``: ``context`` where the network
    takes TLS, else None, with a warning logged once per network (a Go server listens on unix in
    plain text even with a TLS config, and a Go client's TLS dial on unix fails against it).

    >>> tls_for("unix", None) is None
    True
    """
    if context is None or takes_tls(network):
        return context
    if network not in _tls_ignored:
        _tls_ignored.add(network)
        log.warning("TLS is configured but the %s network does not take it (only %s do): "
                    "%s connections are plain text", network, _TLS_NETWORKS, network)
    return None


async def listen(key: str | Address, protocol_factory: ProtocolFactory, **options: Any) -> Listener:
    """Listen on ``key`` with the options its network declares (see :class:`NetworkModule`)."""
    addr = key if isinstance(key, Address) else parse_address(key)
    return await _validate(addr.network, "listen", options).listen(addr, protocol_factory, **options)


async def dial(
    key: str | Address, protocol_factory: ProtocolFactory, **options: Any
) -> tuple[ConnectionTransport, asyncio.Protocol]:
    """Connect to ``key``; failures raise :class:`~rpcx.errors.RpcxConnectionError`."""
    addr = key if isinstance(key, Address) else parse_address(key)
    return await _validate(addr.network, "dial", options).dial(addr, protocol_factory, **options)


if TYPE_CHECKING:
    # mypy proves asyncio's transports keep the contract the docs above promise
    def _asyncio_conforms(t: asyncio.Transport) -> ConnectionTransport:
        return t
