"""Hostile peers against one server while a well-behaved client keeps calling (issue item 7).

Hostile clients send garbage, truncated frames, a 4 GiB length header, a gzip bomb, a slowloris
trickle on hundreds of connections, and a response frame to the server. Each gets a clear error or
a closed connection, memory stays bounded, and a well-behaved XClient on the same server keeps
getting correct answers throughout.

Bounds used here are hang checks, not speed checks: a good call must finish within
``GOOD_CALL_BOUND`` seconds (normally it takes well under a millisecond).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import random
import resource
import struct
import time
import tracemalloc
import zlib
from typing import Any, AsyncIterator

import pytest
from arith_service import Args, Reply

from rpcx import FailMode, Peer2PeerDiscovery, SelectMode, Server, XClient
from rpcx.errors import CallTimeoutError, RpcxError
from rpcx.protocol import DEFAULT_MAX_DECOMPRESSED_LENGTH, CompressType, Message, SerializeType, encode

#: generous bound for "this must happen": a hang check on a loaded machine, not a speed check
WAIT = 10.0

GOOD_CALL_BOUND = 2.0
LOGGER = "rpcx.server"


class GoodClient:
    """Calls Arith.Mul in a loop until stopped, recording failures and the slowest call."""

    def __init__(self, address: str) -> None:
        self.xc = XClient("Arith", FailMode.FAILFAST, SelectMode.RANDOM, Peer2PeerDiscovery(address))
        self.calls = 0
        self.failures: list[str] = []
        self.slowest = 0.0
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._rnd = random.Random(1)

    async def _run(self) -> None:
        while not self._stop.is_set():
            a, b = self._rnd.randrange(-10**6, 10**6), self._rnd.randrange(-10**6, 10**6)
            start = time.monotonic()
            try:
                r = await asyncio.wait_for(self.xc.call("Mul", Args(a, b), Reply), WAIT)
                if r != Reply(a * b):
                    self.failures.append(f"wrong answer {r} for {a}*{b}")
            except Exception as exc:  # noqa: BLE001 - every failure is a test failure, recorded
                self.failures.append(repr(exc))
            self.slowest = max(self.slowest, time.monotonic() - start)
            self.calls += 1
            await asyncio.sleep(0.005)

    async def __aenter__(self) -> "GoodClient":
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._task is not None
        await asyncio.wait_for(self._task, WAIT * 2)
        await self.xc.aclose()

    async def wait_calls(self, n: int) -> None:
        target = self.calls + n
        async with asyncio.timeout(WAIT * 3):
            while self.calls < target:
                await asyncio.sleep(0.01)

    def check(self) -> None:
        assert self.failures == []
        assert self.calls > 0
        assert self.slowest < GOOD_CALL_BOUND, f"a good call took {self.slowest:.2f}s"


@pytest.fixture
async def target() -> AsyncIterator[tuple[Server, str]]:
    from arith_service import Arith

    srv = Server()  # default limits: 32 MiB frames, 64 MiB inflated payloads
    srv.register(Arith())
    addr = await srv.start("tcp@127.0.0.1:0")
    yield srv, addr
    await srv.close()


def header(total: int, *, flags: int = 0, ser: int = 0x30, seq: int = 1) -> bytes:
    return struct.pack(">BBBBQI", 0x08, 0, flags, ser, seq, total)


def sections(*parts: bytes) -> bytes:
    return b"".join(struct.pack(">I", len(p)) + p for p in parts)


def raw_frame(body: bytes, **kw: int) -> bytes:
    """A frame whose total length is right for ``body``, whatever ``body`` says inside."""
    return header(len(body), **kw) + body


def with_flags(msg: Message, flags: int) -> bytes:
    f = encode(msg)
    return f[:2] + bytes([flags]) + f[3:]


_ECHO = Message(service_path="Arith", service_method="Echo", payload=b"not gzip at all", seq=2)

#: name -> (bytes a hostile peer sends, text the server's warning must contain)
GARBAGE = {
    "http": (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "wrong magic number: 71"),
    "random": (bytes([0x07]) + random.Random(3).randbytes(4000), "wrong magic number: 7"),
    "path_overrun": (raw_frame(struct.pack(">IIII", 0xFFFFFFF0, 0, 0, 0)), "service path length"),
    "short_total": (header(3) + b"abc", "shorter than its four section headers"),
    "metadata_overrun": (
        raw_frame(sections(b"A", b"B", struct.pack(">I", 50) + b"k" * 8) + struct.pack(">I", 0)),
        "wrong metadata lines",
    ),
    "payload_overrun": (raw_frame(sections(b"A", b"B", b"") + struct.pack(">I", 99) + b"xx"), "payload length 99"),
    "unknown_compressor": (with_flags(_ECHO, 5 << 2), "unsupported compressor: 5"),
    "bad_gzip": (with_flags(_ECHO, 1 << 2), "bad gzip payload"),
}


@pytest.mark.parametrize("kind", sorted(GARBAGE))
async def test_garbage_is_logged_and_closed(target, raw, kind: str, caplog) -> None:
    srv, addr = target
    data, text = GARBAGE[kind]
    async with GoodClient(addr) as good:
        await good.wait_calls(5)
        peer = await raw(addr)
        try:
            with caplog.at_level(logging.WARNING, logger=LOGGER):
                await peer.send(data)
                frames = await peer.wait_closed_by_server()
        finally:
            await peer.aclose()
        assert frames == []
        await good.wait_calls(5)
    warnings = [r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelno >= logging.WARNING]
    assert any(text in w for w in warnings), warnings
    good.check()


async def test_good_frames_before_garbage_are_answered(target, raw) -> None:
    srv, addr = target
    peer = await raw(addr)
    try:
        ok = Message(service_path="Arith", service_method="Mul", seq=9, serialize_type=SerializeType.MSGPACK,
                     payload=bytes.fromhex("82a1410aa14214"))
        await peer.send(encode(ok) + b"\xffjunk")
        frames = await peer.wait_closed_by_server()
    finally:
        await peer.aclose()
    assert [(f.seq, f.payload) for f in frames] == [(9, bytes.fromhex("81a143ccc8"))]


async def test_hundreds_of_garbage_connections_at_once(target, raw, caplog) -> None:
    srv, addr = target
    kinds = sorted(GARBAGE)
    async with GoodClient(addr) as good:
        await good.wait_calls(3)
        with caplog.at_level(logging.WARNING, logger=LOGGER):
            peers = [await raw(addr) for _ in range(200)]
            try:
                await asyncio.gather(*(p.send(GARBAGE[kinds[i % len(kinds)]][0]) for i, p in enumerate(peers)))
                results = await asyncio.gather(*(p.wait_closed_by_server() for p in peers))
            finally:
                await asyncio.gather(*(p.aclose() for p in peers))
        assert all(r == [] for r in results)
        await good.wait_calls(5)
    good.check()
    closing = [r for r in caplog.records if r.name == LOGGER and "closing connection" in r.getMessage()]
    assert len(closing) >= 200


async def test_4gib_length_header_is_refused_at_once(target, raw, caplog) -> None:
    srv, addr = target
    async with GoodClient(addr) as good:
        await good.wait_calls(3)
        peer = await raw(addr)
        try:
            with caplog.at_level(logging.WARNING, logger=LOGGER):
                await peer.send(header(0xFFFFFFFF))
                # no body follows: the header alone must be enough to close the connection
                assert await peer.wait_closed_by_server() == []
        finally:
            await peer.aclose()
        await good.wait_calls(5)
    assert any("message is too long: 4294967295" in r.getMessage() for r in caplog.records)
    good.check()


async def test_truncated_frame_then_eof(target, raw, caplog) -> None:
    srv, addr = target
    frame = encode(Message(service_path="Arith", service_method="Mul", seq=3, serialize_type=SerializeType.MSGPACK,
                           payload=bytes.fromhex("82a1410aa14214")))
    async with GoodClient(addr) as good:
        await good.wait_calls(3)
        for cut in (1, 10, 16, len(frame) - 1):
            peer = await raw(addr)
            try:
                with caplog.at_level(logging.INFO, logger=LOGGER):
                    await peer.send(frame[:cut])
                    peer.writer.write_eof()
                    assert await peer.wait_closed_by_server() == []
            finally:
                await peer.aclose()
        await good.wait_calls(5)
    truncated = [r for r in caplog.records if "in the middle of a frame" in r.getMessage()]
    assert len(truncated) == 4
    good.check()
    assert srv.address is not None  # still serving


async def test_response_frame_to_server(target, raw, caplog) -> None:
    srv, addr = target
    async with GoodClient(addr) as good:
        await good.wait_calls(3)
        peer = await raw(addr)
        try:
            with caplog.at_level(logging.WARNING, logger=LOGGER):
                await peer.send(Message(message_type=1, seq=5, service_path="Arith", service_method="Mul",
                                        serialize_type=SerializeType.MSGPACK, payload=bytes.fromhex("82a1410aa14214")))
                frames = await peer.wait_closed_by_server()
        finally:
            await peer.aclose()
        await good.wait_calls(5)
    assert len(frames) == 1 and frames[0].seq == 5 and frames[0].error and "response frame" in frames[0].error
    good.check()


def gzip_bomb(inflated: int = 1 << 30) -> bytes:
    """A valid gzip stream of ``inflated`` zero bytes (~1 MB for 1 GiB), built without holding them.

    After a full flush the deflate history is empty, so every 1 MiB chunk of zeros compresses to
    the same bytes: compress one, repeat it, then add the final block and the gzip trailer.
    """
    chunk = bytes(1 << 20)
    assert inflated % len(chunk) == 0
    co = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = co.compress(chunk) + co.flush(zlib.Z_FULL_FLUSH)
    tail = co.flush(zlib.Z_FINISH)
    crc = 0
    for _ in range(inflated // len(chunk)):
        crc = zlib.crc32(chunk, crc)
    head = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    return head + block * (inflated // len(chunk)) + tail + struct.pack("<II", crc, inflated & 0xFFFFFFFF)


def test_gzip_bomb_builder_is_a_real_gzip_stream() -> None:
    bomb = gzip_bomb(64 << 20)
    d = zlib.decompressobj(31)
    total, data = 0, bomb
    while data:
        total += len(d.decompress(data, 1 << 22))
        data = d.unconsumed_tail
    total += len(d.flush())
    assert d.eof and total == 64 << 20


async def test_gzip_bomb_is_rejected_without_inflating_it(target, raw, caplog) -> None:
    srv, addr = target
    bomb = gzip_bomb()  # 1 GiB of zeros
    assert len(bomb) < 2 << 20
    frame = encode(
        Message(service_path="Arith", service_method="Echo", seq=7, serialize_type=SerializeType.NONE,
                compress_type=CompressType.GZIP, payload=bomb),
        compress=False,
    )
    async with GoodClient(addr) as good:
        await good.wait_calls(3)
        peer = await raw(addr)
        gc.collect()
        tracemalloc.start()
        try:
            base, _ = tracemalloc.get_traced_memory()
            with caplog.at_level(logging.WARNING, logger=LOGGER):
                await peer.send(frame)
                frames = await peer.wait_closed_by_server()
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
            await peer.aclose()
        assert frames == []
        await good.wait_calls(5)
    # inflation stops at the 64 MiB default limit; zlib's output blocks plus the joined result make
    # the peak up to twice that. The bound is that, plus the ~1 MB frame: far from the bomb's 1 GiB.
    bound = 2 * DEFAULT_MAX_DECOMPRESSED_LENGTH + (16 << 20)
    assert peak - base < bound, f"peak {(peak - base) >> 20} MiB while rejecting a gzip bomb"
    assert any("decompressed size exceeds" in r.getMessage() for r in caplog.records)
    good.check()


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def _ensure_fds(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        new = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        if new < needed:
            pytest.skip(f"needs {needed} file descriptors, hard limit is {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))


async def test_slowloris_hundreds_of_connections_memory_stays_bounded(target, raw) -> None:
    srv, addr = target
    n_conns, announced = 300, 30 << 20  # each announces a 30 MiB frame (under the 32 MiB default limit)
    _ensure_fds(2 * n_conns + 200)  # both ends live in this process
    async with GoodClient(addr) as good:
        await good.wait_calls(3)
        gc.collect()
        rss0 = _rss_bytes()
        tracemalloc.start()
        peers: list[Any] = []
        sent = 0
        try:
            base, _ = tracemalloc.get_traced_memory()
            for _ in range(n_conns):
                p = await raw(addr)
                peers.append(p)
                p.writer.write(header(announced, ser=0))
                sent += 16
            # trickle: every connection sends a few more bytes every 0.2 s for about 2 s
            for _ in range(10):
                for p in peers:
                    p.writer.write(b"\x00\x00\x00")
                    sent += 3
                await asyncio.sleep(0.2)
            # the decoders hold exactly what was sent (once the server has read it all), never
            # what was announced: 300 x 30 MiB would be 9 GiB
            ports = {p.writer.get_extra_info("sockname")[1] for p in peers}

            def held_now() -> int:
                return sum(c.rpx.buffered for c in list(srv.connections) if c.peer and c.peer[1] in ports)

            async with asyncio.timeout(WAIT):
                while (held := held_now()) < sent:
                    await asyncio.sleep(0.05)
            assert held == sent
            current, peak = tracemalloc.get_traced_memory()
            assert len(srv.connections) >= n_conns
            growth = peak - base
            assert growth < 32 << 20, f"tracemalloc grew {growth >> 20} MiB for {n_conns} slowloris peers"
            assert _rss_bytes() - rss0 < 256 << 20
            assert good.failures == []
        finally:
            tracemalloc.stop()
            await asyncio.gather(*(p.aclose() for p in peers))
        await good.wait_calls(5)
        # the server lets go of them once the peers leave
        async with asyncio.timeout(WAIT):
            while len(srv.connections) > 1:
                await asyncio.sleep(0.05)
    good.check()


async def test_mixed_hostile_crowd(target, raw, caplog) -> None:
    """All of it at once: trickling, garbage, oversize headers, truncation, response frames."""
    srv, addr = target
    _ensure_fds(1000)
    async with GoodClient(addr) as good:
        await good.wait_calls(3)
        trickle = [await raw(addr) for _ in range(50)]
        for p in trickle:
            await p.send(header(1 << 20))
        closers: list[Any] = []
        with caplog.at_level(logging.INFO, logger=LOGGER):
            for i in range(60):
                p = await raw(addr)
                closers.append(p)
                kind = i % 4
                if kind == 0:
                    p.writer.write(random.Random(i).randbytes(512).replace(b"\x08", b"\x09"))
                elif kind == 1:
                    p.writer.write(header(0xFFFFFFFF))
                elif kind == 2:
                    p.writer.write(encode(Message(service_path="A", service_method="B", payload=b"x" * 100))[:40])
                    p.writer.write_eof()
                else:
                    p.writer.write(encode(Message(message_type=1, service_path="A", service_method="B")))
            for _ in range(5):
                for p in trickle:
                    p.writer.write(b"\x00")
                await asyncio.sleep(0.1)
            results = await asyncio.gather(*(p.wait_closed_by_server() for p in closers))
        for i, frames in enumerate(results):
            assert len(frames) == (1 if i % 4 == 3 else 0)
        await asyncio.gather(*(p.aclose() for p in trickle + closers))
        await good.wait_calls(5)
    good.check()


async def test_peer_that_never_reads_its_replies_is_not_buffered_without_bound(target, raw) -> None:
    """A peer pipelining requests but never reading replies: the server stops reading from it once
    its replies back up, instead of queueing replies in memory for ever."""
    srv, addr = target
    payload = b"x" * (64 << 10)
    frame = encode(Message(service_path="Arith", service_method="Echo", serialize_type=SerializeType.NONE,
                           payload=payload))
    limit = 64 << 20
    async with GoodClient(addr) as good:
        await good.wait_calls(3)
        peer = await raw(addr)
        sent = 0
        try:
            while sent < limit:
                peer.writer.write(frame)
                sent += len(frame)
                try:
                    await asyncio.wait_for(peer.writer.drain(), 1.0)
                except TimeoutError:
                    break  # the server stopped reading: back-pressure reached us
            buffered = sum(c.transport.get_write_buffer_size() for c in srv.connections if c.transport)
            assert sent < limit, "the server read 64 MiB of requests whose replies nobody reads"
            assert buffered < 8 << 20, f"{buffered >> 20} MiB of replies queued for a peer that never reads"
            await good.wait_calls(5)
            # once the peer reads again, every request it sent is answered
            got = 0
            async with asyncio.timeout(WAIT * 3):
                while got < sent // len(frame):
                    f = await peer.recv()
                    assert f is not None and f.payload == payload
                    got += 1
        finally:
            await peer.aclose()
    good.check()


@pytest.fixture
async def strict_target() -> AsyncIterator[tuple[Server, str]]:
    from arith_service import Arith

    srv = Server(frame_timeout=0.5)
    srv.register(Arith())
    addr = await srv.start("tcp@127.0.0.1:0")
    yield srv, addr
    await srv.close()


async def test_slowloris_peers_are_closed_by_frame_timeout(strict_target, raw, caplog) -> None:
    """Trickling keeps bytes coming, so only a deadline on the frame itself frees the connection."""
    srv, addr = strict_target
    n_conns = 200
    _ensure_fds(2 * n_conns + 200)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        async with GoodClient(addr) as good:
            await good.wait_calls(3)
            peers = [await raw(addr) for _ in range(n_conns)]
            for p in peers:
                p.writer.write(header(1 << 20, ser=0))

            async def trickle(p: Any) -> bool:
                """Send a byte every 0.1 s until the server closes the connection."""
                async with asyncio.timeout(WAIT):
                    while True:
                        if p.writer.is_closing():
                            return True
                        try:
                            p.writer.write(b"\x00")
                            await p.writer.drain()
                            data = await asyncio.wait_for(p.reader.read(100), 0.1)
                        except TimeoutError:
                            continue
                        except (ConnectionError, OSError):
                            return True
                        if data == b"":
                            return True

            closed = await asyncio.gather(*(trickle(p) for p in peers))
            assert all(closed)
            await good.wait_calls(5)
            await asyncio.gather(*(p.aclose() for p in peers))
        good.check()
    assert any("was not completed within 0.5s" in r.getMessage() for r in caplog.records)


async def test_read_timeout_closes_idle_connections_but_not_heartbeating_ones(raw) -> None:
    from arith_service import Arith

    srv = Server(read_timeout=0.4)
    srv.register(Arith())
    addr = await srv.start("tcp@127.0.0.1:0")
    try:
        idle = await raw(addr)
        busy = await raw(addr)
        hb = Message(heartbeat=True, serialize_type=SerializeType.MSGPACK, payload=b"\xd3" + bytes(8))
        for i in range(12):  # 1.2 s of heartbeats, three times the timeout
            hb.seq = i
            await busy.send(hb)
            assert (await busy.recv()) is not None
            await asyncio.sleep(0.1)
        await idle.wait_closed_by_server()
        await busy.send(encode(Message(service_path="Arith", service_method="Echo", seq=99, payload=b"still here")))
        reply = await busy.recv()
        assert reply is not None and reply.payload == b"still here"
        await idle.aclose()
        await busy.aclose()
    finally:
        await srv.close()


async def _server_side(srv: Server, n: int = 1) -> list[Any]:
    async with asyncio.timeout(WAIT):
        while len(srv.connections) < n:
            await asyncio.sleep(0.01)
    return list(srv.connections)


async def test_pushes_to_a_peer_that_never_reads_wait_then_time_out(raw) -> None:
    """send_message to a client that reads nothing: pushes stop queueing once the transport backs
    up; with write_timeout the pusher gets CallTimeoutError instead of buffering without bound."""
    from arith_service import Arith

    srv = Server(write_timeout=0.3)
    srv.register(Arith())
    addr = await srv.start("tcp@127.0.0.1:0")
    try:
        peer = await raw(addr)
        (conn,) = await _server_side(srv)
        payload = b"p" * (256 << 10)
        pushed = 0
        with pytest.raises(CallTimeoutError, match="has not read"):
            while pushed < 400:  # 100 MiB: far past any socket buffer
                await srv.send_message(conn, "Push", "Data", {"n": str(pushed)}, payload)
                pushed += 1
        assert pushed < 400
        assert conn.transport.get_write_buffer_size() < 8 << 20
        # the client reads again: every push arrives whole, the timed-out one too, and pushing works
        got = 0
        async with asyncio.timeout(WAIT * 3):
            while got < pushed + 1:
                m = await peer.recv()
                assert m is not None and m.payload == payload and m.metadata["n"] == str(got)
                got += 1
        await srv.send_message(conn, "Push", "Data", {"n": "last"}, b"x")
        m = await peer.recv()
        assert m is not None and m.metadata == {"n": "last"}
    finally:
        await srv.close()


async def test_a_waiting_push_goes_out_when_the_peer_reads_or_fails_when_it_leaves(raw) -> None:
    from arith_service import Arith

    srv = Server()  # no write_timeout: a push waits as long as the connection lives
    srv.register(Arith())
    addr = await srv.start("tcp@127.0.0.1:0")
    try:
        payload = b"q" * (1 << 20)
        seen: set[Any] = set()
        for leaves in (False, True):
            peer = await raw(addr)
            (conn,) = set(await _server_side(srv, len(seen) + 1)) - seen
            seen.add(conn)
            for _ in range(200):  # the push that backs the transport up is the one that waits
                waiting = asyncio.ensure_future(srv.send_message(conn, "Push", "Data", None, payload))
                await asyncio.sleep(0.05)
                if not waiting.done():
                    break
                await waiting
            await asyncio.sleep(0.2)
            assert not waiting.done(), "a push to a peer that is not reading returned at once"
            assert conn._write_blocked
            if leaves:
                peer.writer.transport.abort()
                with pytest.raises(RpcxError, match="closed"):
                    await asyncio.wait_for(waiting, WAIT)
            else:
                async with asyncio.timeout(WAIT * 3):
                    while not waiting.done():
                        assert await peer.recv() is not None
                await waiting
    finally:
        await srv.close()
