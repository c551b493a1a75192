"""Forwarding through the proxy: payloads untouched, seq rewritten, heartbeats local, oneway
stateless, many clients over few upstream connections, pushes, and every way a call can be left
unfinished (client leaves, upstream dies, upstream unreachable, bad bytes)."""

from __future__ import annotations

import asyncio
import os
import random
import sys

import pytest

from rpcx import Client, ServiceError
from rpcx.client import Option
from rpcx.protocol import FrameHeader, Message, encode, parse_frame
from rpcx.protocol.constants import CompressType, SerializeType

sys.path.insert(0, os.path.dirname(os.path.dirname(__file__)))
from arith_service import Args, Reply  # noqa: E402
from conftest import WAIT, dead_address  # noqa: E402

from .conftest import EchoUpstream, Recorder  # noqa: E402


def one_cluster(address: str, **route: object) -> dict:
    return {"clusters": {"up": {"servers": [address]}}, "default": {"cluster": "up", **route}}


async def test_python_client_to_python_server(proxy_factory, server) -> None:
    _, paddr = await proxy_factory(one_cluster(server))
    async with await Client.connect(paddr) as c:
        assert await c.call("Arith", "Mul", Args(6, 7), Reply) == Reply(42)
        with pytest.raises(ServiceError, match="arith failed on purpose"):
            await c.call("Arith", "Fail", Args(1, 1), Reply)
        md: dict[str, str] = {}
        assert await c.call("Arith", "Echo", b"x" * 5000, bytes, metadata={"k": "v"}, response_metadata=md) == b"x" * 5000
        assert md == {"k": "v"}


async def test_frames_reach_upstream_byte_for_byte_but_seq(proxy_factory, echo_upstream, raw) -> None:
    """A gzip-compressed request with metadata arrives upstream identical but for its seq, and its
    reply (the same bytes) comes back identical but for the seq: nothing was decompressed."""
    _, paddr = await proxy_factory(one_cluster(echo_upstream.address))
    payload = os.urandom(3000) + b"a" * 3000  # compressible, and over the 1024-byte threshold
    msg = Message(service_path="Arith", service_method="Echo", seq=77, serialize_type=SerializeType.NONE,
                  compress_type=CompressType.GZIP, metadata={"k": "v", "z": "1"}, payload=payload)
    frame = encode(msg)
    peer = await raw(paddr)
    await peer.send(frame)
    await asyncio.wait_for(echo_upstream.arrived.wait(), WAIT)
    [got] = echo_upstream.frames
    assert got[:4] == frame[:4] and got[12:] == frame[12:]  # everything but the seq field
    reply = await peer.recv()
    assert reply is not None and reply.seq == 77 and reply.is_response
    assert reply.payload == payload and reply.metadata == {"k": "v", "z": "1"}


async def test_go_style_gzip_reply_stays_compressed(proxy_factory, echo_upstream, raw) -> None:
    _, paddr = await proxy_factory(one_cluster(echo_upstream.address))
    frame = encode(Message(service_path="A", service_method="B", seq=5, compress_type=CompressType.GZIP,
                           payload=b"q" * 4096))
    peer = await raw(paddr)
    peer.writer.write(frame)
    data = await asyncio.wait_for(peer.reader.readexactly(len(frame)), WAIT)
    assert data[12:] == frame[12:] and data[2] == frame[2] | 0x80  # the compressed bytes, as sent


async def test_heartbeat_answered_by_the_proxy(proxy_factory, echo_upstream, raw) -> None:
    _, paddr = await proxy_factory(one_cluster(echo_upstream.address))
    peer = await raw(paddr)
    await peer.send(Message(heartbeat=True, seq=3, payload=b"12345678"))
    reply = await peer.recv()
    assert reply is not None and reply.heartbeat and reply.is_response and reply.seq == 3
    assert reply.payload == b"12345678"
    assert echo_upstream.frames == [] and echo_upstream.connections == 0


async def test_oneway_holds_no_state(proxy_factory, echo_upstream) -> None:
    rec = Recorder()
    proxy, paddr = await proxy_factory(one_cluster(echo_upstream.address), observers=[rec])
    async with await Client.connect(paddr, Option(serialize_type=SerializeType.NONE)) as c:
        for i in range(20):
            await c.oneway("Arith", "Echo", str(i).encode())
        await rec.wait_for(20)
        async with asyncio.timeout(WAIT):
            while len(echo_upstream.frames) < 20:
                await asyncio.sleep(0.01)
    assert all(FrameHeader.parse(f).oneway for f in echo_upstream.frames)
    assert [r.status for r in rec.records] == ["ok"] * 20 and all(r.oneway for r in rec.records)
    up = proxy.clusters["up"]
    assert all(u.pending == 0 for conns in up._pool.values() for u in conns)


