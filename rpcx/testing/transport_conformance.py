"""The transport conformance suite: what every rpcx network must carry (layer: testing).

Each check is a coroutine ``check(case)`` that starts a real :class:`rpcx.Server` (serving
:class:`ConformanceService` as ``Conformance``) on a fresh address from a :class:`TransportCase`,
drives it with :class:`rpcx.Client` and with :class:`RawPeer` (a hand-driven connection over
:func:`rpcx.transport.dial`, for the misbehaving peers; both in :mod:`rpcx.testing.harness`),
and raises ``AssertionError`` on a failure. Every check also fails if anything logged an ERROR on
the ``rpcx`` or ``asyncio`` loggers (a crashed callback, an exception nobody retrieved). Bounds on
waiting are hang guards, not speed checks.

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
import random
import ssl
from typing import Awaitable, Callable

from ..client import Client
from ..errors import CallTimeoutError, RpcxConnectionError, RpcxError
from ..protocol import Limits, Message
from ..transport import ConnectionTransport, dial, listen, parse_address, takes_tls
from .harness import (
    RAW,
    WAIT,
    ConformanceService,
    NotCapable,
    RawPeer,
    TransportCase,
    connected,
    expect,
    http_case,
    https_case,
    kcp_case,
    memory_case,
    quic_case,
    request,
    reuseport_case,
    self_signed_cert,
    serving,
    tcp_case,
    tls_case,
    unix_case,
    until,
    ws_case,
    wss_case,
    within,
)

__all__ = [
    "CHECKS",
    "ConformanceService",
    "NotCapable",
    "RawPeer",
    "TransportCase",
    "http_case",
    "https_case",
    "kcp_case",
    "memory_case",
    "quic_case",
    "reuseport_case",
    "self_signed_cert",
    "serving",
    "tcp_case",
    "tls_case",
    "unix_case",
    "ws_case",
    "wss_case",
]

#: the server's max_message_length in check_large_messages (a 4 MiB echo fits, LIMIT + 1 does not)
LIMIT = 6 << 20
#: what the slow-reader checks let a server queue for one peer that does not read
BUFFER_BOUND = 4 << 20


async def _echo(c: Client, payload: bytes, method: str = "Echo") -> bytes:
    return await c.call("Conformance", method, payload, bytes, serialize_type=RAW, timeout=WAIT * 3)  # type: ignore[no-any-return]


# -- the checks -----------------------------------------------------------------------------------
async def _first_write(case: TransportCase, peer: RawPeer) -> None:
    """Where the server sees a connection only once the client wrote (QUIC), make one call first."""
    if case.opens_on_first_write:
        peer.send(request("Echo", b"open"))
        m = await peer.recv()
        expect(m is not None and m.payload == b"open", "the first call on a fresh connection failed")


async def check_basics(case: TransportCase) -> None:
    """A call works; the contract's extra info is there (peer address; TLS objects exactly when TLS
    is on); listen/dial refuse unknown options and TLS where the network takes none; dialing an
    address nobody listens on fails with RpcxConnectionError."""
    async with serving(case) as (srv, addr, _):
        network = parse_address(addr).network
        listened = parse_address(case.address()).network
        expect(network == (case.bound_network or listened), f"bound address {addr} changed network")
        async with connected(case, addr) as c:
            expect(await _echo(c, b"hello") == b"hello", "echo came back changed")
            await until(lambda: len(srv.connections) == 1, "the server to see one connection")
            (conn,) = srv.connections
            t = conn.transport
            assert t is not None
            expect(isinstance(t, ConnectionTransport), f"{t!r} does not keep the ConnectionTransport contract")
            expect(conn.peer is not None, "the server connection has no peer address")
            expect((t.get_extra_info("ssl_object") is not None) == (case.server_tls is not None),
                    "ssl_object present without TLS or missing with it")
        peer = await RawPeer.open(case, addr)
        assert peer.transport is not None
        expect(peer.transport.get_extra_info("peername") is not None, "the dialing end has no peername")
        cert = peer.transport.get_extra_info("peercert")
        expect(bool(cert) == (case.client_tls is not None), f"peercert {cert!r} does not match the TLS setting")
        peer.transport.close()
        await peer.wait_closed()

        factory = asyncio.Protocol
        try:
            await listen(case.address(), factory, no_such_option=1)
        except TypeError as exc:
            expect("no_such_option" in str(exc) and listened in str(exc), f"unclear error: {exc}")
        else:
            raise AssertionError("listen accepted an unknown option")
        try:
            await dial(addr, factory, timeout=WAIT, no_such_option=1)
        except TypeError as exc:
            expect("no_such_option" in str(exc) and "timeout" in str(exc), f"unclear error: {exc}")
        else:
            raise AssertionError("dial accepted an unknown option")
        if not takes_tls(network):
            try:
                await listen(case.address(), factory, ssl=ssl.create_default_context(ssl.Purpose.CLIENT_AUTH))
            except RpcxError as exc:
                expect("TLS" in str(exc), f"unclear error: {exc}")
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
        async with connected(case, addr) as bystander, connected(case, addr) as c:
            big = random.Random(1).randbytes(4 << 20)
            got = await _echo(c, big)
            expect(got == big, f"a 4 MiB echo came back changed ({len(got)} bytes)")
            got = await _echo(c, big[: 3 << 20], "AsyncEcho")
            expect(got == big[: 3 << 20], "a 3 MiB async echo came back changed")

            overhead = len(request("Echo", b"")) - 16
            too_long = bytes(LIMIT + 1 - overhead)
            expect(len(request("Echo", too_long)) - 16 == LIMIT + 1, "the oversized frame is mis-sized")
            try:
                await _echo(c, too_long)
            except RpcxConnectionError:
                pass
            else:
                raise AssertionError(f"a frame of {LIMIT + 1} bytes passed a limit of {LIMIT}")
            expect(any("too long" in r.getMessage() for r in records),
                    f"no 'message is too long' warning: {[r.getMessage() for r in records]}")
            expect(await _echo(bystander, big[:1 << 20]) == big[:1 << 20], "the other connection broke")
            await until(lambda: len(srv.connections) == 1, "the refused connection to be dropped")


async def check_many_concurrent_calls(case: TransportCase) -> None:
    """1,000 calls in flight at once on one connection (sync and async methods, so replies come
    back out of order, payloads of many sizes so frames split across reads) all get their own reply."""
    async with serving(case) as (srv, addr, _):
        async with connected(case, addr) as c:
            payloads = [(b"%d:" % i) * (1 + (i * 37) % 700) for i in range(1000)]
            replies = await within(
                asyncio.gather(*(_echo(c, p, "AsyncEcho" if i % 2 else "Echo") for i, p in enumerate(payloads))),
                "1,000 concurrent calls", WAIT * 3,
            )
            wrong = [i for i, (p, r) in enumerate(zip(payloads, replies)) if p != r]
            expect(not wrong, f"{len(wrong)} of 1,000 replies wrong, first at call {wrong[:1]}")
            expect(len(srv.connections) == 1, f"{len(srv.connections)} server connections for one client")


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
            expect(not peer.transport.can_write_eof(),
                    f"{case.name} declares half_close=False but its transport can write EOF: fix the flag")
            peer.transport.abort()
            raise NotCapable(f"{case.name}: its transports cannot half-close (can_write_eof() is False)")
        expect(peer.transport.can_write_eof(), f"{case.name} declares half_close=True but cannot write EOF")
        peer.send(b"".join(request("Echo", b"half-%d" % i, seq=i) for i in (1, 2, 3)) + request("AsyncEcho", b"x", 4))
        peer.transport.write_eof()
        frames = await peer.wait_closed()
        got = {f.seq: f.payload for f in frames}
        expect(all(got.get(i) == b"half-%d" % i for i in (1, 2, 3)), f"replies before EOF lost: {got}")
        await until(lambda: not srv.connections, "the server to forget the half-closed connection")
        async with connected(case, addr) as c:
            expect(await _echo(c, b"after") == b"after", "the server stopped serving")


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
        await until(lambda: not srv.connections, "the server to forget the closed connections")
        async with connected(case, addr) as c:
            expect(await _echo(c, b"after") == b"after", "the server stopped serving")


async def check_peer_vanishes_mid_frame(case: TransportCase) -> None:
    """A peer writes half a frame, and once the server holds those bytes, aborts. The server drops
    the connection and its partial frame (no leak in ``server.connections``) and another client
    carries on."""
    async with serving(case) as (srv, addr, _):
        async with connected(case, addr) as bystander:
            expect(await _echo(bystander, b"before") == b"before", "the bystander's first call failed")
            peer = await RawPeer.open(case, addr)
            assert peer.transport is not None
            frame = request("Echo", b"v" * 4000)
            half = len(frame) // 2
            peer.send(frame[:half])
            await until(lambda: any(c.rpx.buffered == half for c in srv.connections),
                         "the server to hold the half frame")
            (victim,) = [c for c in srv.connections if c.rpx.buffered == half]
            peer.transport.abort()
            await until(lambda: victim.closed and victim not in srv.connections,
                         "the server to drop the vanished peer")
            expect(len(srv.connections) == 1, f"{len(srv.connections)} connections left, expected the bystander's")
            expect(await _echo(bystander, b"after") == b"after", "the bystander's call failed")


async def check_garbage(case: TransportCase) -> None:
    """Bytes that are not rpcx, sent inside the network's own framing (after its handshake, in its
    stream, once a call on that connection was answered): the server closes that connection with a
    warning naming the fault (it aborts: replies not yet written may be lost, as with Go, whose
    reading goroutine closes the connection while handlers may still be running), while a
    connection opened before carries on and new ones are served."""
    async with serving(case) as (srv, addr, records):
        async with connected(case, addr) as bystander:
            expect(await _echo(bystander, b"before") == b"before", "the bystander's first call failed")
            peer = await RawPeer.open(case, addr)
            peer.send(request("Echo", b"good"))
            m = await peer.recv()
            expect(m is not None and m.payload == b"good", "the raw peer's call failed")
            peer.send(bytes([0x07]) + random.Random(8).randbytes(3000))
            frames = await within(peer.wait_closed(), "the server to close the garbage connection")
            expect(frames == [], f"the server answered garbage: {frames!r}")
            expect(any("wrong magic number" in r.getMessage() for r in records),
                   f"no 'wrong magic number' warning: {[r.getMessage() for r in records]}")
            await until(lambda: len(srv.connections) == 1, "the garbage connection to be dropped")
            expect(await _echo(bystander, b"after") == b"after", "the bystander's call failed")
        async with connected(case, addr) as fresh:
            expect(await _echo(fresh, b"new") == b"new", "a new connection after the garbage failed")


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
        await _first_write(case, peer)
        await until(lambda: len(srv.connections) == 1, "the server to see the connection")
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
        expect(pushed < limit, f"send_message never waited for a client that reads nothing ({pushed} pushes)")
        expect(peak < BUFFER_BOUND, f"{peak} bytes queued for a client that does not read")
        expect(not peer.frames, "frames arrived while the client had paused reading")
        peer.transport.resume_reading()
        for n in range(pushed + 1):
            m = await peer.recv(WAIT * 3)
            expect(m is not None and m.metadata.get("n") == str(n) and m.payload == payload,
                    f"push {n} of {pushed + 1} did not arrive whole and in order")
        await srv.send_message(conn, "Conformance", "Pushed", {"n": "last"}, b"x")
        m = await peer.recv()
        expect(m is not None and m.metadata == {"n": "last"}, "pushing did not work again after the client read")
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
        await _first_write(case, peer)
        await until(lambda: len(srv.connections) == 1, "the server to see the connection")
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
        expect(sent < limit, f"the server read {sent} requests whose replies nobody reads")
        expect(peak < BUFFER_BOUND, f"{peak} bytes of replies queued for a client that does not read")
        peer.transport.resume_reading()
        for n in range(sent):
            m = await peer.recv(WAIT * 3)
            expect(m is not None and m.payload == payload, f"reply {n} of {sent} did not arrive whole")
        peer.transport.close()
        await peer.wait_closed()


async def check_push(case: TransportCase) -> None:
    """Server pushes reach ``Client(on_push=...)``: one sent from inside a call (before its reply),
    one sent by the server on its own, and a 1 MiB one, whole."""
    got: asyncio.Queue[Message] = asyncio.Queue()
    async with serving(case) as (srv, addr, _):
        async with connected(case, addr, on_push=got.put_nowait) as c:
            expect(await _echo(c, b"in a call", "PushBack") == b"in a call", "PushBack reply changed")
            expect(not got.empty(), "the push sent during the call did not arrive before its reply")
            m = got.get_nowait()
            expect((m.oneway, m.service_method, m.payload) == (True, "Pushed", b"in a call"), f"bad push {m!r}")
            (conn,) = srv.connections
            big = random.Random(3).randbytes(1 << 20)
            for body in (b"on its own", big):
                await srv.send_message(conn, "Conformance", "Pushed", {"k": "v"}, body)
                m = await within(got.get(), "a server push")
                expect(m.payload == body and m.metadata == {"k": "v"}, "a push arrived changed")


#: check name -> check; each takes a :class:`TransportCase`
CHECKS: dict[str, Callable[[TransportCase], Awaitable[None]]] = {
    "basics": check_basics,
    "large_messages": check_large_messages,
    "many_concurrent_calls": check_many_concurrent_calls,
    "half_close": check_half_close,
    "close_after_request": check_close_after_request,
    "peer_vanishes_mid_frame": check_peer_vanishes_mid_frame,
    "garbage": check_garbage,
    "slow_reader": check_slow_reader,
    "unread_replies": check_unread_replies,
    "push": check_push,
}
