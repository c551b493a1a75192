"""``Client`` (one connection) against real servers and hand-written raw servers."""

from __future__ import annotations

import asyncio
import random
import struct
from typing import Any, AsyncIterator, Awaitable, Callable

import pytest
from arith_service import Args, Reply

from rpcx import CallTimeoutError, Client, Context, Heartbeat, Option, ServiceError
from rpcx.errors import ConnectionClosedError, RpcxConnectionError, RpcxError
from rpcx.protocol import FrameDecoder, Message, MessageType, SerializeType, encode, make_response

#: generous bound for "this must happen": a hang check on a loaded machine, not a speed check
WAIT = 10.0


async def test_1000_concurrent_calls_on_one_connection(server) -> None:
    async with await Client.connect(server) as c:
        rnd = random.Random(7)
        pairs = [(rnd.randrange(-10**9, 10**9), rnd.randrange(-10**6, 10**6)) for _ in range(1000)]
        replies = await asyncio.wait_for(
            asyncio.gather(*(c.call("Arith", "Mul", Args(a, b), Reply) for a, b in pairs)), WAIT * 3
        )
        assert replies == [Reply(a * b) for a, b in pairs]
        assert c.pending == 0


async def test_1000_concurrent_mixed_calls_with_async_handler(server) -> None:
    async with await Client.connect(server) as c:
        async def one(i: int) -> None:
            if i % 3 == 0:
                assert await c.call("Arith", "Echo", b"%d" % i, bytes, serialize_type=0, metadata={"k": str(i)}) == b"%d" % i
            elif i % 3 == 1:
                assert await c.call("Arith", "Add", Args(i, i), Reply) == Reply(2 * i)
            else:
                with pytest.raises(ServiceError):
                    await c.call("Arith", "Fail", Args(i, i), Reply)

        await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(1000))), WAIT * 3)


async def test_out_of_order_replies_are_matched(server_factory) -> None:
    n = 10

    class Sleepy:
        async def inv(self, args: Args) -> Reply:
            await asyncio.sleep((n - args.A) * 0.05)
            return Reply(args.A * 10)

    srv, addr = await server_factory(register=False)
    srv.register(Sleepy())
    completed: list[int] = []
    async with await Client.connect(addr) as c:
        async def one(i: int) -> Reply:
            r = await c.call("Sleepy", "Inv", Args(i), Reply)
            completed.append(i)
            return r

        replies = await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(n))), WAIT)
    assert replies == [Reply(i * 10) for i in range(n)]
    assert sorted(completed) == list(range(n))
    assert completed != list(range(n))


async def test_timeout_then_late_reply_is_dropped(server_factory) -> None:
    release = asyncio.Event()
    finished = asyncio.Event()

    class Slow:
        async def late(self, args: Args) -> Reply:
            await release.wait()
            finished.set()
            return Reply(-1)

        def fast(self, args: Args) -> Reply:
            return Reply(args.A)

    srv, addr = await server_factory(register=False)
    srv.register(Slow())
    async with await Client.connect(addr) as c:
        with pytest.raises(CallTimeoutError, match="timed out"):
            await c.call("Slow", "Late", Args(1), Reply, timeout=0.1)
        assert c.pending == 0
        release.set()
        await asyncio.wait_for(finished.wait(), WAIT)
        # the late reply arrives and is dropped; the connection and later calls are fine
        for i in range(20):
            assert await c.call("Slow", "Fast", Args(i), Reply, timeout=WAIT) == Reply(i)
        assert not c.closed
    opt = Option(default_timeout=0.1)
    release.clear()
    async with await Client.connect(addr, opt) as c:
        with pytest.raises(CallTimeoutError):
            await c.call("Slow", "Late", Args(1), Reply)
        release.set()


