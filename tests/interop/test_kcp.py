"""Go rpcx v1.9.4 (kcp-go v5.4.20, built with ``-tags kcp``) and Python over the kcp network, both
ways: the Python clients against Go's ``s.Serve("kcp", addr)`` with ``WithBlockCrypt``, Go's
client (its interop suite) against the Python example server, a lossy link in front of the Go
server (Go's parity repairs what we lose, ours what Go loses: both sides count recovered shards),
and a client with another key, which Go drops."""

from __future__ import annotations

import asyncio
import random
import re
import sys

import pytest

pytest.importorskip("cryptography", reason="the kcp transport needs the kcp extra")

from rpcx import Client, CompressType, FailMode, Option, Peer2PeerDiscovery, RpcxConnectionError, SelectMode, SerializeType, XClient  # noqa: E402
from rpcx.protocol import Message  # noqa: E402
from rpcx.testing.udp_relay import LossyRelay  # noqa: E402
from rpcx.transport.kcp import block_from_password  # noqa: E402

from .conftest import EXAMPLES, run_go_client, run_py_client  # noqa: E402
from .test_go_client_to_python_server import _suite_results  # noqa: E402

sys.path.insert(0, str(EXAMPLES))
from arith import Args, Reply  # noqa: E402

KEY = "interop-kcp-key"
BLOCK = block_from_password(KEY)


def _go_fec(stderr: str) -> dict[str, int]:
    m = re.search(r"kcp fec_recovered=(\d+) fec_parity_shards=(\d+) in_csum_errors=(\d+)", stderr)
    assert m, stderr[-2000:]
    return {"fec_recovered": int(m[1]), "fec_parity_shards": int(m[2]), "in_csum_errors": int(m[3])}


async def test_python_client_to_go_kcp_server(start_go_server) -> None:
    server = start_go_server("--kcp-key", KEY, address="kcp@127.0.0.1:0")
    assert server.address.startswith("kcp@127.0.0.1:")
    for st in (SerializeType.JSON, SerializeType.MSGPACK):
        async with XClient("Arith", FailMode.FAILFAST, SelectMode.RANDOM, Peer2PeerDiscovery(server.address),
                           Option(serialize_type=st, kcp_block=BLOCK)) as xc:
            assert await xc.call("Mul", Args(10, 20), Reply, timeout=10) == Reply(200)
            replies = await asyncio.gather(*(xc.call("Add", Args(i, 1), Reply, timeout=30) for i in range(200)))
            assert [r.C for r in replies] == [i + 1 for i in range(200)]
    big = bytes(range(256)) * 4096  # 1 MiB, gzip both ways (Go answers a compressed request compressed)
    got: asyncio.Queue[Message] = asyncio.Queue()
    async with await Client.connect(server.address, Option(kcp_block=BLOCK, compress_type=CompressType.GZIP),
                                    on_push=got.put_nowait) as c:
        assert await c.call("Arith", "Echo", big, bytes, serialize_type=SerializeType.NONE, timeout=30) == big
        # a server push (Go's Server.SendMessage on the kcp session)
        assert await c.call("Arith", "Echo", b"p", bytes, metadata={"push": "x"},
                            serialize_type=SerializeType.NONE, timeout=10) == b"p"
        push = await asyncio.wait_for(got.get(), 10)
        assert (push.service_method, push.payload, push.metadata) == ("Push", b"p", {"push": "x"})
        # and 256 KiB that gzip cannot shrink: KCP carries ~200 segments each way
        rnd = random.Random(3).randbytes(256 << 10)
        assert await c.call("Arith", "Echo", rnd, bytes, serialize_type=SerializeType.NONE, timeout=30) == rnd
    out = run_py_client(server.address, "--kcp-key", KEY)
    assert out.returncode == 0 and out.stdout.strip() == "10 * 20 = 200", out.stderr
    # another key: Go drops every datagram (bad CRC), our dial hears no answer and says so
    with pytest.raises(RpcxConnectionError, match="no answer"):
        await Client.connect(server.address, Option(kcp_block=block_from_password("wrong"), connect_timeout=0.5))
    out = run_py_client(server.address, "--kcp-key", "wrong", "--timeout", "10")
    assert out.returncode == 1 and "no answer" in out.stderr, out.stderr
    assert server.stop() == 0
    assert _go_fec(server.proc.stderr.read())["in_csum_errors"] > 0  # type: ignore[union-attr]


def test_go_kcp_client_to_python_server(go_bin, start_py_server) -> None:
    server = start_py_server("--kcp-key", KEY, address="kcp@127.0.0.1:0")
    assert server.address.startswith("kcp@127.0.0.1:")
    out = run_go_client(go_bin, server.address, "--kcp-key", KEY, "--suite", "--codec", "msgpack")
    results = _suite_results(out.stdout)
    assert {"mul", "big", "gzip", "concurrent", "push", "oneway", "heartbeat"} <= set(results), out.stdout
    assert set(results.values()) == {"ok"} and out.returncode == 0, out.stdout + out.stderr[-2000:]
    out = run_go_client(go_bin, server.address, "--kcp-key", KEY, "--suite", "--codec", "json",
                        "--only", "mul,big,gzip,concurrent")
    assert _suite_results(out.stdout) == dict.fromkeys(["mul", "big", "gzip", "concurrent"], "ok"), out.stdout + out.stderr
    # Go's client with another key gets no answer (its calls time out); the server carries on
    out = run_go_client(go_bin, server.address, "--kcp-key", "wrong", "--suite", "--only", "mul", timeout=120)
    assert _suite_results(out.stdout) != {"mul": "ok"}, out.stdout
    out = run_go_client(go_bin, server.address, "--kcp-key", KEY)
    assert out.returncode == 0 and out.stdout.strip() == "10 * 20 = 200", out.stdout + out.stderr


async def test_lossy_link_to_go_kcp_server(start_go_server) -> None:
    server = start_go_server("--kcp-key", KEY, address="kcp@127.0.0.1:0")
    host, port = server.address[4:].rsplit(":", 1)
    relay = await LossyRelay.start((host, int(port)), loss=0.10, seed=21)
    try:
        rhost, rport = relay.address
        async with await Client.connect(f"kcp@{rhost}:{rport}", Option(kcp_block=BLOCK, connect_timeout=10,
                                                                        serialize_type=SerializeType.JSON)) as c:
            replies = await asyncio.wait_for(asyncio.gather(
                *(c.call("Arith", "Mul", Args(i, 7), Reply, timeout=60) for i in range(200))), 90)
            assert [r.C for r in replies] == [i * 7 for i in range(200)]
            payloads = [random.Random(i).randbytes(20_000) for i in range(10)]
            for p in payloads:  # one at a time: many full FEC groups each way
                assert await c.call("Arith", "Echo", p, bytes, serialize_type=SerializeType.NONE, timeout=60) == p
            ours = c._transport.get_extra_info("kcp_stats")  # type: ignore[union-attr]
    finally:
        relay.close()
    assert relay.dropped > 0.05 * (relay.dropped + relay.forwarded)
    assert server.stop() == 0
    go = _go_fec(server.proc.stderr.read())  # type: ignore[union-attr]
    # Go's parity rebuilt data shards we lost, and our parity rebuilt shards Go lost
    assert ours.fec_recovered > 0, ours
    assert go["fec_recovered"] > 0, go
