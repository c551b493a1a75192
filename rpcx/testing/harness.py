"""The harness of the transport conformance suite: cases, a raw peer, a watched server (layer: testing).

:class:`TransportCase` describes one transport under test (how to get a fresh address, TLS contexts,
capability flags); :func:`serving` runs a real :class:`rpcx.Server` with :class:`ConformanceService`
on it and fails if anything logged an ERROR; :class:`RawPeer` is a hand-driven connection over
:func:`rpcx.transport.dial`, for the misbehaving peers. The checks themselves are in
:mod:`rpcx.testing.transport_conformance`.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import ssl
import subprocess
import uuid
from collections import deque
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Awaitable, Callable, Iterator

from ..client import Client, Option
from ..protocol import FrameDecoder, Limits, Message, SerializeType, encode
from ..server import Context, Server
from ..transport import ConnectionTransport, dial, parse_address, server_tls_context

__all__ = [
    "quic_case",
    "WAIT",
    "ConformanceService",
    "NotCapable",
    "RawPeer",
    "TransportCase",
    "connected",
    "expect",
    "http_case",
    "https_case",
    "memory_case",
    "reuseport_case",
    "request",
    "self_signed_cert",
    "serving",
    "tcp_case",
    "tls_case",
    "unix_case",
    "ws_case",
    "wss_case",
    "until",
    "within",
]

#: hang guard for "this must happen" on a loaded machine
WAIT = 10.0

#: the serialize type of every payload the suite sends: raw bytes
RAW = SerializeType.NONE


class NotCapable(Exception):
    """The transport declares (truthfully: the check verified it) that it cannot do this check."""


@dataclass(frozen=True)
class TransportCase:
    """One transport under test.

    >>> tcp_case().name, parse_address(tcp_case().address()).network
    ('tcp', 'tcp')
    """

    name: str
    #: a fresh address to listen on, called once per server (port 0, a new path, a new name)
    address: Callable[[], str]
    server_tls: ssl.SSLContext | None = None
    client_tls: ssl.SSLContext | None = None
    server_hostname: str | None = None
    #: capability: the client end can half-close (``write_eof``); asyncio's TLS transports cannot
    half_close: bool = True
    #: the network of the address a listener reports, when it is not the one listened on
    #: (``reuseport`` listeners report ``tcp@``, what Go registers and clients dial)
    bound_network: str | None = None
    #: the server sees a connection only once the client has written on it (QUIC: the stream is
    #: opened by its first bytes), so checks that need the server's side first send one request
    opens_on_first_write: bool = False
    #: extra options the network needs: for ``Server.start``/``listen``, for ``dial``, for the
    #: client's ``Option`` (kcp: the block crypt on all three)
    listen_options: dict[str, Any] = field(default_factory=dict)
    dial_options: dict[str, Any] = field(default_factory=dict)
    client_options: dict[str, Any] = field(default_factory=dict)

    def option(self, **kwargs: Any) -> Option:
        """A client ``Option`` for this case (its TLS settings, the suite's connect timeout)."""
        return Option(tls=self.client_tls, server_hostname=self.server_hostname, connect_timeout=WAIT,
                      **{**self.client_options, **kwargs})


def tcp_case(host: str = "127.0.0.1") -> TransportCase:
    return TransportCase("tcp", lambda: f"tcp@{host}:0")


_counter = itertools.count(1)


def http_case(host: str = "127.0.0.1") -> TransportCase:
    """The HTTP CONNECT tunnel (``http@``), plain."""
    return TransportCase("http", lambda: f"http@{host}:0")


def https_case(cert: str, key: str, host: str = "127.0.0.1") -> TransportCase:
    """The HTTP CONNECT tunnel inside TLS, as Go's http network with a TLS config."""
    return _with_tls("https", lambda: f"http@{host}:0", cert, key)


def ws_case(host: str = "127.0.0.1") -> TransportCase:
    """rpcx over WebSocket (``ws@``); WebSocket has no half-close (a Close frame ends both ways)."""
    return TransportCase("ws", lambda: f"ws@{host}:0", half_close=False)


def wss_case(cert: str, key: str, host: str = "127.0.0.1") -> TransportCase:
    """rpcx over WebSocket inside TLS (``wss@``)."""
    return _with_tls("wss", lambda: f"wss@{host}:0", cert, key)


def kcp_case(password: str = "rpcx-key", host: str = "127.0.0.1", idle_timeout: float = 2.0) -> TransportCase:
    """rpcx over KCP (``kcp@``, the ``kcp`` extra) with the rpcx examples' key derivation. KCP has
    no FIN and no half-close: a peer that closed or vanished is noticed by silence, so the server
    forgets sessions after ``idle_timeout``, and raw peers notice a server that closed on them the
    same way (short here, so the checks that wait for it finish)."""
    from ..transport.kcp import block_from_password

    block = block_from_password(password)
    return TransportCase("kcp", lambda: f"kcp@{host}:0", half_close=False,
                         listen_options={"block": block, "idle_timeout": idle_timeout},
                         dial_options={"block": block, "idle_timeout": idle_timeout},
                         client_options={"kcp_block": block})


def reuseport_case(host: str = "127.0.0.1") -> TransportCase:
    """tcp with SO_REUSEPORT; its listeners report ``tcp@`` keys, as Go's register."""
    return TransportCase("reuseport", lambda: f"reuseport@{host}:0", bound_network="tcp")


def unix_case(directory: str) -> TransportCase:
    """Sockets under ``directory`` (keep it short: a socket path is limited to ~100 bytes)."""
    return TransportCase("unix", lambda: f"unix@{os.path.join(directory, f'c{next(_counter)}.sock')}")


def memory_case(network: str = "memory") -> TransportCase:
    return TransportCase(network, lambda: f"{network}@conformance-{uuid.uuid4().hex[:12]}")


def tls_case(cert: str, key: str, host: str = "127.0.0.1") -> TransportCase:
    """tcp with TLS; ``cert`` (also the client's CA) must name ``host`` (see :func:`self_signed_cert`)."""
    return _with_tls("tls", lambda: f"tcp@{host}:0", cert, key)


def _with_tls(name: str, address: Callable[[], str], cert: str, key: str) -> TransportCase:
    # asyncio's TLS transports cannot write EOF, hence half_close=False
    server_ctx = server_tls_context(cert, key)
    client_ctx = ssl.create_default_context(cafile=cert)
    return TransportCase(name, address, server_ctx, client_ctx, half_close=False)


def quic_case(cert: str, key: str, host: str = "127.0.0.1") -> TransportCase:
    """rpcx over one QUIC stream (``quic@``, the ``quic`` extra). The client has no TLS context, so
    it does not verify the server, as Go's quic client (``cert`` is not marked as a CA, which
    aioquic would need to trust it). QUIC streams half-close; the stream exists once the client
    has written (as quic-go's)."""
    return TransportCase("quic", lambda: f"quic@{host}:0", server_tls_context(cert, key), None,
                         opens_on_first_write=True)


def self_signed_cert(directory: str) -> tuple[str, str]:
    """Write a one-day certificate for 127.0.0.1 and localhost; return ``(cert, key)`` paths. Uses
    ``cryptography`` if installed, else the ``openssl`` command (RuntimeError if neither works)."""
    cert, key = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    try:
        from cryptography import x509  # noqa: F401
    except ImportError:
        cmd = [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-days", "1",
            "-keyout", key, "-out", cert,
        ]
        try:
            subprocess.run(cmd, check=True, capture_output=True, timeout=60)
        except (OSError, subprocess.SubprocessError) as exc:
            raise RuntimeError(f"cannot make a test certificate: no cryptography, and openssl failed ({exc})") from exc
        return cert, key
    _cert_with_cryptography(cert, key)  # pragma: no cover - depends on the environment
    return cert, key  # pragma: no cover


def _cert_with_cryptography(cert: str, key: str) -> None:  # pragma: no cover - depends on the environment
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    k = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    c = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(k.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(k, hashes.SHA256())
    )
    with open(key, "wb") as f:
        f.write(k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()))
    with open(cert, "wb") as f:
        f.write(c.public_bytes(serialization.Encoding.PEM))


