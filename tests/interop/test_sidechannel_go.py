"""Side channels against Go rpcx v1.9.4, both ways: a Python XClient uploads, downloads and streams
through a Go server's ``_filetransfer`` / ``_streamservice`` (tests/interop/goserver --side-dir), and
Go's ``XClient.SendFile`` / ``DownloadFile`` / ``Stream`` (tests/interop/goclient) do the same
against a Python server, in MessagePack and JSON (the two codecs name the struct fields differently)."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
from pathlib import Path
from typing import Any, AsyncIterator

import pytest

from rpcx import Option, Peer2PeerDiscovery, Server, ServiceError, XClient
from rpcx.protocol.constants import SerializeType
from rpcx.protocol.sidechannel import FileTransferArgs, FileTransferReply
from rpcx.server.filetransfer import FileTransfer, save_to_directory, serve_from_directory
from rpcx.server.stream import StreamService
from rpcx.transport.sidestream import SideConnection

from .conftest import free_port

WAIT = 10.0
CODECS = {"msgpack": SerializeType.MSGPACK, "json": SerializeType.JSON}


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def wait_for_file(path: Path, size: int) -> bytes:
    """Both servers rename an upload into place once it is complete: wait for it to appear."""
    async with asyncio.timeout(WAIT):
        while not (path.exists() and path.stat().st_size == size):
            await asyncio.sleep(0.02)
    return path.read_bytes()


# -- Python client, Go server ----------------------------------------------------------------------
@pytest.fixture
def go_side(start_go_server: Any, tmp_path: Path) -> tuple[str, Path]:
    root = tmp_path / "go"
    root.mkdir()
    peer = start_go_server("--side-dir", str(root), "--file-addr", f"127.0.0.1:{free_port()}",
                           "--stream-addr", f"127.0.0.1:{free_port()}")
    return peer.address, root


@pytest.mark.parametrize("codec", sorted(CODECS))
async def test_python_client_uploads_downloads_and_streams_with_a_go_server(
    go_side: tuple[str, Path], tmp_path: Path, codec: str
) -> None:
    address, root = go_side
    data = os.urandom(5 << 20)
    src = tmp_path / "five.bin"
    src.write_bytes(data)
    option = Option(serialize_type=CODECS[codec])
    async with XClient("_filetransfer", discovery=Peer2PeerDiscovery(address), option=option) as xc:
        assert await xc.send_file(src, meta={"from": "python"}, timeout=WAIT) == len(data)
        assert digest(await wait_for_file(root / "five.bin", len(data))) == digest(data)
        buf = io.BytesIO()
        assert await xc.download_file("five.bin", buf, timeout=WAIT) == len(data)
        assert digest(buf.getvalue()) == digest(data)
    async with XClient("_streamservice", discovery=Peer2PeerDiscovery(address), option=option) as xs:
        async with await xs.stream({"k": "v"}, timeout=WAIT) as conn:
            payload = os.urandom(256 * 1024)
            writer = asyncio.create_task(conn.send_all(payload))
            got = b""
            while len(got) < len(payload):
                chunk = await asyncio.wait_for(conn.receive_some(), WAIT)
                assert chunk, "the Go echo closed early"
                got += chunk
            await writer
        assert got == payload
        with pytest.raises(ServiceError, match="^server refused the connection$"):
            await xs.stream({"refuse": "1"}, timeout=WAIT)


async def test_python_rate_limited_upload_to_go(go_side: tuple[str, Path], tmp_path: Path) -> None:
    address, root = go_side
    src = tmp_path / "paced.bin"
    src.write_bytes(os.urandom(5000))
    async with XClient("_filetransfer", discovery=Peer2PeerDiscovery(address)) as xc:
        await xc.send_file(src, rate_in_bytes_per_second=4000, timeout=WAIT)
    assert await wait_for_file(root / "paced.bin", 5000) == src.read_bytes()


# -- Go client, Python server ----------------------------------------------------------------------
@pytest.fixture
async def py_side(tmp_path: Path) -> AsyncIterator[tuple[str, Path, list[Any]]]:
    root = tmp_path / "py"
    root.mkdir()
    metas: list[Any] = []

    async def echo(conn: SideConnection, args: Any) -> None:
        metas.append(args.meta)
        while data := await conn.receive_some():
            await conn.send_all(data)

    server = Server()
    ft = FileTransfer("127.0.0.1:0", save_to_directory(root), serve_from_directory(root))
    ss = StreamService("127.0.0.1:0", echo, lambda ctx, args: not (args.meta or {}).get("refuse"))
    await server.enable_file_transfer(ft)
    await server.enable_stream_service(ss)
    address = await server.start("tcp@127.0.0.1:0")
    yield address, root, metas
    await server.close()
    await ft.aclose()
    await ss.aclose()


async def goclient(go_bin: Path, address: str, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        str(go_bin / "goclient"), address, *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@pytest.mark.parametrize("codec", sorted(CODECS))
async def test_go_client_uploads_downloads_and_streams_with_a_python_server(
    go_bin: Path, py_side: tuple[str, Path, list[Any]], tmp_path: Path, codec: str
) -> None:
    address, root, metas = py_side
    data = os.urandom(5 << 20)
    src = tmp_path / "from-go.bin"
    src.write_bytes(data)
    rc, out, err = await goclient(go_bin, address, "--codec", codec, "--upload", str(src))
    assert (rc, out) == (0, f"uploaded {src}\n"), err
    assert digest(await wait_for_file(root / "from-go.bin", len(data))) == digest(data)

    saved = tmp_path / "back.bin"
    rc, out, err = await goclient(go_bin, address, "--codec", codec, "--download", "from-go.bin",
                                  "--save-to", str(saved))
    assert (rc, out) == (0, f"downloaded {len(data)} bytes\n"), err
    assert digest(saved.read_bytes()) == digest(data)

    rc, out, err = await goclient(go_bin, address, "--codec", codec, "--stream-echo", "300000",
                                  "--side-meta", "color")
    assert (rc, out) == (0, "stream echoed 300000 bytes\n"), err
    assert metas == [{"color": "1"}]

    rc, out, err = await goclient(go_bin, address, "--codec", codec, "--stream-echo", "10",
                                  "--side-meta", "refuse")
    assert rc == 1 and out == "stream refused: server refused the connection\n", err


async def test_go_rate_limited_upload_to_python(
    go_bin: Path, py_side: tuple[str, Path, list[Any]], tmp_path: Path
) -> None:
    address, root, _ = py_side
    src = tmp_path / "paced.bin"
    src.write_bytes(os.urandom(3000))
    rc, out, err = await goclient(go_bin, address, "--upload", str(src), "--rate", "2048")
    assert rc == 0, err
    assert await wait_for_file(root / "paced.bin", 3000) == src.read_bytes()


async def test_go_and_python_both_close_a_connection_with_a_bad_token(
    go_bin: Path, start_go_server: Any, py_side: tuple[str, Path, list[Any]], tmp_path: Path
) -> None:
    """The behaviour the Python server copies: an unknown token gets the connection closed."""
    file_port = free_port()
    start_go_server("--side-dir", str(tmp_path), "--file-addr", f"127.0.0.1:{file_port}",
                    "--stream-addr", f"127.0.0.1:{free_port()}")
    address, _, _ = py_side
    async with XClient("_filetransfer", discovery=Peer2PeerDiscovery(address)) as xc:
        py_addr = (await xc.call("TransferFile", FileTransferArgs("x", 1), FileTransferReply, timeout=WAIT)).addr
    for host, port in (("127.0.0.1", file_port), tuple(py_addr.rsplit(":", 1))):
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(os.urandom(32) + b"payload")
        try:
            assert await asyncio.wait_for(reader.read(1), WAIT) == b""
        except ConnectionResetError:
            pass  # closed with our payload unread: a reset is a close too
        writer.close()
