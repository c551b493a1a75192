"""Serving over unix sockets, tcp6 and TLS (all on loopback)."""

from __future__ import annotations

import socket
import ssl
from pathlib import Path

import pytest
from arith_service import Args, Reply

from rpcx import Client, FailMode, Option, Peer2PeerDiscovery, RpcxConnectionError, RpcxError, XClient
from rpcx.testing.harness import self_signed_cert

#: generous bound for "this must happen": a hang check on a loaded machine, not a speed check
WAIT = 10.0


def _has_ipv6_loopback() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


async def test_unix_socket(server_factory, tmp_path: Path) -> None:
    path = tmp_path / "arith.sock"
    srv, addr = await server_factory(address=f"unix@{path}")
    assert addr == f"unix@{path}"
    assert path.exists()
    async with await Client.connect(addr) as c:
        assert await c.call("Arith", "Mul", Args(6, 7), Reply) == Reply(42)
    xc = XClient("Arith", FailMode.FAILTRY, discovery=Peer2PeerDiscovery(addr))
    try:
        assert await xc.call("Add", Args(6, 7), Reply, timeout=WAIT) == Reply(13)
    finally:
        await xc.aclose()
    await srv.shutdown()
    assert not path.exists()  # the socket file is removed on close


async def test_unix_listen_replaces_stale_socket_but_not_a_file(server_factory, tmp_path: Path) -> None:
    stale = tmp_path / "stale.sock"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(stale))
    s.close()  # leaves the socket file behind, as a crashed server would
    _, addr = await server_factory(address=f"unix@{stale}")
    async with await Client.connect(addr) as c:
        assert await c.call("Arith", "Mul", Args(2, 5), Reply) == Reply(10)

    precious = tmp_path / "data.txt"
    precious.write_text("do not delete")
    with pytest.raises((OSError, RpcxError)):
        await server_factory(address=f"unix@{precious}")
    assert precious.read_text() == "do not delete"


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="no IPv6 loopback (::1) on this machine")
async def test_tcp6_loopback(server_factory) -> None:
    _, addr = await server_factory(address="tcp6@[::1]:0")
    assert addr.startswith("tcp6@[::1]:")
    async with await Client.connect(addr) as c:
        assert await c.call("Arith", "Mul", Args(6, 7), Reply) == Reply(42)
    # a plain tcp@ key with a bracketed v6 host works for clients too
    async with await Client.connect("tcp@" + addr.partition("@")[2]) as c:
        assert await c.call("Arith", "Add", Args(6, 7), Reply) == Reply(13)


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    crt, key = self_signed_cert(str(tmp_path_factory.mktemp("tls")))
    return Path(crt), Path(key)


async def test_tls(server_factory, cert: tuple[Path, Path], raw) -> None:
    crt, key = cert
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(crt, key)
    _, addr = await server_factory(tls=server_ctx)
    client_ctx = ssl.create_default_context(cafile=str(crt))
    async with await Client.connect(addr, Option(tls=client_ctx)) as c:
        assert await c.call("Arith", "Mul", Args(6, 7), Reply) == Reply(42)
    async with await Client.connect(addr, Option(tls=client_ctx, server_hostname="localhost")) as c:
        assert await c.call("Arith", "Add", Args(6, 7), Reply) == Reply(13)
    xc = XClient("Arith", FailMode.FAILFAST, discovery=Peer2PeerDiscovery(addr), option=Option(tls=client_ctx))
    try:
        assert await xc.call("Mul", Args(3, 3), Reply, timeout=WAIT) == Reply(9)
    finally:
        await xc.aclose()
    # an untrusting client fails with a connection error, not a hang
    with pytest.raises(RpcxConnectionError):
        await Client.connect(addr, Option(tls=ssl.create_default_context(), connect_timeout=WAIT))
    # a plaintext rpcx client talking to the TLS port gets closed, and the server carries on
    p = await raw(addr)
    await p.send(b"\x08" + b"\x00" * 15)
    await p.wait_closed_by_server()
    async with await Client.connect(addr, Option(tls=client_ctx)) as c:
        assert await c.call("Arith", "Mul", Args(2, 2), Reply) == Reply(4)
