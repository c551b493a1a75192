"""Bad input at each network's own layer, below rpcx (garbage inside the tunnel is the conformance
suite's ``garbage`` check; http refusals, the ws handshake and quic's ALPN and datagrams are in
test_http_ws.py and test_quic.py): plain bytes to a TLS port, and WebSocket frames that break the
protocol. Each closes that connection only; a connection opened before and a new one carry on."""

from __future__ import annotations

import asyncio
import random
import shutil
import ssl
import struct
import tempfile
from contextlib import asynccontextmanager
from typing import AsyncIterator, Iterator

import pytest

from rpcx import Client, Option, Server
from rpcx.protocol import SerializeType
from rpcx.testing.transport_conformance import self_signed_cert
from rpcx.transport import server_tls_context

from conftest import WAIT


class Echo:
    def echo(self, data: bytes) -> bytes:
        return data


@pytest.fixture(scope="module")
def cert() -> Iterator[tuple[str, str]]:
    d = tempfile.mkdtemp(prefix="rpcx-bad-")
    try:
        yield self_signed_cert(d)
    finally:
        shutil.rmtree(d, ignore_errors=True)


async def _call(c: Client, data: bytes) -> bytes:
    return await c.call("Echo", "echo", data, bytes, serialize_type=SerializeType.NONE, timeout=WAIT)  # type: ignore[no-any-return]


@asynccontextmanager
async def _serve(address: str, **kw: object) -> AsyncIterator[tuple[str, int]]:
    srv = Server(**kw)  # type: ignore[arg-type]
    srv.register(Echo(), name="Echo")
    addr = await srv.start(address)
    try:
        yield addr, int(addr.rsplit(":", 1)[1])
    finally:
        await srv.close()


async def _read_to_end(reader: asyncio.StreamReader) -> bytes:
    return await asyncio.wait_for(reader.read(), WAIT)


async def _carries_on(addr: str, bystander: Client, option: Option) -> None:
    assert await _call(bystander, b"after") == b"after"
    async with await Client.connect(addr, option) as fresh:
        assert await _call(fresh, b"new") == b"new"


@pytest.mark.parametrize("network", ["tcp", "http", "wss"])
@pytest.mark.parametrize("junk", [b"CONNECT /_rpcx_ HTTP/1.0\n\n", b"\x08\x00" + random.Random(5).randbytes(2000)])
async def test_plain_bytes_to_a_tls_port(cert: tuple[str, str], network: str, junk: bytes) -> None:
    """A peer that does not speak TLS to a TLS port (an rpcx frame, an http CONNECT): the handshake
    fails and the server closes that connection (after a TLS alert, if it sends one)."""
    option = Option(tls=ssl.create_default_context(cafile=cert[0]), connect_timeout=WAIT)
    async with _serve(f"{network}@127.0.0.1:0", tls=server_tls_context(*cert)) as (addr, port):
        async with await Client.connect(addr, option) as bystander:
            assert await _call(bystander, b"before") == b"before"
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(junk)
            try:
                rest = await _read_to_end(reader)
            except ConnectionResetError:  # closed with our junk unread: a reset is a close too
                rest = b""
            assert rest == b"" or rest[0] == 0x15, rest[:40]  # nothing, or a TLS alert record
            writer.close()
            await _carries_on(addr, bystander, option)


def _upgrade() -> bytes:
    return (b"GET /_rpcx_ HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")


def _frame(first: int, payload: bytes, masked: bool = True) -> bytes:
    """One client frame: ``first`` is the FIN/RSV/opcode byte; a zero mask leaves the payload as is."""
    n = len(payload)
    length = bytes([(0x80 if masked else 0) | n]) if n < 126 else bytes([(0x80 if masked else 0) | 126]) + struct.pack(">H", n)
    return bytes([first]) + length + (b"\0\0\0\0" if masked else b"") + payload


#: frames that break RFC 6455; Go's x/net server closes an unmasked one with 1002 (protocol error)
BAD_FRAMES = {
    "unmasked": _frame(0x82, b"hello", masked=False),
    "reserved_opcode": _frame(0x83, b"hello"),
    "rsv1_without_extension": _frame(0xC2, b"hello"),
    "long_ping": _frame(0x89, b"p" * 126),
    "fragmented_ping": _frame(0x09, b"p"),
    "continuation_first": _frame(0x80, b"hello"),
}


@pytest.mark.parametrize("kind", sorted(BAD_FRAMES))
async def test_ws_frame_breaking_the_protocol(kind: str) -> None:
    """The server answers with a Close frame carrying 1002 (protocol error, what x/net sends for an
    unmasked frame), then ends that connection; others carry on. (A text frame is not bad input:
    Go's client sends its rpcx bytes in text frames, see test_http_ws.py.)"""
    option = Option(connect_timeout=WAIT)
    async with _serve("ws@127.0.0.1:0") as (addr, port):
        async with await Client.connect(addr, option) as bystander:
            assert await _call(bystander, b"before") == b"before"
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(_upgrade())
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT)
            assert head.startswith(b"HTTP/1.1 101 ")
            writer.write(BAD_FRAMES[kind])
            rest = await _read_to_end(reader)
            assert rest[:1] == b"\x88" and rest[2:4] == struct.pack(">H", 1002), rest[:40]
            writer.close()
            await _carries_on(addr, bystander, option)
