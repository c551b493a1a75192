"""The memory network's transports, end by end: flow control, close, abort, half-close, naming."""

from __future__ import annotations

import asyncio
import errno
from typing import Any

import pytest

from rpcx import Client, Server
from rpcx.errors import RpcxConnectionError
from rpcx.transport import dial, listen
from rpcx.transport import memory
from rpcx.transport.memory import HIGH_WATER, MAX_READ, MemoryTransport

WAIT = 10.0
_names = iter(range(10**6))


def fresh(network: str = "memory") -> str:
    return f"{network}@test-memory-{next(_names)}"


@pytest.fixture(autouse=True)
def free_names() -> Any:
    """Close what a test left listening: the name table is per process."""
    yield
    for listener in [v for k, v in memory._LISTENERS.items() if k.startswith("test-memory-")]:
        listener.close()


class Recorder(asyncio.Protocol):
    """Records every callback, in order; optionally keeps the connection open after EOF."""

    def __init__(self, keep_open: bool = False) -> None:
        self.events: list[Any] = []
        self.data = bytearray()
        self.transport: Any = None
        self.keep_open = keep_open
        self.lost = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.events.append("made")

    def data_received(self, data: bytes) -> None:
        self.data += data
        self.events.append(("data", len(data)))

    def eof_received(self) -> bool:
        self.events.append("eof")
        return self.keep_open

    def pause_writing(self) -> None:
        self.events.append("pause_writing")

    def resume_writing(self) -> None:
        self.events.append("resume_writing")

    def connection_lost(self, exc: Exception | None) -> None:
        self.events.append(("lost", type(exc).__name__ if exc else None))
        self.lost.set_result(exc)


async def pair(server_keep_open: bool = False) -> tuple[Recorder, Recorder, Any]:
    """A connected (client protocol, server protocol, listener), the server having accepted."""
    servers: list[Recorder] = []

    def factory() -> Recorder:
        servers.append(Recorder(server_keep_open))
        return servers[0]

    addr = fresh()
    listener = await listen(addr, factory)
    _, client = await dial(addr, Recorder)
    await asyncio.sleep(0)
    assert isinstance(client, Recorder) and len(servers) == 1
    return client, servers[0], listener


async def turns(n: int = 5) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


async def test_bytes_are_delivered_on_the_loop_never_inside_write() -> None:
    client, server, _ = await pair()
    client.transport.write(b"abc")
    assert server.data == b""  # not re-entrantly
    await turns()
    assert server.data == b"abc"
    assert client.transport.get_extra_info("peername")[0] == "memory"
    assert server.transport.get_extra_info("peername") == client.transport.get_extra_info("sockname")
    assert server.transport.get_extra_info("ssl_object") is None


