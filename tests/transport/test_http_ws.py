"""The http (CONNECT) and ws handshakes on the wire: Go's exact bytes, bounded parsing, bad input
closed cleanly while other connections carry on, the TLS rule of each network."""

from __future__ import annotations

import asyncio
import ssl

import pytest

from rpcx import Client, Option, RpcxConnectionError, RpcxError, Server
from rpcx.protocol import FrameDecoder, Message, SerializeType, encode
from rpcx.transport import listen, takes_tls, tls_for

from conftest import WAIT


class Echo:
    def echo(self, data: bytes) -> bytes:
        return data


def _request(seq: int = 1, payload: bytes = b"hi") -> bytes:
    return encode(Message(service_path="Echo", service_method="echo", serialize_type=SerializeType.NONE,
                          seq=seq, payload=payload))


async def _server(network: str, **options: object) -> tuple[Server, str, int]:
    srv = Server()
    srv.register(Echo(), name="Echo")
    addr = await srv.start(f"{network}@127.0.0.1:0", **options)
    return srv, addr, int(addr.rsplit(":", 1)[1])


async def _read_all(reader: asyncio.StreamReader) -> bytes:
    return await asyncio.wait_for(reader.read(), WAIT)  # until the server closes


async def _still_serves(addr: str) -> None:
    async with await Client.connect(addr, Option(connect_timeout=WAIT)) as c:
        assert await c.call("Echo", "echo", b"ok", bytes, serialize_type=SerializeType.NONE, timeout=WAIT) == b"ok"


async def test_http_connect_exact_bytes_and_trailing_data() -> None:
    """Go's handshake byte for byte; a request sent in the same write as the CONNECT is served."""
    srv, addr, port = await _server("http")
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"CONNECT /_rpcx_ HTTP/1.0\n\n" + _request(7, b"same packet"))
        head = await asyncio.wait_for(reader.readexactly(len(b"HTTP/1.0 200 Connected to rpcx\n\n")), WAIT)
        assert head == b"HTTP/1.0 200 Connected to rpcx\n\n"
        decoder, frames = FrameDecoder(), []
        while not frames:
            frames = decoder.feed(await asyncio.wait_for(reader.read(65536), WAIT))
        assert frames[0].seq == 7 and frames[0].payload == b"same packet"
        writer.close()
    finally:
        await srv.close()


@pytest.mark.parametrize("request_bytes, status, body", [
    (b"GET /_rpcx_ HTTP/1.1\r\nHost: x\r\n\r\n", b"405 Method Not Allowed", b"405 must CONNECT\n"),
    (b"POST /_rpcx_ HTTP/1.0\n\n", b"405 Method Not Allowed", b"405 must CONNECT\n"),
    (b"CONNECT /elsewhere HTTP/1.0\n\n", b"404 Not Found", b"404 page not found\n"),
    (b"\x08\x01\x02 not http at all\n\n", b"400 Bad Request", b"400 Bad Request\n"),
    (b"CONNECT /_rpcx_ HTTP/1.0\nX-Pad: " + b"a" * 20000, b"431 Request Header Fields Too Large", None),
])
async def test_http_refusals_are_clean(request_bytes: bytes, status: bytes, body: bytes | None) -> None:
    srv, addr, port = await _server("http")
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request_bytes)
        reply = await _read_all(reader)
        assert reply.startswith(b"HTTP/1.1 " + status + b"\r\n"), reply[:200]
        if body is not None:
            assert reply.endswith(b"\r\n\r\n" + body)
        writer.close()
        await _still_serves(addr)
    finally:
        await srv.close()


async def test_http_silent_client_is_closed_after_the_handshake_timeout() -> None:
    srv, addr, port = await _server("http", handshake_timeout=0.2)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"CONNECT /_rpcx_ HTTP/1.0\n")  # and never the blank line
        assert await _read_all(reader) == b""
        writer.close()
        await _still_serves(addr)
    finally:
        await srv.close()


async def test_closing_the_listener_ends_handshakes_in_progress() -> None:
    srv, addr, port = await _server("http")
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"CONNECT /_rpc")
    await asyncio.sleep(0.05)  # let the server accept it (not a timing assert: either way it must end)
    await asyncio.wait_for(srv.close(), WAIT)
    assert await _read_all(reader) == b""
    writer.close()


