"""Go's TCPKeepAlivePeriod (client ``Option.tcp_keepalive_period``, ``Server(tcp_keepalive_period=)``)
and RPCPath (``Option.rpc_path``; the server's ``start(..., path=)``), on real loopback sockets:
the keep-alive settings are read back from the kernel with getsockopt."""

from __future__ import annotations

import asyncio
import socket

import pytest
from arith_service import Args, Arith, Reply
from conftest import WAIT

from rpcx import Option, RpcxConnectionError
from rpcx.client import Client
from rpcx.server import Server

TCP_KEEPIDLE = socket.TCP_KEEPIDLE  # Linux's name (macOS: TCP_KEEPALIVE)


def keepalive(transport) -> tuple[int, int]:
    """(SO_KEEPALIVE, TCP_KEEPIDLE) of the transport's socket, from the kernel."""
    sock = transport.get_extra_info("socket")
    return (sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
            sock.getsockopt(socket.IPPROTO_TCP, TCP_KEEPIDLE))


async def accepted(server: Server):
    async with asyncio.timeout(WAIT):
        while not server.connections:
            await asyncio.sleep(0.01)
    (conn,) = server.connections
    return conn.transport


@pytest.mark.parametrize("network", ["tcp", "http", "ws"])
async def test_keepalive_defaults_are_gos(server_factory, network: str) -> None:
    server, address = await server_factory(address=f"{network}@127.0.0.1:0")
    async with await Client.connect(address) as c:
        assert (await c.call("Arith", "Mul", Args(6, 7), Reply, timeout=WAIT)).C == 42
        # Go: client Option.TCPKeepAlivePeriod = time.Minute, server TCPKeepAlivePeriod = 3 * time.Minute
        assert keepalive(c._transport)[0] == 1 and keepalive(c._transport)[1] == 60
        assert keepalive(await accepted(server)) == (1, 180)


async def test_keepalive_periods_are_configurable_and_none_leaves_the_os_default(server_factory) -> None:
    server, address = await server_factory(tcp_keepalive_period=7.2)
    async with await Client.connect(address, Option(tcp_keepalive_period=42)) as c:
        await c.call("Arith", "Mul", Args(1, 2), Reply, timeout=WAIT)
        assert keepalive(c._transport) == (1, 42)
        assert keepalive(await accepted(server)) == (1, 8)  # whole seconds, rounded up as Go does
    server2, address2 = await server_factory(tcp_keepalive_period=None)
    async with await Client.connect(address2, Option(tcp_keepalive_period=None)) as c:
        await c.call("Arith", "Mul", Args(1, 2), Reply, timeout=WAIT)
        assert keepalive(c._transport)[0] == 0  # Linux's default: off
        assert keepalive(await accepted(server2))[0] == 0


async def test_unix_sockets_get_no_keepalive(server_factory, tmp_path) -> None:
    server, address = await server_factory(address=f"unix@{tmp_path}/k.sock")
    async with await Client.connect(address) as c:
        assert (await c.call("Arith", "Mul", Args(2, 3), Reply, timeout=WAIT)).C == 6
        assert c._transport.get_extra_info("socket").getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 0


@pytest.mark.parametrize("network", ["http", "ws"])
async def test_rpc_path_must_match_the_servers(network: str) -> None:
    server = Server()
    server.register(Arith())
    address = await server.start(f"{network}@127.0.0.1:0", path="/custom/rpc")  # the listener's path
    try:
        async with await Client.connect(address, Option(rpc_path="/custom/rpc")) as c:
            assert (await c.call("Arith", "Mul", Args(6, 7), Reply, timeout=WAIT)).C == 42
        with pytest.raises(RpcxConnectionError, match="404"):
            await Client.connect(address)  # the default /_rpcx_ is not served there
    finally:
        await server.close()


async def test_rpc_path_is_ignored_by_networks_without_http(server_factory) -> None:
    _, address = await server_factory()
    async with await Client.connect(address, Option(rpc_path="/elsewhere")) as c:
        assert (await c.call("Arith", "Mul", Args(6, 7), Reply, timeout=WAIT)).C == 42
