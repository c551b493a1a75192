"""Go rpcx v1.9.4 and Python over the quic network, both ways: the Python clients against Go's
``s.Serve("quic", addr)`` (tests/interop/goquic, built with ``-tags quic`` in its own module), and
Go's quic client against the Python example server."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

pytest.importorskip("aioquic", reason="the quic transport needs the quic extra")

from rpcx import Client, CompressType, FailMode, Option, Peer2PeerDiscovery, SelectMode, SerializeType, XClient  # noqa: E402

from .conftest import EXAMPLES, Peer, run_py_client, start  # noqa: E402
from .test_go_client_to_python_server import _suite_results  # noqa: E402

sys.path.insert(0, str(EXAMPLES))
from arith import Args, Reply  # noqa: E402


@pytest.fixture
def go_quic_server(go_bin: Path, tls_cert: tuple[str, str]) -> Iterator[Peer]:
    peer = start([str(go_bin / "goquic"), "serve", "quic@127.0.0.1:0", "--cert", tls_cert[0], "--key", tls_cert[1]])
    yield peer
    peer.stop()


async def test_python_client_to_go_quic_server(go_quic_server: Peer, tls_cert: tuple[str, str]) -> None:
    addr = go_quic_server.address
    assert addr.startswith("quic@127.0.0.1:")
    verified = ssl.create_default_context(cafile=tls_cert[0])
    # without a TLS context the client does not verify (as Go's); with one it checks the certificate
    for tls in (None, verified):
        for st in (SerializeType.JSON, SerializeType.MSGPACK):
            async with XClient("Arith", FailMode.FAILFAST, SelectMode.RANDOM, Peer2PeerDiscovery(addr),
                               Option(serialize_type=st, tls=tls)) as xc:
                assert await xc.call("Mul", Args(10, 20), Reply, timeout=10) == Reply(200)
                replies = await asyncio.gather(*(xc.call("Mul", Args(i, 3), Reply, timeout=30) for i in range(200)))
                assert [r.C for r in replies] == [i * 3 for i in range(200)]
    big = bytes(range(256)) * 4096  # 1 MiB, gzip both ways (Go answers a compressed request compressed)
    async with await Client.connect(addr, Option(compress_type=CompressType.GZIP)) as c:
        assert await c.call("Arith", "Echo", big, bytes, serialize_type=SerializeType.NONE, timeout=30) == big
    out = run_py_client(addr)
    assert out.returncode == 0 and out.stdout.strip() == "10 * 20 = 200", out.stderr
    assert go_quic_server.stop() == 0


async def test_python_client_verifies_go_quic_server_name(go_quic_server: Peer, tls_cert: tuple[str, str]) -> None:
    # the certificate names 127.0.0.1 and localhost: another name fails the handshake, clearly
    ctx = ssl.create_default_context(cafile=tls_cert[0])
    with pytest.raises(Exception, match="quic: handshake with .* failed"):
        await Client.connect(go_quic_server.address, Option(tls=ctx, server_hostname="example.org", connect_timeout=10))


def test_go_quic_client_to_python_server(go_bin: Path, start_py_server, tls_cert: tuple[str, str]) -> None:
    server = start_py_server("--cert", tls_cert[0], "--key", tls_cert[1], address="quic@127.0.0.1:0")
    assert server.address.startswith("quic@127.0.0.1:")
    out = subprocess.run([str(go_bin / "goquic"), "call", server.address, "--n", "200", "--size", str(1 << 20)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok 200", out.stdout + out.stderr[-2000:]
    # and again: the first connections were closed cleanly and the server carries on
    out = subprocess.run([str(go_bin / "goquic"), "call", server.address], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "ok 1", out.stdout + out.stderr[-2000:]


@pytest.mark.parametrize("codec", ["msgpack", "json"])
def test_go_client_suite_over_quic(go_bin: Path, start_py_server, tls_cert: tuple[str, str], codec: str) -> None:
    """Go's interop suite (goclient built with the quic tag) against the Python server over quic@:
    every check, a 1 MiB gzip echo and 1,000 concurrent calls on one connection included."""
    server = start_py_server("--cert", tls_cert[0], "--key", tls_cert[1], address="quic@127.0.0.1:0")
    out = subprocess.run([str(go_bin / "goclient-quic"), server.address, "--suite", "--codec", codec],
                         capture_output=True, text=True, timeout=300)
    results = _suite_results(out.stdout)
    assert {"mul", "fail", "gzip", "gzip_1mib", "concurrent", "push", "oneway", "heartbeat"} <= set(results), out.stdout
    assert set(results.values()) == {"ok"} and out.returncode == 0, out.stdout + out.stderr[-2000:]


def test_python_quic_server_refuses_to_start_without_a_certificate() -> None:
    out = subprocess.run([sys.executable, str(EXAMPLES / "server.py"), "quic@127.0.0.1:0"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "TLS" in out.stderr, out.stderr
