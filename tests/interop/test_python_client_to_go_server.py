"""The Python clients calling Go rpcx's own server (tests/interop/goserver, built against rpcx v1.9.4)."""

from __future__ import annotations

import asyncio
import sys

import pytest

from rpcx import (
    Client,
    CompressType,
    FailMode,
    Heartbeat,
    Option,
    Peer2PeerDiscovery,
    SelectMode,
    SerializeType,
    ServiceError,
    XClient,
)
from rpcx.protocol import FrameDecoder, Message, encode

from .conftest import EXAMPLES, run_py_client

sys.path.insert(0, str(EXAMPLES))
from arith import Args, Reply  # noqa: E402

CODECS = {"json": SerializeType.JSON, "msgpack": SerializeType.MSGPACK, "protobuf": SerializeType.PROTOBUF}


@pytest.fixture
def go_server(start_go_server):
    return start_go_server()


def xclient(address: str, **opt) -> XClient:
    return XClient("Arith", FailMode.FAILTRY, SelectMode.RANDOM, Peer2PeerDiscovery(address), Option(**opt))


@pytest.mark.parametrize("codec", sorted(CODECS))
async def test_struct_calls(go_server, codec):
    async with xclient(go_server.address, serialize_type=CODECS[codec]) as xc:
        assert await xc.call("Mul", Args(10, 20), Reply, timeout=5) == Reply(200)
        assert await xc.call("Add", Args(7, -3), Reply, timeout=5) == Reply(4)
        assert await xc.call("Mul", Args(1 << 31, 4), Reply, timeout=5) == Reply(1 << 33)
        with pytest.raises(ServiceError) as err:
            await xc.call("Fail", Args(1, 2), Reply, timeout=5)
        assert err.value.message == "arith failed on purpose"
        with pytest.raises(ServiceError) as err:
            await xc.call("Nope", Args(1, 2), Reply, timeout=5)
        assert err.value.message == "rpcx: can't find method Nope"
    async with XClient("Nope", discovery=Peer2PeerDiscovery(go_server.address),
                       option=Option(serialize_type=CODECS[codec])) as other:
        with pytest.raises(ServiceError) as err:
            await other.call("Mul", Args(1, 2), Reply, timeout=5)
        assert err.value.message == "rpcx: can't find service Nope"


async def test_dict_replies_from_go(go_server):
    async with xclient(go_server.address, serialize_type=SerializeType.MSGPACK) as xc:
        assert await xc.call("Mul", {"A": 6, "B": 7}, timeout=5) == {"C": 42}
    async with xclient(go_server.address, serialize_type=SerializeType.JSON) as xc:
        assert await xc.call("Mul", {"A": 6, "B": 7}, timeout=5) == {"C": 42}


async def test_metadata_both_ways(go_server):
    async with xclient(go_server.address, serialize_type=SerializeType.NONE) as xc:
        res_md: dict[str, str] = {}
        data = await xc.call("Echo", b"bytes \x00\xff", bytes, metadata={"k": "v1", "other": "x"},
                             response_metadata=res_md, timeout=5)
        assert data == b"bytes \x00\xff"
        assert res_md.get("k") == "v1"


async def test_gzip_both_ways_over_raw_frames(go_server):
    """A gzip request over 1 KiB: Go answers with a gzip response, which we decode."""
    host, port = go_server.address.split("@", 1)[1].rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    body = b"rpcx-python " * 400
    req = Message(service_path="Arith", service_method="Echo", serialize_type=SerializeType.NONE,
                  compress_type=CompressType.GZIP, seq=9, payload=body)
    writer.write(encode(req))
    decoder, frames = FrameDecoder(), []
    while not frames:
        chunk = await asyncio.wait_for(reader.read(65536), 5)
        assert chunk, "Go server closed the connection"
        frames = decoder.feed(chunk)
    res = frames[0]
    assert res.is_response and res.seq == 9
    assert res.compress_type == CompressType.GZIP, "Go compresses a reply over 1 KiB to a compressed request"
    assert res.payload == body
    writer.close()
    # and through the client API
    async with xclient(go_server.address, serialize_type=SerializeType.NONE, compress_type=CompressType.GZIP) as xc:
        assert await xc.call("Echo", body, bytes, timeout=5) == body