async def test_http_dial_refuses_a_server_that_is_not_rpcx() -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\n\n")
        writer.write(b"HTTP/1.0 200 OK\n\n")
        await writer.drain()

    other = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = other.sockets[0].getsockname()[1]
    try:
        with pytest.raises(RpcxConnectionError, match="unexpected HTTP response: 200 OK"):
            await Client.connect(f"http@127.0.0.1:{port}", Option(connect_timeout=WAIT))
    finally:
        other.close()


def _ws_upgrade(path: str = "/_rpcx_", upgrade: bool = True) -> bytes:
    lines = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1"]
    if upgrade:
        lines += ["Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
                  "Sec-WebSocket-Version: 13"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _masked_frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    assert len(payload) < 126
    return bytes([(0x80 if fin else 0) | opcode, 0x80 | len(payload)]) + b"\0\0\0\0" + payload  # a zero mask: payload as is


async def test_ws_text_frame_with_binary_bytes_is_served_as_go_clients_send_it() -> None:
    """x/net/websocket's client sends rpcx bytes in text frames: the server must not require UTF-8."""
    srv, addr, port = await _server("ws")
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(_ws_upgrade())
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT)
        assert head.startswith(b"HTTP/1.1 101 ")
        assert b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in head  # RFC 6455's example key
        req = _request(3, b"\xff\xfe not utf-8")
        writer.write(_masked_frame(0x1, req[:10], fin=False) + _masked_frame(0x0, req[10:]))  # split over two frames
        first = await asyncio.wait_for(reader.readexactly(2), WAIT)
        assert first[0] == 0x82 and first[1] < 126, "one unmasked binary frame per server write"
        frame = await asyncio.wait_for(reader.readexactly(first[1]), WAIT)
        (msg,) = FrameDecoder().feed(frame)
        assert msg.seq == 3 and msg.payload == b"\xff\xfe not utf-8"
        writer.close()
    finally:
        await srv.close()


@pytest.mark.parametrize("request_bytes, status", [
    (_ws_upgrade(path="/other"), b"404 Not Found"),
    (_ws_upgrade(upgrade=False), b"400 Bad Request"),
    (b"\x16\x03\x01 tls hello to a plain port\r\n\r\n", b"400 Bad Request"),
])
async def test_ws_refusals_are_clean(request_bytes: bytes, status: bytes) -> None:
    srv, addr, port = await _server("ws")
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request_bytes)
        assert (await _read_all(reader)).startswith(b"HTTP/1.1 " + status)
        writer.close()
        await _still_serves(addr)
    finally:
        await srv.close()


async def test_ws_bad_frame_closes_that_connection_only() -> None:
    srv, addr, port = await _server("ws")
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(_ws_upgrade())
        await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT)
        writer.write(bytes([0x82, 0x05]) + b"hello")  # a client frame without a mask: a protocol error
        rest = await _read_all(reader)
        assert rest[:1] == b"\x88", "a Close frame, then the end"
        writer.close()
        await _still_serves(addr)
    finally:
        await srv.close()


async def test_tls_rule_of_the_new_networks(caplog: pytest.LogCaptureFixture) -> None:
    assert takes_tls("http") and takes_tls("wss")
    assert not takes_tls("ws") and not takes_tls("reuseport")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    assert tls_for("http", ctx) is ctx and tls_for("reuseport", ctx) is None
    with pytest.raises(RpcxError, match="must set a TLS context for wss"):
        await listen("wss@127.0.0.1:0", asyncio.Protocol)
    with pytest.raises(RpcxError, match="ws network does not take TLS"):
        await listen("ws@127.0.0.1:0", asyncio.Protocol, ssl=ctx)
    # a Server with TLS serves reuseport in plain text, as Go, and says so
    srv = Server(tls=ctx)
    srv.register(Echo(), name="Echo")
    try:
        addr = await srv.start("reuseport@127.0.0.1:0")
        assert addr.startswith("tcp@")
        await _still_serves(addr)
    finally:
        await srv.close()