class ConformanceService:
    """The suite's own service, registered as ``Conformance``; every method takes raw bytes.

    >>> ConformanceService().echo(b"x")
    b'x'
    """

    def echo(self, data: bytes) -> bytes:
        return data

    async def async_echo(self, data: bytes) -> bytes:
        await asyncio.sleep(0)  # replies come back out of order with Echo's
        return data

    async def push_back(self, ctx: Context, data: bytes) -> bytes:
        """Push ``data`` to the caller (as ``Conformance.Pushed``), then reply with it."""
        await ctx.connection.server.send_message(ctx.connection, "Conformance", "Pushed", {"from": "call"}, data)
        return data


def request(method: str, payload: bytes, seq: int = 1) -> bytes:
    """A raw-serialized request frame for ``Conformance.<method>``."""
    return encode(Message(service_path="Conformance", service_method=method, serialize_type=RAW, seq=seq,
                          payload=payload))


class RawPeer(asyncio.Protocol):
    """A hand-driven connection over any network: write any bytes, read whole frames, pause
    reading, half-close or vanish. Open it with :meth:`open`."""

    def __init__(self) -> None:
        self.transport: ConnectionTransport | None = None
        self.decoder = FrameDecoder(Limits(0, 0))
        self.frames: deque[Message] = deque()
        self.eof = False
        self.lost: asyncio.Future[Exception | None] = asyncio.get_running_loop().create_future()
        self._arrived = asyncio.Event()
        #: set while the transport has not asked us to pause writing
        self.can_write = asyncio.Event()
        self.can_write.set()

    @classmethod
    async def open(cls, case: TransportCase, address: str) -> "RawPeer":
        peer = cls()
        await dial(address, lambda: peer, ssl=case.client_tls, timeout=WAIT, server_hostname=case.server_hostname,
                   **case.dial_options)
        return peer

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.frames.extend(self.decoder.feed(data))
        self._arrived.set()

    def eof_received(self) -> bool | None:
        self.eof = True
        self._arrived.set()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        if not self.lost.done():
            self.lost.set_result(exc)
        self._arrived.set()

    def pause_writing(self) -> None:
        self.can_write.clear()

    def resume_writing(self) -> None:
        self.can_write.set()

    def send(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)

    async def recv(self, timeout: float = WAIT) -> Message | None:
        """The next frame, or None once the connection has ended."""
        async with asyncio.timeout(timeout):
            while not self.frames:
                if self.eof:
                    return None
                self._arrived.clear()
                await self._arrived.wait()
        return self.frames.popleft()

    async def wait_closed(self, timeout: float = WAIT) -> list[Message]:
        """Wait for the connection to end; return the frames that arrived and were not read."""
        await within(asyncio.shield(self.lost), "the raw peer's connection to end", timeout)
        frames, self.frames = list(self.frames), deque()
        return frames


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def _watch_logs() -> Iterator[list[logging.LogRecord]]:
    handler = _Records()
    loggers = [logging.getLogger(n) for n in ("rpcx", "asyncio")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        if lg.getEffectiveLevel() > logging.WARNING:
            lg.setLevel(logging.WARNING)
    try:
        yield handler.records
    finally:
        for lg, level in zip(loggers, levels):
            lg.removeHandler(handler)
            lg.setLevel(level)


@asynccontextmanager
async def serving(case: TransportCase, **server_options: Any) -> AsyncIterator[tuple[Server, str, list[logging.LogRecord]]]:
    """A Server with :class:`ConformanceService` on a fresh address of ``case``: yields the server,
    its bound address and the WARNING+ log records so far; closes it after; fails the check if
    anything logged an ERROR."""
    with _watch_logs() as records:
        srv = Server(tls=case.server_tls, **server_options)
        srv.register(ConformanceService(), name="Conformance")
        try:
            addr = await srv.start(case.address(), **case.listen_options)
            yield srv, addr, records
        finally:
            await srv.close()
            for _ in range(5):  # let the connection_lost callbacks of the close run
                await asyncio.sleep(0)
    errors = [f"{r.name}: {r.getMessage()}" for r in records if r.levelno >= logging.ERROR]
    expect(not errors, f"{case.name}: errors were logged: {errors}")


@asynccontextmanager
async def connected(case: TransportCase, address: str, **kwargs: Any) -> AsyncIterator[Client]:
    """A :class:`rpcx.Client` to ``address`` with the case's options, closed after."""
    c = await Client.connect(address, case.option(), **kwargs)
    try:
        yield c
    finally:
        await c.aclose()


def expect(ok: bool, message: str) -> None:
    # a plain raise, not assert: this module is not rewritten by pytest and must not print 4 MiB
    if not ok:
        raise AssertionError(message)


async def within(aw: Awaitable[Any], what: str, timeout: float = WAIT) -> Any:
    try:
        return await asyncio.wait_for(aw, timeout)
    except TimeoutError:
        raise AssertionError(f"timed out after {timeout}s waiting for {what}") from None


async def until(predicate: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    async def poll() -> None:
        while not predicate():
            await asyncio.sleep(0.01)

    await within(poll(), what, timeout)

