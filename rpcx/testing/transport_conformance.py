"""The transport conformance suite: what every rpcx network must carry (layer: testing).

Each check is a coroutine ``check(case)`` that starts a real :class:`rpcx.Server` (serving
:class:`ConformanceService` as ``Conformance``) on a fresh address from a :class:`TransportCase`,
drives it with :class:`rpcx.Client` and with :class:`RawPeer` (a hand-driven connection over
:func:`rpcx.transport.dial`, for the misbehaving peers), and raises ``AssertionError`` on a
failure. Every check also fails if anything logged an ERROR on the ``rpcx`` or ``asyncio`` loggers
(a crashed callback, an exception nobody retrieved). Bounds on waiting are hang guards, not
speed checks.

A transport that cannot do something says so in its case (``half_close=False`` for TLS, whose
asyncio transports cannot write EOF); the check then verifies the flag is true of the transport
and raises :class:`NotCapable` with the reason, which a test runner reports as a skip.

Run it from pytest (``tests/transport/test_conformance.py`` is the model)::

    import pytest
    from rpcx.testing.transport_conformance import CHECKS, NotCapable, memory_case

    @pytest.mark.parametrize("check", sorted(CHECKS))
    async def test_memory(check):
        try:
            await CHECKS[check](memory_case())
        except NotCapable as exc:
            pytest.skip(str(exc))
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import random
import ssl
import subprocess
import uuid
from collections import deque
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any, AsyncIterator, Awaitable, Callable, Iterator

from ..client import Client, Option
from ..errors import CallTimeoutError, RpcxConnectionError, RpcxError
from ..protocol import FrameDecoder, Limits, Message, SerializeType, encode
from ..server import Context, Server
from ..transport import ConnectionTransport, dial, listen, parse_address, takes_tls

__all__ = [
    "CHECKS",
    "ConformanceService",
    "NotCapable",
    "RawPeer",
    "TransportCase",
    "memory_case",
    "self_signed_cert",
    "serving",
    "tcp_case",
    "tls_case",
    "unix_case",
]

#: hang guard for "this must happen" on a loaded machine
WAIT = 10.0
#: the server's max_message_length in check_large_messages (a 4 MiB echo fits, LIMIT + 1 does not)
LIMIT = 6 << 20
#: what the slow-reader check lets a server queue for one peer that does not read
BUFFER_BOUND = 4 << 20

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

    def option(self, **kwargs: Any) -> Option:
        return Option(tls=self.client_tls, server_hostname=self.server_hostname, connect_timeout=WAIT, **kwargs)


def tcp_case(host: str = "127.0.0.1") -> TransportCase:
    return TransportCase("tcp", lambda: f"tcp@{host}:0")


_counter = itertools.count(1)


def unix_case(directory: str) -> TransportCase:
    """Sockets under ``directory`` (keep it short: a socket path is limited to ~100 bytes)."""
    return TransportCase("unix", lambda: f"unix@{os.path.join(directory, f'c{next(_counter)}.sock')}")


def memory_case(network: str = "memory") -> TransportCase:
    return TransportCase(network, lambda: f"{network}@conformance-{uuid.uuid4().hex[:12]}")


def tls_case(cert: str, key: str, host: str = "127.0.0.1") -> TransportCase:
    """tcp with TLS; ``cert`` (also the client's CA) must name ``host`` (see :func:`self_signed_cert`)."""
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    client_ctx = ssl.create_default_context(cafile=cert)
    return TransportCase("tls", lambda: f"tcp@{host}:0", server_ctx, client_ctx, half_close=False)


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
        await dial(address, lambda: peer, ssl=case.client_tls, timeout=WAIT, server_hostname=case.server_hostname)
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
        await _within(asyncio.shield(self.lost), "the raw peer's connection to end", timeout)
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
            addr = await srv.start(case.address())
            yield srv, addr, records
        finally:
            await srv.close()
            for _ in range(5):  # let the connection_lost callbacks of the close run
                await asyncio.sleep(0)
    errors = [f"{r.name}: {r.getMessage()}" for r in records if r.levelno >= logging.ERROR]
    _expect(not errors, f"{case.name}: errors were logged: {errors}")


@asynccontextmanager
async def _client(case: TransportCase, address: str, **kwargs: Any) -> AsyncIterator[Client]:
    c = await Client.connect(address, case.option(), **kwargs)
    try:
        yield c
    finally:
        await c.aclose()


def _expect(ok: bool, message: str) -> None:
    # a plain raise, not assert: this module is not rewritten by pytest and must not print 4 MiB
    if not ok:
        raise AssertionError(message)


async def _within(aw: Awaitable[Any], what: str, timeout: float = WAIT) -> Any:
    try:
        return await asyncio.wait_for(aw, timeout)
    except TimeoutError:
        raise AssertionError(f"timed out after {timeout}s waiting for {what}") from None


async def _until(predicate: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    async def poll() -> None:
        while not predicate():
            await asyncio.sleep(0.01)

    await _within(poll(), what, timeout)


async def _echo(c: Client, payload: bytes, method: str = "Echo") -> bytes:
    return await c.call("Conformance", method, payload, bytes, serialize_type=RAW, timeout=WAIT * 3)  # type: ignore[no-any-return]


# -- the checks -----------------------------------------------------------------------------------
async def check_basics(case: TransportCase) -> None:
    """A call works; the contract's extra info is there (peer address; TLS objects exactly when TLS
    is on); listen/dial refuse unknown options and TLS where the network takes none; dialing an
    address nobody listens on fails with RpcxConnectionError."""
    async with serving(case) as (srv, addr, _):
        network = parse_address(addr).network
        _expect(network == parse_address(case.address()).network, f"bound address {addr} changed network")
        async with _client(case, addr) as c:
            _expect(await _echo(c, b"hello") == b"hello", "echo came back changed")
            await _until(lambda: len(srv.connections) == 1, "the server to see one connection")
            (conn,) = srv.connections
            t = conn.transport
            assert t is not None
            _expect(isinstance(t, ConnectionTransport), f"{t!r} does not keep the ConnectionTransport contract")
            _expect(conn.peer is not None, "the server connection has no peer address")
            _expect((t.get_extra_info("ssl_object") is not None) == (case.server_tls is not None),
                    "ssl_object present without TLS or missing with it")
        peer = await RawPeer.open(case, addr)
        assert peer.transport is not None
        _expect(peer.transport.get_extra_info("peername") is not None, "the dialing end has no peername")
        cert = peer.transport.get_extra_info("peercert")
        _expect(bool(cert) == (case.client_tls is not None), f"peercert {cert!r} does not match the TLS setting")
        peer.transport.close()
        await peer.wait_closed()

        factory = asyncio.Protocol
        try:
            await listen(case.address(), factory, no_such_option=1)
        except TypeError as exc:
            _expect("no_such_option" in str(exc) and network in str(exc), f"unclear error: {exc}")
        else:
            raise AssertionError("listen accepted an unknown option")
        try:
            await dial(addr, factory, timeout=WAIT, no_such_option=1)
        except TypeError as exc:
            _expect("no_such_option" in str(exc) and "timeout" in str(exc), f"unclear error: {exc}")
        else:
            raise AssertionError("dial accepted an unknown option")
        if not takes_tls(network):
            try:
                await listen(case.address(), factory, ssl=ssl.create_default_context(ssl.Purpose.CLIENT_AUTH))
            except RpcxError as exc:
                _expect("TLS" in str(exc), f"unclear error: {exc}")
            else:
                raise AssertionError(f"listen on {network} accepted ssl=")
    try:
        await Client.connect(addr, case.option())
    except RpcxConnectionError:
        pass
    else:
        raise AssertionError(f"dialing {addr} after its server closed did not fail")


async def check_large_messages(case: TransportCase) -> None:
    """A 4 MiB raw echo comes back byte for byte; a frame one byte over the server's
    ``max_message_length`` gets that connection closed with a clear warning in the server log,
    while another connection carries on."""
    async with serving(case, limits=Limits(max_message_length=LIMIT)) as (srv, addr, records):
        async with _client(case, addr) as bystander, _client(case, addr) as c:
            big = random.Random(1).randbytes(4 << 20)
            got = await _echo(c, big)
            _expect(got == big, f"a 4 MiB echo came back changed ({len(got)} bytes)")
            got = await _echo(c, big[: 3 << 20], "AsyncEcho")
            _expect(got == big[: 3 << 20], "a 3 MiB async echo came back changed")

            overhead = len(request("Echo", b"")) - 16
            too_long = bytes(LIMIT + 1 - overhead)
            _expect(len(request("Echo", too_long)) - 16 == LIMIT + 1, "the oversized frame is mis-sized")
            try:
                await _echo(c, too_long)
            except RpcxConnectionError:
                pass
            else:
                raise AssertionError(f"a frame of {LIMIT + 1} bytes passed a limit of {LIMIT}")
            _expect(any("too long" in r.getMessage() for r in records),
                    f"no 'message is too long' warning: {[r.getMessage() for r in records]}")
            _expect(await _echo(bystander, big[:1 << 20]) == big[:1 << 20], "the other connection broke")
            await _until(lambda: len(srv.connections) == 1, "the refused connection to be dropped")


async def check_many_concurrent_calls(case: TransportCase) -> None:
    """1,000 calls in flight at once on one connection (sync and async methods, so replies come
    back out of order, payloads of many sizes so frames split across reads) all get their own reply."""
    async with serving(case) as (srv, addr, _):
        async with _client(case, addr) as c:
            payloads = [(b"%d:" % i) * (1 + (i * 37) % 700) for i in range(1000)]
            replies = await _within(
                asyncio.gather(*(_echo(c, p, "AsyncEcho" if i % 2 else "Echo") for i, p in enumerate(payloads))),
                "1,000 concurrent calls", WAIT * 3,
            )
            wrong = [i for i, (p, r) in enumerate(zip(payloads, replies)) if p != r]
            _expect(not wrong, f"{len(wrong)} of 1,000 replies wrong, first at call {wrong[:1]}")
            _expect(len(srv.connections) == 1, f"{len(srv.connections)} server connections for one client")


async def check_half_close(case: TransportCase) -> None:
    """A client writes three requests and half-closes (EOF on its write side). Go's server stops
    reading at EOF and closes, and so does ours; requests it had already answered must not be lost
    on the way out. Checked: the replies to the requests before the EOF (plain methods, answered as
    they are read) all arrive, then the server closes, forgets the connection, logs no error and
    keeps serving. (A reply an async method produces after the EOF may be dropped, as in Go.)"""
    async with serving(case) as (srv, addr, _):
        peer = await RawPeer.open(case, addr)
        assert peer.transport is not None
        if not case.half_close:
            _expect(not peer.transport.can_write_eof(),
                    f"{case.name} declares half_close=False but its transport can write EOF: fix the flag")
            peer.transport.abort()
            raise NotCapable(f"{case.name}: its transports cannot half-close (can_write_eof() is False)")
        _expect(peer.transport.can_write_eof(), f"{case.name} declares half_close=True but cannot write EOF")
        peer.send(b"".join(request("Echo", b"half-%d" % i, seq=i) for i in (1, 2, 3)) + request("AsyncEcho", b"x", 4))
        peer.transport.write_eof()
        frames = await peer.wait_closed()
        got = {f.seq: f.payload for f in frames}
        _expect(all(got.get(i) == b"half-%d" % i for i in (1, 2, 3)), f"replies before EOF lost: {got}")
        await _until(lambda: not srv.connections, "the server to forget the half-closed connection")
        async with _client(case, addr) as c:
            _expect(await _echo(c, b"after") == b"after", "the server stopped serving")


async def check_close_after_request(case: TransportCase) -> None:
    """A client sends requests and closes at once, before any reply: the server runs them, writes
    replies to a closed connection without crashing, forgets the connection and keeps serving."""
    async with serving(case) as (srv, addr, _):
        for method in ("Echo", "AsyncEcho"):
            peer = await RawPeer.open(case, addr)
            assert peer.transport is not None
            peer.send(request(method, b"gone" * 1000, seq=1) + request(method, b"gone", seq=2))
            peer.transport.close()
            await peer.wait_closed()
        await _until(lambda: not srv.connections, "the server to forget the closed connections")
        async with _client(case, addr) as c:
            _expect(await _echo(c, b"after") == b"after", "the server stopped serving")


async def check_peer_vanishes_mid_frame(case: TransportCase) -> None:
    """A peer writes half a frame, and once the server holds those bytes, aborts. The server drops
    the connection and its partial frame (no leak in ``server.connections``) and another client
    carries on."""
    async with serving(case) as (srv, addr, _):
        async with _client(case, addr) as bystander:
            _expect(await _echo(bystander, b"before") == b"before", "the bystander's first call failed")
            peer = await RawPeer.open(case, addr)
            assert peer.transport is not None
            frame = request("Echo", b"v" * 4000)
            half = len(frame) // 2
            peer.send(frame[:half])
            await _until(lambda: any(c.decoder.buffered == half for c in srv.connections),
                         "the server to hold the half frame")
            (victim,) = [c for c in srv.connections if c.decoder.buffered == half]
            peer.transport.abort()
            await _until(lambda: victim.closed and victim not in srv.connections,
                         "the server to drop the vanished peer")
            _expect(len(srv.connections) == 1, f"{len(srv.connections)} connections left, expected the bystander's")
            _expect(await _echo(bystander, b"after") == b"after", "the bystander's call failed")


async def check_slow_reader(case: TransportCase) -> None:
    """A client stops reading while the server pushes 256 KiB messages at it: the server's queue for
    it stays under a bound (``transport.get_write_buffer_size()``), ``send_message`` waits and
    times out with ``write_timeout``, and once the client reads again every push arrives whole, in
    order (the timed-out one too), and pushing works again."""
    payload = random.Random(2).randbytes(256 << 10)
    async with serving(case, write_timeout=0.5) as (srv, addr, _):
        peer = await RawPeer.open(case, addr)
        assert peer.transport is not None
        # pause after the server has accepted: on uvloop, a TLS client that pauses reading straight
        # after the dial holds up the server's side of the handshake
        await _until(lambda: len(srv.connections) == 1, "the server to see the connection")
        peer.transport.pause_reading()
        (conn,) = srv.connections
        assert conn.transport is not None
        pushed, peak, limit = 0, 0, 400  # 100 MiB: far past any socket buffer
        try:
            while pushed < limit:
                await srv.send_message(conn, "Conformance", "Pushed", {"n": str(pushed)}, payload)
                pushed += 1
                peak = max(peak, conn.transport.get_write_buffer_size())
        except CallTimeoutError:
            pass
        peak = max(peak, conn.transport.get_write_buffer_size())
        _expect(pushed < limit, f"send_message never waited for a client that reads nothing ({pushed} pushes)")
        _expect(peak < BUFFER_BOUND, f"{peak} bytes queued for a client that does not read")
        _expect(not peer.frames, "frames arrived while the client had paused reading")
        peer.transport.resume_reading()
        for n in range(pushed + 1):
            m = await peer.recv(WAIT * 3)
            _expect(m is not None and m.metadata.get("n") == str(n) and m.payload == payload,
                    f"push {n} of {pushed + 1} did not arrive whole and in order")
        await srv.send_message(conn, "Conformance", "Pushed", {"n": "last"}, b"x")
        m = await peer.recv()
        _expect(m is not None and m.metadata == {"n": "last"}, "pushing did not work again after the client read")
        peer.transport.close()
        await peer.wait_closed()


async def check_unread_replies(case: TransportCase) -> None:
    """A client pipelines 64 KiB requests and never reads the replies: once they back up, the
    server stops reading from it (back-pressure reaches the client, whose own writes back up)
    instead of queueing replies without bound; when the client reads again every request is
    answered, whole."""
    payload = random.Random(4).randbytes(64 << 10)
    frame = request("Echo", payload)
    limit = (64 << 20) // len(frame)  # 64 MiB of requests: far past any socket buffer
    async with serving(case) as (srv, addr, _):
        peer = await RawPeer.open(case, addr)
        assert peer.transport is not None
        await _until(lambda: len(srv.connections) == 1, "the server to see the connection")
        (conn,) = srv.connections
        assert conn.transport is not None
        peer.transport.pause_reading()
        sent, peak = 0, 0
        while sent < limit:
            peer.send(frame)
            sent += 1
            peak = max(peak, conn.transport.get_write_buffer_size())
            if not peer.can_write.is_set():
                try:  # our writes backed up: has the server stopped reading, or is it just busy?
                    await asyncio.wait_for(peer.can_write.wait(), 1.0)
                except TimeoutError:
                    break
        peak = max(peak, conn.transport.get_write_buffer_size())
        _expect(sent < limit, f"the server read {sent} requests whose replies nobody reads")
        _expect(peak < BUFFER_BOUND, f"{peak} bytes of replies queued for a client that does not read")
        peer.transport.resume_reading()
        for n in range(sent):
            m = await peer.recv(WAIT * 3)
            _expect(m is not None and m.payload == payload, f"reply {n} of {sent} did not arrive whole")
        peer.transport.close()
        await peer.wait_closed()


async def check_push(case: TransportCase) -> None:
    """Server pushes reach ``Client(on_push=...)``: one sent from inside a call (before its reply),
    one sent by the server on its own, and a 1 MiB one, whole."""
    got: asyncio.Queue[Message] = asyncio.Queue()
    async with serving(case) as (srv, addr, _):
        async with _client(case, addr, on_push=got.put_nowait) as c:
            _expect(await _echo(c, b"in a call", "PushBack") == b"in a call", "PushBack reply changed")
            _expect(not got.empty(), "the push sent during the call did not arrive before its reply")
            m = got.get_nowait()
            _expect((m.oneway, m.service_method, m.payload) == (True, "Pushed", b"in a call"), f"bad push {m!r}")
            (conn,) = srv.connections
            big = random.Random(3).randbytes(1 << 20)
            for body in (b"on its own", big):
                await srv.send_message(conn, "Conformance", "Pushed", {"k": "v"}, body)
                m = await _within(got.get(), "a server push")
                _expect(m.payload == body and m.metadata == {"k": "v"}, "a push arrived changed")


#: check name -> check; each takes a :class:`TransportCase`
CHECKS: dict[str, Callable[[TransportCase], Awaitable[None]]] = {
    "basics": check_basics,
    "large_messages": check_large_messages,
    "many_concurrent_calls": check_many_concurrent_calls,
    "half_close": check_half_close,
    "close_after_request": check_close_after_request,
    "peer_vanishes_mid_frame": check_peer_vanishes_mid_frame,
    "slow_reader": check_slow_reader,
    "unread_replies": check_unread_replies,
    "push": check_push,
}
