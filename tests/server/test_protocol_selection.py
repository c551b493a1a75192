"""Protocol selection per connection: rpcx and another protocol on one port, chosen by first bytes."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from arith_service import Args, Reply
from conftest import WAIT

from rpcx import Client, Server
from rpcx.protocol.detect import match_http, match_rpcx, match_tls
from rpcx.server.sniff import MAX_SNIFF_BYTES
from rpcx.transport.tcp import split_host_port


def match_ping(prefix: bytes) -> bool | None:
    n = min(len(prefix), 4)
    if prefix[:n] != b"PING"[:n]:
        return False
    return True if n == 4 else None


class LineProtocol(asyncio.Protocol):
    """Answers each ``PING...\\n`` line with ``PONG\\n``; records what happened to it."""

    events: list[str] = []

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.buf = b""

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        LineProtocol.events.append("made")

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while b"\n" in self.buf:
            line, self.buf = self.buf.split(b"\n", 1)
            self.transport.write(b"PONG " + line[4:] + b"\n")

    def connection_lost(self, exc: Exception | None) -> None:
        LineProtocol.events.append("lost")


async def _open(address: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = split_host_port(address.partition("@")[2])
    return await asyncio.open_connection(host, port)


@pytest.fixture
async def two_protocols(server_factory) -> tuple[Server, str]:
    LineProtocol.events = []
    srv, addr = await server_factory(frame_timeout=0.5)
    srv.add_protocol("line", match_ping, LineProtocol)
    return srv, addr


def test_matchers() -> None:
    assert match_rpcx(b"\x08") and match_rpcx(b"G") is False and match_rpcx(b"") is None
    assert match_tls(b"\x16\x03\x01\x02") and match_tls(b"\x16") is None and match_tls(b"\x08") is False
    assert match_http(b"POST /x") and match_http(b"OPT") is None and match_http(b"\x08\x00") is False


async def test_rpcx_and_another_protocol_share_a_port(two_protocols) -> None:
    srv, addr = two_protocols
    async with await Client.connect(addr) as c:
        for i in range(3):
            assert await c.call("Arith", "Mul", Args(i, 7), Reply, timeout=WAIT) == Reply(7 * i)
        r, w = await _open(addr)
        w.write(b"PI")  # the first bytes may arrive split: the server waits for enough to decide
        await w.drain()
        await asyncio.sleep(0.05)
        w.write(b"NG 1\nPING 2\n")
        assert await asyncio.wait_for(r.readline(), WAIT) == b"PONG  1\n"
        assert await asyncio.wait_for(r.readline(), WAIT) == b"PONG  2\n"
        # the rpcx connection carries on beside it, still on the fast path
        assert srv._routes
        assert await c.call("Arith", "Mul", Args(6, 7), Reply, timeout=WAIT) == Reply(42)
        w.close()
        await w.wait_closed()
    for _ in range(100):
        if LineProtocol.events == ["made", "lost"]:
            break
        await asyncio.sleep(0.01)
    assert LineProtocol.events == ["made", "lost"]


async def test_unknown_first_bytes_get_a_logged_clean_close(two_protocols, caplog) -> None:
    _srv, addr = two_protocols
    caplog.set_level(logging.WARNING, "rpcx.server")
    r, w = await _open(addr)
    w.write(b"HELLO THERE\n")
    assert await asyncio.wait_for(r.read(), WAIT) == b""  # closed, nothing sent
    assert any("no protocol on this port speaks b'HELLO THERE" in m for m in caplog.messages)
    w.close()
    async with await Client.connect(addr) as c:
        assert await c.call("Arith", "Mul", Args(2, 3), Reply, timeout=WAIT) == Reply(6)


async def test_first_bytes_that_never_decide_are_closed_by_the_frame_timeout(two_protocols) -> None:
    _srv, addr = two_protocols
    r, w = await _open(addr)
    w.write(b"PIN")
    assert await asyncio.wait_for(r.read(), WAIT) == b""
    w.close()


async def test_a_matcher_undecided_past_the_sniff_limit_says_no(server_factory) -> None:
    srv, addr = await server_factory()
    srv.add_protocol("never", lambda prefix: None, LineProtocol)
    r, w = await _open(addr)
    w.write(b"x" * (MAX_SNIFF_BYTES + 1))
    assert await asyncio.wait_for(r.read(), WAIT) == b""
    w.close()


async def test_shutdown_closes_handed_over_connections(two_protocols) -> None:
    srv, addr = two_protocols
    r, w = await _open(addr)
    w.write(b"PING x\n")
    assert await asyncio.wait_for(r.readline(), WAIT) == b"PONG  x\n"
    assert len(srv.connections) == 1 and next(iter(srv.connections)).handler is not None
    assert await asyncio.wait_for(srv.shutdown(timeout=2), WAIT)
    assert await asyncio.wait_for(r.read(), WAIT) == b""
    w.close()
