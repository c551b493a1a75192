"""Go's RPCPath both ways: the http@ CONNECT path is configurable on the client (Go's
``Option.RPCPath``, ours ``Option.rpc_path``) and on the server (Go mounts its ``Server``, an
``http.Handler``, on its own mux, as goserver's ``--rpc-path`` does; ours ``start(..., path=)``)."""

from __future__ import annotations

import asyncio
import sys

import pytest

from rpcx import Option, RpcxConnectionError, Server
from rpcx.client import Client

from .conftest import EXAMPLES

sys.path.insert(0, str(EXAMPLES))
from arith import Args, Arith, Reply  # noqa: E402

WAIT = 10.0
PATH = "/custom/rpcx"


async def test_python_client_to_a_go_server_on_another_path(start_go_server) -> None:
    go = start_go_server("--rpc-path", PATH, address="http@127.0.0.1:0")
    assert go.address.startswith("http@")
    async with await Client.connect(go.address, Option(rpc_path=PATH)) as c:
        assert await c.call("Arith", "Mul", Args(10, 20), Reply, timeout=WAIT) == Reply(200)
    with pytest.raises(RpcxConnectionError, match="404"):
        await Client.connect(go.address)  # Go's mux: 404 page not found on /_rpcx_


async def test_go_client_to_a_python_server_on_another_path(go_bin) -> None:
    server = Server()
    server.register(Arith(), name="Arith")
    address = await server.start("http@127.0.0.1:0", path=PATH)

    async def goclient(*args: str) -> tuple[int, str, str]:
        proc = await asyncio.create_subprocess_exec(
            str(go_bin / "goclient"), address, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        return proc.returncode or 0, out.decode(), err.decode()

    try:
        code, out, err = await goclient("--rpc-path", PATH)
        assert (code, out.strip()) == (0, "10 * 20 = 200"), err
        code, out, err = await goclient()  # Go's default /_rpcx_: refused with our 404
        assert code != 0 and "404" in err, (out, err)
    finally:
        await server.close()