async def test_oneway_gets_no_reply(go_server):
    host, port = go_server.address.split("@", 1)[1].rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(encode(Message(service_path="Arith", service_method="Echo", oneway=True, seq=1, payload=b"x")))
    writer.write(encode(Message(service_path="Arith", service_method="Echo", seq=2, payload=b"y")))
    decoder, frames = FrameDecoder(), []
    while not frames:
        chunk = await asyncio.wait_for(reader.read(65536), 5)
        assert chunk
        frames = decoder.feed(chunk)
    assert [f.seq for f in frames] == [2], "the first frame back must answer the normal call, not the oneway one"
    writer.close()
    async with xclient(go_server.address, serialize_type=SerializeType.NONE) as xc:
        await xc.oneshot("Echo", b"fire and forget")
        assert await xc.call("Echo", b"after", bytes, timeout=5) == b"after"


async def test_heartbeats(go_server):
    opt = Option(heartbeat=Heartbeat(interval=0.05, max_wait=2.0))
    async with await Client.connect(go_server.address, opt) as c:
        rtt = await c.heartbeat(timeout=5)
        assert rtt >= 0
        await asyncio.sleep(0.4)  # several heartbeats go out and are echoed; the connection survives
        assert not c.closed
        assert await c.call("Arith", "Mul", Args(3, 4), Reply, timeout=5) == Reply(12)


async def test_1000_concurrent_calls_on_one_connection(go_server):
    async with await Client.connect(go_server.address, Option(serialize_type=SerializeType.MSGPACK)) as c:
        replies = await asyncio.gather(*(c.call("Arith", "Mul", Args(i, i + 1), Reply, timeout=30) for i in range(1000)))
        assert [r.C for r in replies] == [i * (i + 1) for i in range(1000)]


async def test_push_from_go_server_to_python_client(go_server):
    got: asyncio.Queue[Message] = asyncio.Queue()
    async with await Client.connect(go_server.address, on_push=got.put_nowait) as c:
        assert await c.call("Arith", "Echo", b"pushed-bytes", bytes, metadata={"push": "p1"},
                            serialize_type=SerializeType.NONE, timeout=5) == b"pushed-bytes"
        push = await asyncio.wait_for(got.get(), 5)
    assert (push.service_path, push.service_method, push.payload) == ("Arith", "Push", b"pushed-bytes")
    assert push.metadata == {"push": "p1"} and push.oneway and not push.is_response


async def test_auth_against_go(start_go_server):
    server = start_go_server("--auth", "s3cret")
    async with xclient(server.address) as xc:
        xc.auth("s3cret")
        assert await xc.call("Mul", Args(2, 3), Reply, timeout=5) == Reply(6)
    async with XClient("Arith", FailMode.FAILFAST, discovery=Peer2PeerDiscovery(server.address)) as bad:
        bad.auth("wrong")
        with pytest.raises(ServiceError, match="invalid token"):
            await bad.call("Mul", Args(2, 3), Reply, timeout=5)


@pytest.mark.parametrize("codec", ["msgpack", "json", "protobuf", "raw"])
def test_example_client_against_go_server(go_server, codec):
    out = run_py_client(go_server.address, "--codec", codec)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ("echo: hello" if codec == "raw" else "10 * 20 = 200")


def test_example_client_over_tls_and_unix(start_go_server, tls_cert, tmp_path):
    cert, key = tls_cert
    tls = start_go_server("--cert", cert, "--key", key)
    out = run_py_client(tls.address, "--tls", "--insecure")
    assert out.returncode == 0 and out.stdout.strip() == "10 * 20 = 200", out.stderr
    out = run_py_client(tls.address, "--tls", "--cert", cert)  # verified against the cert as CA
    assert out.returncode == 0 and out.stdout.strip() == "10 * 20 = 200", out.stderr
    unix = start_go_server(address=f"unix@{tmp_path}/go.sock")
    out = run_py_client(unix.address)
    assert out.returncode == 0 and out.stdout.strip() == "10 * 20 = 200", out.stderr
