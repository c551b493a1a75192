"""Go rpcx v1.9.4 and Python over the tls, http (CONNECT, plain and TLS), ws, wss and reuseport
networks, both ways: the Python clients against Go's ``s.Serve(network, addr)``, and Go's own client
(its interop suite, dialing by network name) against the Python example server. Each way: json and
msgpack, 200+ concurrent calls on one connection, a 1 MiB gzip payload. (quic: test_quic.py.)"""

from __future__ import annotations

import asyncio
import ssl
import sys

import pytest

from rpcx import Client, CompressType, FailMode, Option, Peer2PeerDiscovery, SelectMode, SerializeType, XClient
from rpcx.protocol import Message

from .conftest import EXAMPLES, free_port, run_go_client, run_py_client
from .test_go_client_to_python_server import _suite_results

sys.path.insert(0, str(EXAMPLES))
from arith import Args, Reply  # noqa: E402

#: name -> (network served, uses TLS, network of the address the server reports and clients dial)
NETWORKS = {"tls": ("tcp", True, "tcp"), "http": ("http", False, "http"), "https": ("http", True, "http"),
            "ws": ("ws", False, "ws"), "wss": ("wss", True, "wss"),
            # Go registers a reuseport server as tcp@ and its client cannot dial reuseport@: nor do ours
            "reuseport": ("reuseport", False, "tcp")}


def _server_args(tls: bool, tls_cert: tuple[str, str]) -> list[str]:
    return ["--cert", tls_cert[0], "--key", tls_cert[1]] if tls else []


@pytest.mark.parametrize("name", sorted(NETWORKS))
async def test_python_client_to_go_server(start_go_server, tls_cert, name):
    network, tls, dialed = NETWORKS[name]
    server = start_go_server(*_server_args(tls, tls_cert), address=f"{network}@127.0.0.1:0")
    assert server.address.startswith(f"{dialed}@127.0.0.1:")
    ctx = ssl.create_default_context(cafile=tls_cert[0]) if tls else None
    for st in (SerializeType.JSON, SerializeType.MSGPACK):
        async with XClient("Arith", FailMode.FAILFAST, SelectMode.RANDOM, Peer2PeerDiscovery(server.address),
                           Option(serialize_type=st, tls=ctx)) as xc:
            assert await xc.call("Mul", Args(10, 20), Reply, timeout=10) == Reply(200)
            replies = await asyncio.gather(*(xc.call("Add", Args(i, 1), Reply, timeout=30) for i in range(200)))
            assert [r.C for r in replies] == [i + 1 for i in range(200)]
    # a 1 MiB gzip payload both ways (Go answers a compressed request over 1 KiB compressed), and a push
    big = bytes(range(256)) * 4096
    got: asyncio.Queue[Message] = asyncio.Queue()
    async with await Client.connect(server.address, Option(tls=ctx, compress_type=CompressType.GZIP),
                                    on_push=got.put_nowait) as c:
        assert await c.call("Arith", "Echo", big, bytes, serialize_type=SerializeType.NONE, timeout=30) == big
        assert await c.call("Arith", "Echo", b"p", bytes, metadata={"push": "x"},
                            serialize_type=SerializeType.NONE, timeout=10) == b"p"
        push = await asyncio.wait_for(got.get(), 10)
        assert (push.service_method, push.payload, push.metadata) == ("Push", b"p", {"push": "x"})
    # and the example program
    out = run_py_client(server.address, *(["--tls", "--cert", tls_cert[0]] if tls else []))
    assert out.returncode == 0 and out.stdout.strip() == "10 * 20 = 200", out.stderr


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_go_client_to_python_server(go_bin, start_py_server, tls_cert, name):
    network, tls, dialed = NETWORKS[name]
    server = start_py_server(*_server_args(tls, tls_cert), address=f"{network}@127.0.0.1:{free_port()}")
    assert server.address.startswith(f"{dialed}@127.0.0.1:")
    tls_args = ["--tls", "--insecure"] if tls else []
    out = run_go_client(go_bin, server.address, "--suite", "--codec", "msgpack", *tls_args)
    results = _suite_results(out.stdout)
    assert {"mul", "big", "gzip", "gzip_1mib", "concurrent", "push", "oneway", "heartbeat"} <= set(results), out.stdout
    assert set(results.values()) == {"ok"} and out.returncode == 0, out.stdout + out.stderr[-2000:]
    checks = ["mul", "big", "gzip", "gzip_1mib", "concurrent"]
    out = run_go_client(go_bin, server.address, "--suite", "--codec", "json", "--only", ",".join(checks), *tls_args)
    assert _suite_results(out.stdout) == dict.fromkeys(checks, "ok"), out.stdout + out.stderr


def test_reuseport_two_python_servers_one_port_go_client(go_bin, start_py_server):
    """Two Python example servers on one reuseport port; both report the tcp@ key Go registers, and
    Go's client (which cannot dial reuseport@) calls them over tcp."""
    port = free_port()
    first = start_py_server(address=f"reuseport@127.0.0.1:{port}")
    second = start_py_server(address=f"reuseport@127.0.0.1:{port}")
    assert first.address == second.address == f"tcp@127.0.0.1:{port}"
    for _ in range(4):  # new connections each time; the kernel spreads them, every one is served
        out = run_go_client(go_bin, first.address, "--suite", "--only", "mul,concurrent")
        assert _suite_results(out.stdout) == {"mul": "ok", "concurrent": "ok"}, out.stdout + out.stderr
    assert first.proc.poll() is None and second.proc.poll() is None


def test_reuseport_go_server_python_client(start_go_server):
    server = start_go_server(address="reuseport@127.0.0.1:0")
    assert server.address.startswith("tcp@127.0.0.1:")
    out = run_py_client(server.address, "--codec", "json")
    assert out.returncode == 0 and out.stdout.strip() == "10 * 20 = 200", out.stderr