async def test_many_clients_share_few_upstream_connections_without_crossed_replies(proxy_factory, server_factory) -> None:
    """20,000 mixed calls (Mul, Echo with metadata, Fail, oneway) from 8 clients, 2 upstream
    connections per server to 2 servers: every reply is the one to its own call."""
    accepted: list[object] = []

    class Count:
        def post_conn_accept(self, conn: object) -> bool:
            accepted.append(conn)
            return True

    addrs = []
    for _ in range(2):
        srv, a = await server_factory()
        srv.plugins.add(Count())
        addrs.append(a)
    _, paddr = await proxy_factory({"clusters": {"up": {"servers": addrs, "connections_per_server": 2}},
                                    "default": {"cluster": "up"}})
    clients = [await Client.connect(paddr) for _ in range(8)]
    rng = random.Random(7)
    errors: list[str] = []
    sem = asyncio.Semaphore(400)

    async def one(c: Client, i: int) -> None:
        kind = rng.random()
        async with sem:
            if kind < 0.5:
                r = await c.call("Arith", "Mul", Args(i, 3), Reply)
                if r.C != i * 3:
                    errors.append(f"Mul({i}, 3) = {r.C}")
            elif kind < 0.8:
                md: dict[str, str] = {}
                body = f"call-{i}".encode()
                got = await c.call("Arith", "Echo", body, bytes, metadata={"k": str(i)}, response_metadata=md)
                if got != body or md.get("k") != str(i):
                    errors.append(f"Echo({i}) = {got!r} {md}")
            elif kind < 0.95:
                try:
                    await c.call("Arith", "Fail", Args(i, i), Reply)
                    errors.append(f"Fail({i}) did not fail")
                except ServiceError as exc:
                    if "arith failed on purpose" not in str(exc):
                        errors.append(f"Fail({i}): {exc}")
            else:
                await c.oneway("Arith", "Add", Args(i, i))

    try:
        await asyncio.wait_for(asyncio.gather(*(one(clients[i % 8], i) for i in range(20000))), 240)
    finally:
        for c in clients:
            await c.aclose()
    assert errors == []
    assert len(accepted) == 4  # 2 servers x 2 shared connections, for 8 clients


async def test_malformed_frame_closes_only_that_client(proxy_factory, server, raw) -> None:
    _, paddr = await proxy_factory(one_cluster(server))
    async with await Client.connect(paddr) as good:
        bad = await raw(paddr)
        await bad.send(b"\x08\x00\x00\x00" + bytes(8) + b"\x00\x00\x00\x20" + b"\xff" * 32)  # lying lengths
        assert await bad.wait_closed_by_server() == []
        bad2 = await raw(paddr)
        await bad2.send(b"GET / HTTP/1.1\r\n\r\n")
        await bad2.wait_closed_by_server()
        assert await good.call("Arith", "Mul", Args(2, 5), Reply) == Reply(10)


async def test_response_frame_from_a_client_closes_it(proxy_factory, server, raw) -> None:
    _, paddr = await proxy_factory(one_cluster(server))
    peer = await raw(paddr)
    await peer.send(Message(message_type=1, service_path="A", service_method="B", seq=1))
    await peer.wait_closed_by_server()


async def test_upstream_dying_mid_call_answers_with_an_error(proxy_factory, echo_upstream) -> None:
    rec = Recorder()
    _, paddr = await proxy_factory(one_cluster(echo_upstream.address), observers=[rec])
    echo_upstream.hold = True
    async with await Client.connect(paddr, Option(serialize_type=SerializeType.NONE)) as c:
        calls = [asyncio.ensure_future(c.call("Arith", "Echo", b"x")) for _ in range(5)]
        async with asyncio.timeout(WAIT):
            while len(echo_upstream.frames) < 5:
                await asyncio.sleep(0.01)
        echo_upstream.abort_all()
        for call in calls:
            with pytest.raises(ServiceError, match=r"rpcx proxy: upstream tcp@127\.0\.0\.1:\d+ closed the connection"):
                await asyncio.wait_for(call, WAIT)
        # the next call dials again
        echo_upstream.hold = False
        assert await c.call("Arith", "Echo", b"again") == b"again"
    assert [r.status for r in rec.records[:5]] == ["error"] * 5


