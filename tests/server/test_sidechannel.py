"""File transfer and streams over side channels, Python client to Python server, on real sockets."""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import os
import socket
from pathlib import Path
from typing import Any, AsyncIterator

import pytest

from conftest import WAIT
from rpcx import Option, Peer2PeerDiscovery, Server, XClient
from rpcx.client import BlockingXClient
from rpcx.errors import RpcxConnectionError, ServiceError
from rpcx.protocol.constants import SerializeType
from rpcx.protocol.sidechannel import DownloadFileArgs, FileTransferArgs, FileTransferReply, StreamServiceArgs, StreamServiceReply
from rpcx.server.filetransfer import FileTransfer, save_to_directory, serve_from_directory
from rpcx.server.stream import StreamService
from rpcx.transport.sidestream import SideConnection
from rpcx.transport.tcp import split_host_port


class Side:
    """A server with both side services on a temporary directory; ``uploads_finished`` gets the name
    of every upload whose handler has returned (saved or discarded)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.address = ""
        self.uploads_finished = asyncio.Queue[str]()
        self.stream_meta: list[Any] = []
        self.server = Server()
        save = save_to_directory(root)

        async def upload(conn: SideConnection, args: FileTransferArgs) -> None:
            try:
                await save(conn, args)
            finally:
                self.uploads_finished.put_nowait(args.file_name)

        async def echo(conn: SideConnection, args: Any) -> None:
            self.stream_meta.append(args.meta)
            while data := await conn.receive_some():
                await conn.send_all(data)

        def accept(ctx: Any, args: Any) -> bool:
            return not (args.meta or {}).get("refuse")

        self.ft = FileTransfer("127.0.0.1:0", upload, serve_from_directory(root), token_timeout=2.0)
        self.ss = StreamService("127.0.0.1:0", echo, accept)

    async def start(self) -> None:
        await self.server.enable_file_transfer(self.ft)
        await self.server.enable_stream_service(self.ss)
        self.address = await self.server.start("tcp@127.0.0.1:0")

    async def aclose(self) -> None:
        await self.server.close()
        await self.ft.aclose()
        await self.ss.aclose()

    def files(self, st: int = SerializeType.MSGPACK) -> XClient:
        return XClient("_filetransfer", discovery=Peer2PeerDiscovery(self.address),
                       option=Option(serialize_type=st))

    def streams(self) -> XClient:
        return XClient("_streamservice", discovery=Peer2PeerDiscovery(self.address))


@pytest.fixture
async def side(tmp_path: Path) -> AsyncIterator[Side]:
    root = tmp_path / "server"
    root.mkdir()
    s = Side(root)
    await s.start()
    yield s
    await s.aclose()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_file(path: Path, size: int) -> Path:
    path.write_bytes(os.urandom(size))
    return path


@pytest.mark.parametrize("st", [SerializeType.MSGPACK, SerializeType.JSON])
async def test_five_mib_upload_and_download_arrive_intact(side: Side, tmp_path: Path, st: int) -> None:
    src = make_file(tmp_path / "big.bin", 5 << 20)
    async with side.files(st) as xc:
        assert await xc.send_file(src, meta={"who": "test"}, timeout=WAIT) == 5 << 20
        assert await asyncio.wait_for(side.uploads_finished.get(), WAIT) == "big.bin"
        assert digest(side.root / "big.bin") == digest(src)
        out = tmp_path / "copy.bin"
        assert await xc.download_file("big.bin", out, timeout=WAIT) == 5 << 20
    assert digest(out) == digest(src)


async def test_download_into_a_writer_and_an_async_writer(side: Side) -> None:
    (side.root / "small.txt").write_bytes(b"hello side channel")
    chunks: list[bytes] = []

    class AsyncSink:
        async def write(self, data: bytes) -> None:
            chunks.append(data)

    async with side.files() as xc:
        buf = io.BytesIO()
        await xc.download_file("small.txt", buf, timeout=WAIT)
        await xc.download_file("small.txt", AsyncSink(), timeout=WAIT)
    assert buf.getvalue() == b"hello side channel" == b"".join(chunks)


async def test_unknown_or_unsafe_download_names_give_zero_bytes(side: Side, caplog: Any) -> None:
    caplog.set_level(logging.WARNING, "rpcx.server.side")
    (side.root.parent / "secret").write_bytes(b"outside the directory")
    async with side.files() as xc:
        assert await xc.download_file("missing.bin", io.BytesIO(), timeout=WAIT) == 0
        assert await xc.download_file("../secret", io.BytesIO(), timeout=WAIT) == 0
    assert any("not a plain file name: '../secret'" in m for m in caplog.messages)


async def test_stream_echoes_both_ways_and_carries_meta(side: Side) -> None:
    async with side.streams() as xc:
        async with await xc.stream({"k": "v"}, timeout=WAIT) as conn:
            payload = os.urandom(1 << 20)

            async def pump() -> None:
                await conn.send_all(payload)
                await conn.send_eof()

            writer = asyncio.create_task(pump())
            got = bytearray()
            while data := await asyncio.wait_for(conn.receive_some(), WAIT):
                got += data
            await writer
    assert bytes(got) == payload
    assert side.stream_meta == [{"k": "v"}]


async def test_refused_stream_is_the_calls_error(side: Side) -> None:
    async with side.streams() as xc:
        with pytest.raises(ServiceError, match="^server refused the connection$"):
            await xc.stream({"refuse": "1"}, timeout=WAIT)
    assert side.ss.stats["served"] == 0


async def raw_side(addr: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = split_host_port(addr)
    return await asyncio.open_connection(host, port)


async def closed_by_server(reader: asyncio.StreamReader) -> bool:
    try:
        return await asyncio.wait_for(reader.read(1), WAIT) == b""
    except ConnectionError:
        return True


async def test_bad_token_closes_the_connection_with_a_log_line(side: Side, caplog: Any) -> None:
    caplog.set_level(logging.WARNING, "rpcx.server.side")
    assert side.ft.address is not None
    reader, writer = await raw_side(side.ft.address)
    writer.write(os.urandom(32) + b"file bytes that must go nowhere")
    assert await closed_by_server(reader)
    writer.close()
    assert side.ft.stats["refused"] == 1
    assert any("unknown, used or expired token" in m for m in caplog.messages)
    # the service carries on
    async with side.streams() as xc:
        async with await xc.stream(timeout=WAIT) as conn:
            await conn.send_all(b"ping")
            assert await asyncio.wait_for(conn.receive_some(), WAIT) == b"ping"


async def test_a_token_admits_one_connection_only(side: Side, tmp_path: Path) -> None:
    async with side.streams() as xc:
        reply = await xc.call("Stream", StreamServiceArgs(), StreamServiceReply, timeout=WAIT)
    assert len(reply.token) == 32 and reply.addr == side.ss.address
    first = await raw_side(reply.addr)
    first[1].write(reply.token + b"abc")
    assert await asyncio.wait_for(first[0].readexactly(3), WAIT) == b"abc"
    second = await raw_side(reply.addr)
    second[1].write(reply.token)
    assert await closed_by_server(second[0])
    for _, w in (first, second):
        w.close()


async def test_a_peer_that_never_sends_its_token_is_dropped_and_stalls_nobody(side: Side, caplog: Any) -> None:
    caplog.set_level(logging.WARNING, "rpcx.server.side")
    assert side.ft.address is not None
    silent_reader, silent_writer = await raw_side(side.ft.address)
    silent_writer.write(b"short")  # less than a token, then nothing
    (side.root / "x.txt").write_bytes(b"x")
    async with side.files() as xc:  # served while the silent peer waits
        buf = io.BytesIO()
        await xc.download_file("x.txt", buf, timeout=WAIT)
        assert buf.getvalue() == b"x"
    assert await closed_by_server(silent_reader)  # token_timeout=2.0
    silent_writer.close()
    assert any("failed to read token" in m and "timed out" in m for m in caplog.messages)


async def test_expired_token_is_refused(tmp_path: Path) -> None:
    server = Server()
    ss = StreamService("127.0.0.1:0", lambda conn, args: None, token_ttl=0.0)
    await server.enable_stream_service(ss)
    addr = await server.start("tcp@127.0.0.1:0")
    try:
        async with XClient("_streamservice", discovery=Peer2PeerDiscovery(addr)) as xc:
            conn = await xc.stream(timeout=WAIT)
            async with conn:
                assert await asyncio.wait_for(conn.receive_some(), WAIT) == b""
        assert ss.stats == {"served": 0, "refused": 1, "failed": 0}
    finally:
        await server.close()
        await ss.aclose()


async def test_client_vanishing_midway_leaves_no_file_and_the_server_carries_on(
    side: Side, tmp_path: Path, caplog: Any
) -> None:
    caplog.set_level(logging.WARNING, "rpcx.server.side")
    async with side.files() as xc:
        reply = await xc.call("TransferFile", FileTransferArgs("cut.bin", 1 << 20), FileTransferReply, timeout=WAIT)
        host, port = split_host_port(reply.addr)
        sock = socket.create_connection((host, port), timeout=WAIT)
        sock.sendall(reply.token + os.urandom(100_000))
        # vanish: a reset, not a clean close
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        sock.close()
        assert await asyncio.wait_for(side.uploads_finished.get(), WAIT) == "cut.bin"
        assert list(side.root.iterdir()) == []  # neither cut.bin nor its .part
        ok = make_file(tmp_path / "after.bin", 300_000)
        await xc.send_file(ok, timeout=WAIT)
        assert await asyncio.wait_for(side.uploads_finished.get(), WAIT) == "after.bin"
    assert digest(side.root / "after.bin") == digest(ok)
    assert any("cut.bin" in m for m in caplog.messages)


async def test_many_concurrent_transfers(side: Side, tmp_path: Path) -> None:
    files = [make_file(tmp_path / f"f{i}.bin", 50_000 + i * 1000) for i in range(20)]
    async with side.files() as xc:
        sent = await asyncio.wait_for(asyncio.gather(*(xc.send_file(f) for f in files)), WAIT * 3)
        assert sent == [f.stat().st_size for f in files]
        for _ in files:
            await asyncio.wait_for(side.uploads_finished.get(), WAIT)
        bufs = [io.BytesIO() for _ in files]
        await asyncio.wait_for(
            asyncio.gather(*(xc.download_file(f.name, b) for f, b in zip(files, bufs))), WAIT * 3)
    for f, b in zip(files, bufs):
        assert (side.root / f.name).read_bytes() == f.read_bytes() == b.getvalue()


async def test_rate_limited_upload_arrives_whole(side: Side, tmp_path: Path) -> None:
    src = make_file(tmp_path / "slow.bin", 3000)
    async with side.files() as xc:
        assert await xc.send_file(src, rate_in_bytes_per_second=2000, timeout=WAIT) == 3000
        await asyncio.wait_for(side.uploads_finished.get(), WAIT)
    assert digest(side.root / "slow.bin") == digest(src)


async def test_a_handler_that_raises_is_logged_and_others_carry_on(caplog: Any) -> None:
    caplog.set_level(logging.ERROR, "rpcx.server.side")

    def broken(conn: SideConnection, args: Any) -> None:
        raise RuntimeError("handler bug")

    server = Server()
    ft = FileTransfer("127.0.0.1:0", None, broken)
    await server.enable_file_transfer(ft)
    addr = await server.start("tcp@127.0.0.1:0")
    try:
        async with XClient("_filetransfer", discovery=Peer2PeerDiscovery(addr)) as xc:
            for _ in range(2):
                assert await xc.download_file("any", io.BytesIO(), timeout=WAIT) == 0
            with pytest.raises(ServiceError, match="file upload is not enabled"):
                await xc.send_file(__file__, timeout=WAIT)
        assert ft.stats["failed"] == 2
        assert any("handler for" in m for m in caplog.messages)
    finally:
        await server.close()
        await ft.aclose()


async def test_shutdown_closes_the_side_listener() -> None:
    server = Server()
    ft = FileTransfer("127.0.0.1:0", None, None)
    await server.enable_file_transfer(ft)
    await server.start("tcp@127.0.0.1:0")
    assert ft.address is not None
    await server.shutdown()
    host, port = split_host_port(ft.address)
    with pytest.raises(OSError):
        await asyncio.wait_for(asyncio.open_connection(host, port), WAIT)
    await ft.aclose()


async def test_a_dead_side_address_is_a_connection_error(side: Side, tmp_path: Path) -> None:
    side.ft.advertise_addr = "127.0.0.1:1"  # as a misconfigured AdvertiseAddr would
    async with side.files() as xc:
        with pytest.raises(RpcxConnectionError, match="side channel: dial tcp 127.0.0.1:1"):
            await xc.send_file(make_file(tmp_path / "a", 10), timeout=WAIT)


def test_blocking_facade(tmp_path: Path) -> None:
    """send_file, download_file and stream (a plain socket) from code that is not async."""
    import threading

    root = tmp_path / "srv"
    root.mkdir()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    side = Side(root)
    asyncio.run_coroutine_threadsafe(side.start(), loop).result(WAIT)
    try:
        src = make_file(tmp_path / "b.bin", 200_000)
        with BlockingXClient("_filetransfer", discovery=Peer2PeerDiscovery(side.address)) as xc:
            assert xc.send_file(src, timeout=WAIT) == 200_000
            asyncio.run_coroutine_threadsafe(side.uploads_finished.get(), loop).result(WAIT)
            buf = io.BytesIO()
            assert xc.download_file("b.bin", buf, timeout=WAIT) == 200_000
        assert buf.getvalue() == src.read_bytes()
        with BlockingXClient("_streamservice", discovery=Peer2PeerDiscovery(side.address)) as xs:
            with xs.stream(timeout=WAIT) as sock:
                sock.settimeout(WAIT)
                sock.sendall(b"blocking")
                got = b""
                while len(got) < 8 and (data := sock.recv(100)):
                    got += data
                assert got == b"blocking"
    finally:
        asyncio.run_coroutine_threadsafe(side.aclose(), loop).result(WAIT)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(WAIT)


async def test_ipv6_side_listener_advertises_a_bracketed_address() -> None:
    if not socket.has_ipv6:
        pytest.fail("this machine has no IPv6: the test needs ::1")

    async def echo(conn: SideConnection, args: Any) -> None:
        await conn.send_all(await conn.receive_some())

    server = Server()
    ss = StreamService("[::1]:0", echo)
    await server.enable_stream_service(ss)
    addr = await server.start("tcp@127.0.0.1:0")
    try:
        assert ss.address is not None and ss.address.startswith("[::1]:")
        async with XClient("_streamservice", discovery=Peer2PeerDiscovery(addr)) as xc:
            async with await xc.stream(timeout=WAIT) as conn:
                await conn.send_all(b"six")
                assert await asyncio.wait_for(conn.receive_some(), WAIT) == b"six"
    finally:
        await server.close()
        await ss.aclose()


async def test_enabling_side_channels_keeps_the_fast_path(side: Side) -> None:
    # the plugin that closes the listeners with the server has only a lifecycle hook
    assert not side.server.plugins.per_call


async def test_a_handler_that_does_not_read_holds_the_sender_back() -> None:
    """Flow control: a stream whose handler reads nothing fills the socket buffers and then the
    client's ``send_all`` waits; the server does not buffer what it has not read."""
    release = asyncio.Event()
    received: list[int] = []

    async def lazy(conn: SideConnection, args: Any) -> None:
        await release.wait()
        n = 0
        while data := await conn.receive_some():
            n += len(data)
        received.append(n)

    server = Server()
    ss = StreamService("127.0.0.1:0", lazy)
    await server.enable_stream_service(ss)
    addr = await server.start("tcp@127.0.0.1:0")
    chunk = os.urandom(64 * 1024)
    limit = 64 << 20
    sent = 0
    try:
        async with XClient("_streamservice", discovery=Peer2PeerDiscovery(addr)) as xc:
            conn = await xc.stream(timeout=WAIT)
            while sent < limit:
                try:
                    await asyncio.wait_for(conn.send_all(chunk), 0.5)
                except TimeoutError:
                    break  # held back: the write buffer is full and nobody reads
                sent += len(chunk)
            assert sent < limit, "64 MiB went into a connection nobody reads"
            release.set()
            await conn.send_eof()
            async with asyncio.timeout(WAIT):
                while not received:
                    await asyncio.sleep(0.01)
            await conn.aclose()
        # every byte that send_all accepted (and the one chunk cut short) arrives
        assert sent <= received[0] <= sent + len(chunk)
    finally:
        await server.close()
        await ss.aclose()


async def test_a_downloader_vanishing_midway_is_logged_and_the_server_carries_on(side: Side, caplog: Any) -> None:
    caplog.set_level(logging.WARNING, "rpcx.server.side")
    big = os.urandom(16 << 20)  # more than loopback buffers hold for a peer that reads nothing
    (side.root / "big.bin").write_bytes(big)
    async with side.files() as xc:
        reply = await xc.call("DownloadFile", DownloadFileArgs("big.bin"),
                              FileTransferReply, timeout=WAIT)
        host, port = split_host_port(reply.addr)
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(reply.token)
        assert len(await asyncio.wait_for(reader.read(1000), WAIT)) > 0
        writer.transport.abort()  # vanish with most of the file unsent
        async with asyncio.timeout(WAIT):
            while not any("download of 'big.bin'" in m and "broke after" in m for m in caplog.messages):
                await asyncio.sleep(0.01)
        buf = io.BytesIO()
        assert await xc.download_file("big.bin", buf, timeout=WAIT) == len(big)
    assert buf.getvalue() == big
    assert side.ft.stats["failed"] == 0