async def test_flow_control_pauses_and_resumes_the_writer() -> None:
    client, server, _ = await pair()
    server.transport.pause_reading()
    client.transport.write(b"x" * (HIGH_WATER + 1))
    assert client.events[-1] == "pause_writing"  # past the high-water mark, at once
    client.transport.write(b"y" * (3 * MAX_READ))
    assert client.transport.get_write_buffer_size() == HIGH_WATER + 1 + 3 * MAX_READ
    await turns(20)
    assert server.data == b""  # the paused reader gets nothing and the bytes stay with the writer
    assert client.events.count("pause_writing") == 1 and "resume_writing" not in client.events
    server.transport.resume_reading()
    await turns(20)
    assert bytes(server.data) == b"x" * (HIGH_WATER + 1) + b"y" * (3 * MAX_READ)
    assert all(e[1] <= MAX_READ for e in server.events if e[0] == "data")
    assert client.transport.get_write_buffer_size() == 0
    assert client.events.count("resume_writing") == 1
    assert client.transport.get_write_buffer_limits() == (HIGH_WATER // 4, HIGH_WATER)


async def test_pausing_inside_data_received_stops_delivery() -> None:
    client, server, _ = await pair()
    real = server.data_received

    def pause_after_first(data: bytes) -> None:
        real(data)
        server.transport.pause_reading()

    server.data_received = pause_after_first  # type: ignore[method-assign]
    client.transport.write(b"z" * (2 * MAX_READ + 10))
    await turns(20)
    assert len(server.data) == MAX_READ
    server.transport.resume_reading()
    await turns(20)
    assert len(server.data) == 2 * MAX_READ


async def test_set_write_buffer_limits() -> None:
    client, server, _ = await pair()
    server.transport.pause_reading()
    client.transport.write(b"a" * 100)
    client.transport.set_write_buffer_limits(high=50)
    assert client.transport.get_write_buffer_limits() == (12, 50)
    assert client.events[-1] == "pause_writing"
    with pytest.raises(ValueError):
        client.transport.set_write_buffer_limits(high=1, low=2)


async def test_close_flushes_then_eof_then_lost_on_both_sides() -> None:
    client, server, _ = await pair()
    client.transport.write(b"last words")
    client.transport.close()
    assert client.transport.is_closing()
    client.transport.write(b"dropped")  # writes after close vanish, as the contract says
    await asyncio.wait_for(asyncio.gather(client.lost, server.lost), WAIT)
    assert server.data == b"last words"
    assert server.events == ["made", ("data", 10), "eof", ("lost", None)]
    assert client.events[-1] == ("lost", None)


async def test_close_waits_for_a_paused_reader() -> None:
    client, server, _ = await pair()
    server.transport.pause_reading()
    client.transport.write(b"q" * 1000)
    client.transport.close()
    await turns(20)
    assert not client.lost.done() and server.data == b""
    server.transport.resume_reading()
    await asyncio.wait_for(client.lost, WAIT)
    assert server.data == b"q" * 1000 and "eof" in server.events


async def test_abort_drops_the_buffer_and_resets_the_peer() -> None:
    client, server, _ = await pair()
    server.transport.pause_reading()
    client.transport.write(b"never seen")
    client.transport.abort()
    assert await asyncio.wait_for(client.lost, WAIT) is None
    exc = await asyncio.wait_for(server.lost, WAIT)
    assert isinstance(exc, ConnectionResetError)
    assert server.data == b"" and "eof" not in server.events
    server.transport.write(b"into the void")  # no error, no callback
    await turns()


async def test_half_close_lets_the_peer_answer() -> None:
    client, server, _ = await pair(server_keep_open=True)
    assert client.transport.can_write_eof()
    client.transport.write(b"question")
    client.transport.write_eof()
    with pytest.raises(RuntimeError):
        client.transport.write(b"more")
    await turns()
    assert server.events[-1] == "eof"
    server.transport.write(b"answer")
    server.transport.close()
    await asyncio.wait_for(asyncio.gather(client.lost, server.lost), WAIT)
    assert client.data == b"answer"
    assert client.events[-3:] == [("data", 6), "eof", ("lost", None)]


async def test_a_failing_protocol_is_reported_and_aborted() -> None:
    client, server, _ = await pair()
    loop = asyncio.get_running_loop()
    seen: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, ctx: seen.append(ctx))
    try:
        def boom(data: bytes) -> None:
            raise ValueError("boom")

        server.data_received = boom  # type: ignore[method-assign]
        client.transport.write(b"x")
        assert isinstance(await asyncio.wait_for(client.lost, WAIT), ConnectionResetError)
        assert isinstance(seen[0]["exception"], ValueError)
    finally:
        loop.set_exception_handler(None)


async def test_names_refused_taken_freed_and_shared_with_memu() -> None:
    addr = fresh()
    with pytest.raises(RpcxConnectionError, match="refused"):
        await dial(addr, asyncio.Protocol)
    listener = await listen(addr, asyncio.Protocol)
    assert listener.address == addr
    with pytest.raises(OSError) as info:
        await listen(addr, asyncio.Protocol)
    assert info.value.errno == errno.EADDRINUSE
    t, _ = await dial(addr.replace("memory@", "memu@"), asyncio.Protocol)  # Go's name, one table
    assert isinstance(t, MemoryTransport)
    t.close()
    listener.close()
    with pytest.raises(RpcxConnectionError):
        await dial(addr, asyncio.Protocol)
    again = await listen(addr, asyncio.Protocol)  # the name is free again
    again.close()


def test_a_listener_on_another_loop_is_refused() -> None:
    addr = fresh()

    async def serve() -> Any:
        return await listen(addr, asyncio.Protocol)

    loop = asyncio.new_event_loop()
    try:
        listener = loop.run_until_complete(serve())

        async def other() -> None:
            with pytest.raises(RpcxConnectionError, match="another event loop"):
                await dial(addr, asyncio.Protocol)

        asyncio.run(other())
        listener.close()
    finally:
        loop.close()


async def test_server_and_client_over_memu() -> None:
    srv = Server()
    srv.register_function("Svc", lambda data: data, name="Echo")
    addr = await srv.start(fresh("memu"))
    try:
        assert addr.startswith("memu@")
        async with await Client.connect(addr) as c:
            assert await c.call("Svc", "Echo", b"hi", bytes, serialize_type=0) == b"hi"
            (conn,) = srv.connections
            assert conn.peer[0] == "memu"
    finally:
        await srv.close()