async def test_unreachable_upstream_is_a_clear_error(proxy_factory) -> None:
    dead = dead_address()
    _, paddr = await proxy_factory(one_cluster(dead))
    async with await Client.connect(paddr) as c:
        with pytest.raises(ServiceError, match=f"rpcx proxy: cannot connect to upstream {dead}"):
            await c.call("Arith", "Mul", Args(1, 2), Reply)


async def test_client_leaving_leaves_unfinished_calls_logged(proxy_factory, echo_upstream) -> None:
    rec = Recorder()
    proxy, paddr = await proxy_factory(one_cluster(echo_upstream.address), observers=[rec])
    echo_upstream.hold = True
    c = await Client.connect(paddr, Option(serialize_type=SerializeType.NONE))
    calls = [asyncio.ensure_future(c.call("Arith", "Echo", b"x")) for _ in range(3)]
    async with asyncio.timeout(WAIT):
        while len(echo_upstream.frames) < 3:
            await asyncio.sleep(0.01)
    await c.aclose()
    for call in calls:
        with pytest.raises(Exception):
            await call
    records = await rec.wait_for(3)
    assert [r.status for r in records] == ["unfinished"] * 3
    assert all(r.error == "the client closed the connection" for r in records)
    # the late replies are dropped by the proxy; other clients are unaffected
    for t, reply in echo_upstream.held:
        t.write(reply)
    echo_upstream.hold = False
    async with await Client.connect(paddr, Option(serialize_type=SerializeType.NONE)) as c2:
        assert await c2.call("Arith", "Echo", b"ok") == b"ok"


async def test_push_reaches_a_pinned_client_and_is_dropped_on_a_shared_connection(proxy_factory, server) -> None:
    pushes: list[Message] = []
    proxy, paddr = await proxy_factory({
        "clusters": {"up": {"servers": [server]}},
        "routes": [{"name": "pushy", "match": {"metadata": {"push": {"present": True}}}, "cluster": "up",
                    "pin_upstream": True}],
        "default": {"cluster": "up"},
    })
    opt = Option(serialize_type=SerializeType.NONE)
    async with await Client.connect(paddr, opt, on_push=pushes.append) as c, \
            await Client.connect(paddr, opt, on_push=pushes.append) as other:
        assert await other.call("Arith", "Echo", b"warm") == b"warm"  # a shared upstream connection
        assert await c.call("Arith", "Echo", b"pushed", metadata={"push": "p1"}) == b"pushed"
        async with asyncio.timeout(WAIT):
            while not pushes:
                await asyncio.sleep(0.01)
        [p] = pushes
        assert p.is_push and p.payload == b"pushed" and p.metadata == {"push": "p1"}
    assert proxy.pushes_dropped == 0
    # the same call on a route without pinning: the push cannot be attributed, so it is dropped
    proxy2, paddr2 = await proxy_factory(one_cluster(server))
    async with await Client.connect(paddr2, opt, on_push=pushes.append) as c:
        assert await c.call("Arith", "Echo", b"pushed", metadata={"push": "p2"}) == b"pushed"
        async with asyncio.timeout(WAIT):
            while proxy2.pushes_dropped == 0:
                await asyncio.sleep(0.01)
    assert len(pushes) == 1


async def test_pinned_upstream_connection_closes_with_its_client(proxy_factory, echo_upstream) -> None:
    _, paddr = await proxy_factory({"clusters": {"up": {"servers": [echo_upstream.address]}},
                                    "default": {"cluster": "up", "pin_upstream": True}})
    opt = Option(serialize_type=SerializeType.NONE)
    for _ in range(3):
        async with await Client.connect(paddr, opt) as c:
            assert await c.call("Arith", "Echo", b"a") == b"a"
            assert await c.call("Arith", "Echo", b"b") == b"b"
    assert echo_upstream.connections == 3  # one per client, reused for its calls
    async with asyncio.timeout(WAIT):
        while not all(t.is_closing() for t in echo_upstream.transports):
            await asyncio.sleep(0.01)


