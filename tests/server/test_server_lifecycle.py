"""Graceful shutdown, the concurrency bound, frame limits and frames a server must refuse."""

from __future__ import annotations

import asyncio
import logging

import pytest
from arith_service import Args, Reply
from server_frames import req

from rpcx import Client, Context, Limits, RpcxConnectionError, Server
from rpcx.errors import ConnectionClosedError
from rpcx.protocol import Message, MessageStatusType, MessageType, SerializeType, encode

#: generous bound for "this must happen": a hang check on a loaded machine, not a speed check
WAIT = 10.0


class Gate:
    """An async method that waits until the test opens the gate, so 'slow' needs no sleeps."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.gate = asyncio.Event()
        self.running = 0
        self.max_running = 0
        self.done = 0

    async def wait(self, args: Args) -> Reply:
        self.running += 1
        self.max_running = max(self.max_running, self.running)
        self.entered.set()
        try:
            await self.gate.wait()
            await asyncio.sleep(0)
            return Reply(args.A)
        finally:
            self.running -= 1
            self.done += 1

    def quick(self, args: Args) -> Reply:
        return Reply(args.A)


async def test_graceful_shutdown_finishes_call_in_flight(server_factory) -> None:
    g = Gate()
    srv, addr = await server_factory(register=False)
    srv.register(g)
    c = await Client.connect(addr)
    call = asyncio.create_task(c.call("Gate", "Wait", Args(42), Reply))
    await asyncio.wait_for(g.entered.wait(), WAIT)
    shutdown = asyncio.create_task(srv.shutdown(timeout=WAIT))
    await asyncio.sleep(0.05)
    assert not shutdown.done()
    # new connections are refused while the call is still in flight
    with pytest.raises(RpcxConnectionError):
        await Client.connect(addr)
    g.gate.set()
    assert await asyncio.wait_for(call, WAIT) == Reply(42)
    assert await asyncio.wait_for(shutdown, WAIT) is True
    await asyncio.wait_for(c.wait_closed(), WAIT)
    await asyncio.wait_for(srv.wait_closed(), WAIT)
    with pytest.raises(RpcxConnectionError):
        await Client.connect(addr)


async def test_shutdown_timeout_returns_false(server_factory) -> None:
    g = Gate()
    srv, addr = await server_factory(register=False)
    srv.register(g)
    c = await Client.connect(addr)
    call = asyncio.create_task(c.call("Gate", "Wait", Args(1), Reply))
    await asyncio.wait_for(g.entered.wait(), WAIT)
    assert await srv.shutdown(timeout=0.1) is False
    with pytest.raises(ConnectionClosedError):
        await asyncio.wait_for(call, WAIT)
    g.gate.set()


async def test_shutdown_idle_and_twice(server_factory) -> None:
    srv, addr = await server_factory()
    async with await Client.connect(addr) as c:
        assert await c.call("Arith", "Mul", Args(2, 2), Reply) == Reply(4)
        assert await srv.shutdown() is True
        await asyncio.wait_for(c.wait_closed(), WAIT)
    assert await srv.shutdown() is True


async def test_serve_returns_after_shutdown() -> None:
    srv = Server()
    srv.register(Gate())
    serving = asyncio.create_task(srv.serve("tcp@127.0.0.1:0"))
    for _ in range(200):
        if srv.address:
            break
        await asyncio.sleep(0.01)
    async with await Client.connect(srv.address) as c:
        assert await c.call("Gate", "Quick", Args(3), Reply) == Reply(3)
    async with srv:
        pass  # __aexit__ shuts down
    await asyncio.wait_for(serving, WAIT)


@pytest.mark.parametrize("clients", [1, 5])
async def test_max_concurrent_calls_bounds_running_handlers(server_factory, clients: int) -> None:
    g = Gate()
    srv, addr = await server_factory(register=False, max_concurrent_calls=4)
    srv.register(g)
    cs = [await Client.connect(addr) for _ in range(clients)]
    try:
        calls = [asyncio.create_task(cs[i % clients].call("Gate", "Wait", Args(i), Reply)) for i in range(50)]
        async with asyncio.timeout(WAIT):
            while g.running < 4:
                await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)  # give a fifth call the chance to start, if the bound leaked
        assert g.running == 4
        # a quick call waits its turn too, and heartbeats still work once capacity frees up
        g.gate.set()
        results = await asyncio.wait_for(asyncio.gather(*calls), WAIT * 3)
        assert results == [Reply(i) for i in range(50)]
        assert g.max_running == 4 and g.done == 50
        assert await cs[0].call("Gate", "Quick", Args(7), Reply) == Reply(7)
        await cs[0].heartbeat(timeout=WAIT)
    finally:
        for c in cs:
            await c.aclose()


async def test_backlog_of_sync_calls_behind_the_bound_does_not_recurse(server_factory, raw) -> None:
    """Thousands of quick (sync) frames held behind busy async calls are released without recursion."""
    g = Gate()
    srv, addr = await server_factory(register=False, max_concurrent_calls=2)
    srv.register(g)
    c = await Client.connect(addr)
    slow = [asyncio.create_task(c.call("Gate", "Wait", Args(i), Reply)) for i in range(2)]
    await asyncio.wait_for(g.entered.wait(), WAIT)
    p = await raw(addr)
    n = 3000
    payload = bytes.fromhex("82a1410aa14214")
    await p.send(b"".join(encode(req("Gate", "Quick", payload, seq=i)) for i in range(n)))
    await asyncio.sleep(0.2)
    g.gate.set()
    seqs = []
    for _ in range(n):
        r = await p.recv()
        assert r.error is None, r.error
        seqs.append(r.seq)
    assert sorted(seqs) == list(range(n))
    assert [r.C for r in await asyncio.wait_for(asyncio.gather(*slow), WAIT)] == [0, 1]
    await c.aclose()


async def test_response_frame_sent_to_server_gets_error_and_close(server, raw, caplog) -> None:
    p = await raw(server)
    bogus = Message(
        message_type=MessageType.RESPONSE, serialize_type=SerializeType.MSGPACK, seq=11,
        service_path="Arith", service_method="Mul", payload=bytes.fromhex("82a1410aa14214"),
    )
    with caplog.at_level(logging.WARNING, logger="rpcx.server"):
        await p.send(bogus)
        frames = await p.wait_closed_by_server()
    assert len(frames) == 1
    (res,) = frames
    assert res.seq == 11 and res.status == MessageStatusType.ERROR and res.payload == b""
    assert "response frame" in res.error
    assert any("response frame" in r.getMessage() for r in caplog.records)


async def test_frames_after_a_closing_frame_are_not_dispatched(server_factory, raw) -> None:
    ran: list[int] = []

    class Svc:
        def note(self, args: Args) -> None:
            ran.append(args.A)

    srv, addr = await server_factory(register=False)
    srv.register(Svc())
    p = await raw(addr)
    bogus = Message(message_type=MessageType.RESPONSE, seq=1, service_path="Svc", service_method="Note")
    after = Message(serialize_type=SerializeType.MSGPACK, seq=2, service_path="Svc", service_method="Note",
                    payload=bytes.fromhex("81a14105"))
    await p.send(encode(bogus) + encode(after))
    frames = await p.wait_closed_by_server()
    assert [f.seq for f in frames] == [1]
    assert ran == []


async def test_max_message_length_closes_only_that_connection(server_factory, raw, caplog) -> None:
    srv, addr = await server_factory(limits=Limits(max_message_length=1000))
    good = await Client.connect(addr)
    assert await good.call("Arith", "Mul", Args(3, 3), Reply) == Reply(9)
    p = await raw(addr)
    big = req("Arith", "Echo", b"x" * 2000, serialize_type=0)
    with caplog.at_level(logging.WARNING, logger="rpcx.server"):
        await p.send(encode(big)[:16])  # the header alone is enough to refuse it
        assert await p.wait_closed_by_server() == []
    assert any("message is too long" in r.getMessage() for r in caplog.records)
    # exactly at the limit is fine
    ok = req("Arith", "Echo", b"", serialize_type=0, seq=5)
    ok.payload = b"y" * (1000 - len(encode(ok)) + 16)
    assert len(encode(ok)) - 16 == 1000
    p2 = await raw(addr)
    await p2.send(ok)
    assert (await p2.recv()).payload == ok.payload
    assert await good.call("Arith", "Mul", Args(4, 4), Reply) == Reply(16)
    await good.aclose()


async def test_compressed_request_gets_compressed_reply(server) -> None:
    from rpcx import CompressType, Option

    async with await Client.connect(server, Option(compress_type=CompressType.GZIP)) as c:
        data = bytes(range(256)) * 20
        assert await c.call("Arith", "Echo", data, bytes, serialize_type=0) == data
        assert await c.call("Arith", "Echo", b"small", bytes, serialize_type=0) == b"small"


async def test_context_is_per_call(server_factory) -> None:
    seen: list[tuple[str, int]] = []

    class Svc:
        async def who(self, ctx: Context) -> str:
            await asyncio.sleep(0.01)
            seen.append((ctx.service_method, ctx.seq))
            return repr(ctx.peer)

    srv, addr = await server_factory(register=False)
    srv.register(Svc())
    async with await Client.connect(addr) as c:
        peers = await asyncio.gather(*(c.call("Svc", "Who", None) for _ in range(10)))
    assert len(set(peers)) == 1 and "127.0.0.1" in peers[0]
    assert sorted(s for _, s in seen) == list(range(10))


async def test_heartbeats_answered_while_at_the_concurrency_bound(server_factory) -> None:
    """Long calls filling max_concurrent_calls must not starve heartbeats: the client would take the
    silence for a dead server and drop the connection, failing the very calls it waits for (Go
    answers heartbeats in the read loop, before the worker pool)."""
    from rpcx import Heartbeat, Option

    g = Gate()
    srv, addr = await server_factory(register=False, max_concurrent_calls=1)
    srv.register(g)
    opt = Option(heartbeat=Heartbeat(interval=0.05, max_wait=0.5))
    async with await Client.connect(addr, opt) as c:
        first = asyncio.create_task(c.call("Gate", "Wait", Args(1), Reply))
        queued = asyncio.create_task(c.call("Gate", "Wait", Args(2), Reply))  # waits behind the bound
        await asyncio.wait_for(g.entered.wait(), WAIT)
        await asyncio.sleep(1.5)  # many heartbeat rounds while the server is at its bound
        assert not c.closed
        assert g.running == 1
        g.gate.set()
        assert await asyncio.wait_for(first, WAIT) == Reply(1)
        assert await asyncio.wait_for(queued, WAIT) == Reply(2)
        assert g.max_running == 1


async def test_frames_held_behind_the_bound_are_bounded_per_connection(server_factory, raw) -> None:
    from rpcx.server.server import HELD_BYTES_PER_CONNECTION

    g = Gate()
    srv, addr = await server_factory(max_concurrent_calls=1)
    srv.register(g)
    c = await Client.connect(addr)
    busy = asyncio.create_task(c.call("Gate", "Wait", Args(1), Reply))
    await asyncio.wait_for(g.entered.wait(), WAIT)
    p = await raw(addr)
    frame = encode(req("Arith", "Echo", b"z" * (64 << 10), serialize_type=0))
    sent, limit = 0, 32 << 20
    while sent < limit:
        p.writer.write(frame)
        sent += len(frame)
        try:
            await asyncio.wait_for(p.writer.drain(), 1.0)
        except TimeoutError:
            break
    held = max(conn.backlog_bytes for conn in srv.connections)
    assert sent < limit
    assert 0 < held <= HELD_BYTES_PER_CONNECTION + (512 << 10)
    g.gate.set()
    assert await asyncio.wait_for(busy, WAIT) == Reply(1)
    for _ in range(sent // len(frame)):  # everything sent is answered once the bound frees up
        r = await p.recv()
        assert r is not None and r.error is None and len(r.payload) == 64 << 10
    await c.aclose()