class RawServer:
    """A hand-written asyncio server: records every frame it reads and answers through ``respond``."""

    def __init__(self, respond: Callable[["RawServer", Message, asyncio.StreamWriter], Awaitable[None]] | None = None):
        self.respond = respond
        self.frames: list[Message] = []
        self.writers: list[asyncio.StreamWriter] = []
        self.got = asyncio.Condition()
        self.server: asyncio.base_events.Server | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._conn, "127.0.0.1", 0)
        return "tcp@127.0.0.1:%d" % self.server.sockets[0].getsockname()[1]

    async def _conn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        dec = FrameDecoder()
        try:
            while data := await reader.read(65536):
                for m in dec.feed(data):
                    async with self.got:
                        self.frames.append(m)
                        self.got.notify_all()
                    if self.respond is not None:
                        await self.respond(self, m, writer)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def wait_frames(self, n: int, timeout: float = WAIT) -> list[Message]:
        async with asyncio.timeout(timeout):
            async with self.got:
                await self.got.wait_for(lambda: len(self.frames) >= n)
        return list(self.frames)

    async def aclose(self) -> None:
        for w in self.writers:
            w.close()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


@pytest.fixture
async def raw_server() -> AsyncIterator[Callable[..., Awaitable[tuple[RawServer, str]]]]:
    made: list[RawServer] = []

    async def make(respond: Any = None) -> tuple[RawServer, str]:
        s = RawServer(respond)
        made.append(s)
        return s, await s.start()

    yield make
    for s in made:
        await s.aclose()


async def test_client_request_frames_match_go(raw_server) -> None:
    """First seq 0, then +1 per send (heartbeats and oneway included); msgpack by default."""

    async def reply(rs: RawServer, m: Message, w: asyncio.StreamWriter) -> None:
        if not m.oneway or m.heartbeat:
            w.write(encode(make_response(m, b"\x81\xa1C\xcc\xc8" if not m.heartbeat else m.payload)))

    rs, addr = await raw_server(reply)
    async with await Client.connect(addr) as c:
        assert await c.call("Arith", "Mul", Args(10, 20), Reply) == Reply(200)
        await c.oneway("Arith", "Mul", Args(1, 2))
        await c.heartbeat(timeout=WAIT)
        assert await c.call("Arith", "Mul", Args(10, 20), Reply, metadata={"a": "b"}) == Reply(200)
    frames = await rs.wait_frames(4)
    assert [f.seq for f in frames] == [0, 1, 2, 3]
    assert encode(frames[0]) == bytes.fromhex(
        "080000300000000000000000" "0000001f" "0000000541726974680000000" "34d756c" "00000000" "00000007" "82a1410aa14214"
        .replace(" ", "")
    )
    assert frames[1].oneway and frames[1].message_type == MessageType.REQUEST
    hb = frames[2]
    assert hb.heartbeat and hb.serialize_type == SerializeType.MSGPACK
    assert (hb.service_path, hb.service_method, hb.metadata) == ("", "", {})
    assert len(hb.payload) == 9 and hb.payload[0] == 0xD3
    assert frames[3].metadata == {"a": "b"}


async def test_server_closing_fails_pending_calls_promptly(raw_server) -> None:
    async def close_after_three(rs: RawServer, m: Message, w: asyncio.StreamWriter) -> None:
        if len(rs.frames) == 3:
            w.close()

    rs, addr = await raw_server(close_after_three)
    c = await Client.connect(addr)
    calls = [asyncio.create_task(c.call("Arith", "Mul", Args(i, i), Reply)) for i in range(3)]
    done, _ = await asyncio.wait(calls, timeout=WAIT)
    assert len(done) == 3
    for t in calls:
        with pytest.raises(ConnectionClosedError, match="connection is shut down"):
            t.result()
    assert c.closed and c.pending == 0
    with pytest.raises(ConnectionClosedError):
        await c.call("Arith", "Mul", Args(1, 1), Reply)
    await c.aclose()
    await c.aclose()  # idempotent


async def test_real_server_close_fails_pending_calls(server_factory) -> None:
    gate = asyncio.Event()
    entered = asyncio.Event()

    class Hang:
        async def hang(self) -> None:
            entered.set()
            await gate.wait()

    srv, addr = await server_factory(register=False)
    srv.register(Hang())
    c = await Client.connect(addr)
    call = asyncio.create_task(c.call("Hang", "Hang", None))
    await asyncio.wait_for(entered.wait(), WAIT)
    await srv.close()
    with pytest.raises(ConnectionClosedError):
        await asyncio.wait_for(call, WAIT)
    await asyncio.wait_for(c.wait_closed(), WAIT)