async def test_route_timeout_answers_and_is_sent_upstream(proxy_factory, echo_upstream, raw) -> None:
    _, paddr = await proxy_factory(one_cluster(echo_upstream.address, timeout="150ms"))
    peer = await raw(paddr)
    await peer.send(Message(service_path="Arith", service_method="Echo", seq=1, metadata={"a": "b"}))
    reply = await peer.recv()
    assert reply is not None and reply.metadata == {"a": "b", "__ServerTimeout": "150"}
    echo_upstream.hold = True
    await peer.send(Message(service_path="Arith", service_method="Echo", seq=2))
    reply = await peer.recv()
    assert reply is not None and reply.seq == 2
    assert reply.error == "rpcx proxy: call timed out after 150 ms (route default)"
    parse_frame(encode(reply))


async def test_a_client_that_does_not_read_stops_being_read(proxy_factory, echo_upstream, raw) -> None:
    """Replies a client does not read pile up only to the transport's high-water mark: then the proxy
    stops reading that client's requests, so it cannot make the proxy buffer without bound. Other
    clients carry on."""
    proxy, paddr = await proxy_factory(one_cluster(echo_upstream.address))
    big = b"z" * (1 << 20)
    slow = await raw(paddr)
    n = 40
    for i in range(n):  # written without waiting: the kernel and the proxy take what they will
        slow.writer.write(encode(Message(service_path="S", service_method="M", seq=i, payload=big)))
    async with asyncio.timeout(WAIT):
        while not any(d.slow_reader for d in proxy._downstreams):
            await asyncio.sleep(0.01)
    await asyncio.sleep(0.5)
    assert len(echo_upstream.frames) < n  # the proxy stopped reading the slow client's requests
    async with await Client.connect(paddr, Option(serialize_type=SerializeType.NONE)) as c:
        assert await c.call("S", "M", b"fine") == b"fine"
    # once it reads, everything is answered (two upstream connections: in any order)
    seqs = set()
    async with asyncio.timeout(60):
        while len(seqs) < n:
            msg = await slow.recv(60)
            assert msg is not None and len(msg.payload) == len(big)
            seqs.add(msg.seq)
    assert seqs == set(range(n))


async def test_an_upstream_that_does_not_read_stops_the_proxy_reading_its_clients_only(proxy_factory, echo_upstream) -> None:
    """Backpressure per upstream connection: while one does not take requests, the clients sending
    to it are not read from (nothing piles up in the proxy), and a client whose calls go to another
    upstream is not held up at all."""
    other = EchoUpstream()
    await other.start()
    try:
        proxy, paddr = await proxy_factory({
            "clusters": {"up": {"servers": [echo_upstream.address], "connections_per_server": 1},
                         "other": {"servers": [other.address]}},
            "routes": [{"name": "slow", "match": {"method": "M"}, "cluster": "up"}],
            "default": {"cluster": "other"}})
        opt = Option(serialize_type=SerializeType.NONE)
        async with await Client.connect(paddr, opt) as c, await Client.connect(paddr, opt) as elsewhere, \
                await Client.connect(paddr, opt) as late:
            assert await c.call("S", "M", b"warm") == b"warm"
            assert await elsewhere.call("S", "N", b"warm") == b"warm"
            echo_upstream.pause_reading()
            big = b"q" * (1 << 20)
            calls = [asyncio.ensure_future(c.call("S", "M", big)) for _ in range(30)]
            async with asyncio.timeout(WAIT):
                while not proxy._busy_upstreams:
                    await asyncio.sleep(0.01)
            [busy] = proxy._busy_upstreams
            held = [d for d in proxy._downstreams if d.upstream_busy]
            assert len(held) == 1 and held[0].upstream_busy == {busy}
            # a client routed elsewhere carries on while the slow upstream is stalled
            for i in range(50):
                assert await asyncio.wait_for(elsewhere.call("S", "N", b"%d" % i), WAIT) == b"%d" % i
            assert all(not c.done() for c in calls)
            # a client that now sends to the busy upstream is held after that request too
            late_call = asyncio.ensure_future(late.call("S", "M", b"late"))
            async with asyncio.timeout(WAIT):
                while sum(1 for d in proxy._downstreams if d.upstream_busy) < 2:
                    await asyncio.sleep(0.01)
            echo_upstream.resume_reading()
            assert await asyncio.wait_for(asyncio.gather(*calls), 60) == [big] * 30
            assert await asyncio.wait_for(late_call, WAIT) == b"late"
            assert not proxy._busy_upstreams and not any(d.upstream_busy for d in proxy._downstreams)
    finally:
        await other.aclose()
