"""XClient's call patterns with a Go rpcx server (tests/interop/goserver) in the mix: ``go``,
``broadcast`` returning at the Go server's failure, ``fork`` returning at the Go server's success
while a Python server still holds the call, ``inform`` with receipts from both, metadata in
and out of each; ``XClientPool`` and ``OneClient`` over both; pushes from Go's ``SendMessage`` and a
Python server's ``send_message`` reaching one bidirectional XClient."""

from __future__ import annotations

import asyncio

import pytest
from conftest import dead_address
from arith_service import Args, Arith

from rpcx import FailMode, KVPair, MultipleServersDiscovery, Option, SelectMode, ServiceError, XClient
from rpcx.client import OneClient, XClientPool
from rpcx.protocol.message import Message, SerializeType

WAIT = 10.0
#: tests/interop/arith's FailMessage
GO_FAIL = "arith failed on purpose"


class Holding(Arith):
    """``Echo`` and ``Fail`` hold until the gate opens; ``calls`` counts them."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.calls = 0

    async def echo(self, data: bytes) -> bytes:
        self.calls += 1
        await self.gate.wait()
        return b"python:" + data

    async def fail(self, args: Args) -> None:
        self.calls += 1
        await self.gate.wait()


def xclient(addrs: list[str], **opt) -> XClient:
    return XClient("Arith", FailMode.FAILFAST, SelectMode.ROUND_ROBIN,
                   MultipleServersDiscovery([KVPair(a) for a in addrs]), Option(**opt))


async def until(cond, what: str) -> None:
    for _ in range(int(WAIT / 0.01)):
        if cond():
            return
        await asyncio.sleep(0.01)
    pytest.fail(f"never: {what}")


async def test_go_calls_on_go_and_python_servers(server_factory, start_go_server) -> None:
    go = start_go_server().address
    _, py = await server_factory()
    async with xclient([go, py], serialize_type=SerializeType.NONE) as xc:
        calls = [xc.go("Echo", b"n%d" % i, bytes, metadata={"k": f"v{i}"}, timeout=WAIT) for i in range(20)]
        assert [await c for c in calls] == [b"n%d" % i for i in range(20)]
        # both servers copy metadata k into the response metadata: each call got its own
        assert [c.response_metadata.get("k") for c in calls] == [f"v{i}" for i in range(20)]
    async with xclient([go]) as xc:
        failing = xc.go("Fail", Args(1, 2), timeout=WAIT)
        with pytest.raises(ServiceError, match=GO_FAIL):
            await failing
        assert isinstance(failing.error, ServiceError)


async def test_broadcast_returns_at_the_go_servers_failure(server_factory, start_go_server) -> None:
    go = start_go_server().address
    holding = Holding()
    srv, py = await server_factory(register=False)
    srv.register(holding, name="Arith")
    async with xclient([go, py]) as xc:
        with pytest.raises(ServiceError, match=GO_FAIL):
            await asyncio.wait_for(xc.broadcast("Fail", Args(1, 2), timeout=WAIT), WAIT)
        # the Python server holds its call (the gate is shut): broadcast did not wait for it
        await until(lambda: holding.calls == 1, "the Python server got the call too")
        holding.gate.set()


async def test_fork_returns_at_the_go_servers_success(server_factory, start_go_server) -> None:
    go = start_go_server().address
    holding = Holding()
    srv, py = await server_factory(register=False)
    srv.register(holding, name="Arith")
    async with xclient([py, go, dead_address()], serialize_type=SerializeType.NONE) as xc:
        md: dict[str, str] = {}
        reply = await asyncio.wait_for(
            xc.fork("Echo", b"fork", bytes, metadata={"k": "f"}, response_metadata=md, timeout=WAIT), WAIT)
        assert reply == b"fork" and md == {"k": "f"}  # Go's answer; the dead server was skipped
        await until(lambda: holding.calls == 1, "the Python server got the call too")
        holding.gate.set()


async def test_inform_collects_go_and_python_receipts(server_factory, start_go_server) -> None:
    go = start_go_server().address
    _, py = await server_factory()
    async with xclient([go, py, dead_address()], serialize_type=SerializeType.NONE) as xc:
        receipts = await xc.inform("Echo", b"all", bytes, metadata={"k": "i"}, timeout=WAIT)
        assert sorted(r.address for r in receipts) == sorted(a.split("@", 1)[1] for a in (go, py))
        assert all(r.ok and r.reply == b"all" and r.metadata == {"k": "i"} for r in receipts)
        # all succeed: broadcast answers with a reply and its response metadata
        md: dict[str, str] = {}
        assert await xc.broadcast("Echo", b"b", bytes, metadata={"k": "b"}, response_metadata=md,
                                  timeout=WAIT) == b"b"
        assert md == {"k": "b"}
    async with xclient([go, py]) as xc:
        receipts = await xc.inform("Fail", Args(1, 2), timeout=WAIT)
        assert len(receipts) == 2 and all(isinstance(r.error, ServiceError) for r in receipts)


async def test_bidirectional_xclient_gets_go_and_python_pushes(server_factory, start_go_server) -> None:
    go = start_go_server().address
    _, py = await server_factory()
    got: asyncio.Queue[Message] = asyncio.Queue()
    async with XClient("Arith", FailMode.FAILFAST, SelectMode.ROUND_ROBIN,
                       MultipleServersDiscovery([KVPair(go), KVPair(py)]),
                       Option(serialize_type=SerializeType.NONE), on_push=got.put_nowait) as xc:
        keys: list[str] = []

        class Where:
            def post_call(self, call, key, outcome, value) -> None:
                keys.append(key)

        xc.plugins.add(Where())
        # round-robin: one call on each server, each pushing Arith.Push on its connection first
        for tag in ("p1", "p2"):
            assert await xc.call("Echo", tag.encode(), bytes, metadata={"push": tag}, timeout=WAIT) == tag.encode()
        pushes = [await asyncio.wait_for(got.get(), WAIT) for _ in range(2)]
    assert sorted(keys) == sorted([go, py])
    assert sorted((p.service_path, p.service_method, p.metadata["push"], p.payload) for p in pushes) == [
        ("Arith", "Push", "p1", b"p1"), ("Arith", "Push", "p2", b"p2")]
    assert all(p.oneway and not p.is_response for p in pushes)


async def test_pool_and_one_client_against_go(server_factory, start_go_server) -> None:
    go = start_go_server().address
    _, py = await server_factory()
    d = MultipleServersDiscovery([KVPair(go), KVPair(py)])
    async with XClientPool(2, "Arith", FailMode.FAILFAST, SelectMode.ROUND_ROBIN, d,
                           Option(serialize_type=SerializeType.NONE)) as pool:
        replies = await asyncio.gather(*(pool.get().call("Echo", b"%d" % i, bytes, timeout=WAIT) for i in range(20)))
        assert replies == [b"%d" % i for i in range(20)]
    async with OneClient(FailMode.FAILOVER, SelectMode.ROUND_ROBIN, MultipleServersDiscovery([KVPair(go)])) as oc:
        with pytest.raises(ServiceError, match=GO_FAIL):
            await oc.call("Arith", "Fail", Args(1, 1), timeout=WAIT)
        assert await oc.call("Arith", "Mul", {"A": 6, "B": 7}, timeout=WAIT) == {"C": 42}
        assert oc.service_paths == ["Arith"]