async def test_client_aclose_fails_own_pending_calls(server_factory) -> None:
    gate = asyncio.Event()

    class Hang:
        async def hang(self) -> None:
            await gate.wait()

    srv, addr = await server_factory(register=False)
    srv.register(Hang())
    c = await Client.connect(addr)
    call = asyncio.create_task(c.call("Hang", "Hang", None))
    await asyncio.sleep(0.05)
    await asyncio.wait_for(c.aclose(), WAIT)
    with pytest.raises(ConnectionClosedError):
        await asyncio.wait_for(call, WAIT)
    gate.set()


async def test_heartbeats_keep_a_healthy_connection(server_factory) -> None:
    beats: list[int] = []

    class Count:
        def heartbeat_request(self, req: Message) -> None:
            beats.append(req.seq)

    srv, addr = await server_factory()
    srv.add_plugin(Count())
    # max_wait is generous on purpose: a loaded test machine must not look like a dead server
    async with await Client.connect(addr, Option(heartbeat=Heartbeat(interval=0.05, max_wait=2.0))) as c:
        for _ in range(200):
            if len(beats) >= 5:
                break
            assert await c.call("Arith", "Mul", Args(2, 3), Reply, timeout=WAIT) == Reply(6)
            await asyncio.sleep(0.02)
        assert len(beats) >= 5
        assert not c.closed
        assert await c.call("Arith", "Add", Args(2, 3), Reply, timeout=WAIT) == Reply(5)


async def test_unanswered_heartbeat_closes_the_connection(raw_server, caplog) -> None:
    rs, addr = await raw_server(None)  # reads everything, answers nothing
    c = await Client.connect(addr, Option(heartbeat=Heartbeat(interval=0.05, max_wait=0.5)))
    pending = asyncio.create_task(c.call("Arith", "Mul", Args(1, 1), Reply))
    await asyncio.wait_for(c.wait_closed(), WAIT)
    assert c.closed
    with pytest.raises(ConnectionClosedError, match="heartbeat"):
        await asyncio.wait_for(pending, WAIT)
    hbs = [f for f in await rs.wait_frames(2) if f.heartbeat]
    assert hbs and all(not f.oneway and f.serialize_type == SerializeType.MSGPACK for f in hbs)


async def test_pushes_without_handler_or_with_failing_handler(server) -> None:
    async with await Client.connect(server) as c:
        assert await c.call("Arith", "Echo", b"a", bytes, serialize_type=0, metadata={"push": "1"}) == b"a"
        assert not c.closed

    def bad(msg: Message) -> None:
        raise RuntimeError("handler bug")

    async with await Client.connect(server, on_push=bad) as c:
        assert await c.call("Arith", "Echo", b"b", bytes, serialize_type=0, metadata={"push": "1"}) == b"b"
        assert await c.call("Arith", "Mul", Args(2, 2), Reply) == Reply(4)


async def test_unexpected_frames_from_server_are_survived(raw_server) -> None:
    """A stray response (unknown seq) and a non-oneway request from a server do not break the client."""

    async def respond(rs: RawServer, m: Message, w: asyncio.StreamWriter) -> None:
        stray = make_response(m.replace(seq=m.seq + 1000), b"\x80")
        odd_request = Message(seq=1, service_path="X", service_method="Y")
        w.write(encode(stray) + encode(odd_request) + encode(make_response(m, b"\x81\xa1C\x05")))

    rs, addr = await raw_server(respond)
    async with await Client.connect(addr) as c:
        assert await c.call("Arith", "Mul", Args(1, 5), Reply) == Reply(5)
        assert await c.call("Arith", "Mul", Args(1, 5), Reply) == Reply(5)


async def test_garbage_from_server_closes_client(raw_server) -> None:
    async def respond(rs: RawServer, m: Message, w: asyncio.StreamWriter) -> None:
        w.write(b"\x09garbage")

    rs, addr = await raw_server(respond)
    c = await Client.connect(addr)
    with pytest.raises(ConnectionClosedError, match="wrong magic number: 9"):
        await c.call("Arith", "Mul", Args(1, 5), Reply, timeout=WAIT)
    assert c.closed


async def test_connect_refused_and_timeout() -> None:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with pytest.raises(RpcxConnectionError, match="dial tcp@127.0.0.1"):
        await Client.connect(f"tcp@127.0.0.1:{port}")
    with pytest.raises(RpcxError, match="bogus unsupported"):
        await Client.connect("bogus@nowhere")


async def test_reply_metadata_and_ctx_in_handler(server_factory) -> None:
    class Meta:
        def swap(self, ctx: Context) -> dict:
            ctx.response_metadata.update({v: k for k, v in ctx.metadata.items()})
            return dict(ctx.metadata)

    srv, addr = await server_factory(register=False)
    srv.register(Meta())
    async with await Client.connect(addr) as c:
        md: dict[str, str] = {}
        got = await c.call("Meta", "Swap", None, metadata={"a": "1", "b": "2"}, response_metadata=md)
        assert got == {"a": "1", "b": "2"} and md == {"1": "a", "2": "b"}


async def test_async_push_handler_failure_is_logged(server, caplog) -> None:
    import logging

    ran = asyncio.Event()

    async def bad(msg: Message) -> None:
        await asyncio.sleep(0)
        ran.set()
        raise RuntimeError("async handler bug")

    with caplog.at_level(logging.ERROR, logger="rpcx.client"):
        async with await Client.connect(server, on_push=bad) as c:
            assert await c.call("Arith", "Echo", b"b", bytes, serialize_type=0, metadata={"push": "1"}) == b"b"
            await asyncio.wait_for(ran.wait(), WAIT)
            await asyncio.sleep(0.05)
            assert await c.call("Arith", "Mul", Args(2, 2), Reply) == Reply(4)
    assert any("push handler failed" in r.getMessage() and r.exc_info for r in caplog.records)


@pytest.mark.parametrize(
    ("data", "text"),
    [
        (struct.pack(">BBBBQI", 8, 0, 0x80, 0x30, 0, 0xFFFFFFFF), "message is too long"),
        (b"\x08" * 3 + b"\x00" * 9 + struct.pack(">I", 3) + b"abc", "shorter than its four section headers"),
    ],
)
async def test_hostile_server_frames_close_the_client(raw_server, data: bytes, text: str) -> None:
    async def respond(rs: RawServer, m: Message, w: asyncio.StreamWriter) -> None:
        w.write(data)

    rs, addr = await raw_server(respond)
    c = await Client.connect(addr)
    with pytest.raises(ConnectionClosedError, match=text):
        await c.call("Arith", "Mul", Args(1, 5), Reply, timeout=WAIT)
    await asyncio.wait_for(c.wait_closed(), WAIT)
    assert c.closed


async def test_calls_made_in_one_loop_turn_share_writes(server) -> None:
    """The first frame of a loop turn is written at once, the rest of that turn in one write: 32
    callers started together cost two writes, not 32 (Go's client pays one system call each)."""
    async with await Client.connect(server) as c:
        assert await c.call("Arith", "Mul", Args(1, 1), Reply, timeout=WAIT) == Reply(1)
        writes: list[int] = []

        class Counting:  # uvloop's transports cannot be patched: wrap the one the client holds
            def __init__(self, real: Any) -> None:
                self.real = real

            def write(self, data: bytes) -> None:
                writes.append(len(data))
                self.real.write(data)

            def __getattr__(self, name: str) -> Any:
                return getattr(self.real, name)

        c._transport = Counting(c._transport)  # type: ignore[assignment]
        replies = await asyncio.gather(*(c.call("Arith", "Mul", Args(i, 2), Reply, timeout=WAIT) for i in range(32)))
        assert replies == [Reply(2 * i) for i in range(32)]
        assert len(writes) == 2 and writes[0] * 32 == sum(writes)
