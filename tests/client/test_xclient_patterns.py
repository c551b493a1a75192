"""XClient's call patterns on real Python servers: ``go`` (async call), ``broadcast`` and ``fork`` with
Go's early returns and skipped undialable servers, ``inform``, and per-call metadata in and out of
every pattern (``call``, ``go``, ``oneshot``, ``broadcast``, ``fork``, ``inform``, ``send_raw``)."""

from __future__ import annotations

import asyncio

import pytest
from conftest import dead_address
from arith_service import Args, Arith, Reply

from rpcx import (
    ClientClosedError,
    Context,
    FailMode,
    KVPair,
    MultipleServersDiscovery,
    NoServerAvailableError,
    SelectMode,
    ServiceError,
    XClient,
)
from rpcx.client import PendingCall, Receipt
from rpcx.protocol.message import Message, MessageType, SerializeType

WAIT = 10.0


class Node(Arith):
    """Arith with a name; ``Hold`` waits on a gate, ``Split`` fails on nodes told to fail and holds
    on the others; every method echoes metadata ``k`` back as response metadata ``k@name``."""

    def __init__(self, name: str, *, fails: bool = False) -> None:
        self.name = name
        self.fails = fails
        self.gate = asyncio.Event()
        self.seen: list[dict[str, str]] = []

    def _note(self, ctx: Context) -> None:
        self.seen.append(dict(ctx.metadata))
        if "k" in ctx.metadata:
            ctx.response_metadata["k"] = f"{ctx.metadata['k']}@{self.name}"

    def who(self, ctx: Context) -> str:
        self._note(ctx)
        return self.name

    async def hold(self, ctx: Context) -> str:
        self._note(ctx)
        await self.gate.wait()
        return self.name

    async def split(self, ctx: Context) -> str:
        self._note(ctx)
        if self.fails:
            raise RuntimeError(f"failed on {self.name}")
        await self.gate.wait()
        return self.name

    async def quick_or_hold(self, ctx: Context) -> str:
        """Answers at once on a node told to fail (here: to be quick), holds on the others."""
        self._note(ctx)
        if not self.fails:
            await self.gate.wait()
        return self.name


async def nodes_at(server_factory, *specs: tuple[str, bool]) -> tuple[list[Node], list[str]]:
    nodes, addrs = [], []
    for name, fails in specs:
        node = Node(name, fails=fails)
        srv, addr = await server_factory(register=False)
        srv.register(node, name="Arith")
        nodes.append(node)
        addrs.append(addr)
    return nodes, addrs


async def until(cond, what: str) -> None:
    for _ in range(int(WAIT / 0.01)):
        if cond():
            return
        await asyncio.sleep(0.01)
    pytest.fail(f"never: {what}")


def xclient(addrs: list[str], mode: FailMode = FailMode.FAILFAST) -> XClient:
    return XClient("Arith", mode, SelectMode.ROUND_ROBIN, MultipleServersDiscovery([KVPair(a) for a in addrs]))


# -- go: the async call ---------------------------------------------------------------------------
async def test_go_starts_many_calls_then_awaits_them(server_factory) -> None:
    nodes, addrs = await nodes_at(server_factory, ("a", False), ("b", False))
    async with xclient(addrs) as xc:
        calls = [xc.go("Mul", Args(i, 3), Reply, timeout=WAIT) for i in range(40)]
        assert all(isinstance(c, PendingCall) for c in calls)
        assert [await c for c in calls] == [Reply(3 * i) for i in range(40)]
        assert all(c.done() and c.error is None for c in calls)
        assert calls[5].reply == Reply(15)
        # started before any is awaited: both servers hold them at once
        held = [xc.go("Hold", None, timeout=WAIT, metadata={"k": str(i)}) for i in range(4)]
        for _ in range(500):
            if sum(len(n.seen) for n in nodes) == 4:
                break
            await asyncio.sleep(0.01)
        assert [len(n.seen) for n in nodes] == [2, 2]
        assert not any(c.done() for c in held)
        assert held[0].reply is None and held[0].error is None
        for n in nodes:
            n.gate.set()
        names = [await c for c in held]
        assert sorted(names) == ["a", "a", "b", "b"]
        # the response metadata of each call, from the server that answered it
        assert [c.response_metadata for c in held] == [{"k": f"{i}@{names[i]}"} for i in range(4)]


async def test_go_carries_the_error_and_uses_the_fail_mode(server_factory) -> None:
    _, addrs = await nodes_at(server_factory, ("a", False))
    async with xclient(addrs) as xc:
        failing = xc.go("Fail", Args(1, 1), Reply, timeout=WAIT)
        seen: list[PendingCall] = []
        failing.add_done_callback(seen.append)
        with pytest.raises(ServiceError):
            await failing
        assert isinstance(failing.error, ServiceError) and failing.reply is None
        assert seen == [failing]
    # Failover: the dead server is left for the live one, as in call()
    async with xclient([dead_address(), addrs[0]], FailMode.FAILOVER) as xc:
        assert await asyncio.gather(*(xc.go("Who", None, timeout=WAIT) for _ in range(6))) == ["a"] * 6
    # Failfast on the dead server alone: the dial error is the call's
    async with xclient([dead_address()]) as xc:
        c = xc.go("Who", None, timeout=WAIT)
        with pytest.raises(OSError):
            await c
        assert isinstance(c.error, OSError)


async def test_go_cancel_and_closed_xclient(server_factory) -> None:
    nodes, addrs = await nodes_at(server_factory, ("a", False))
    xc = xclient(addrs)
    c = xc.go("Hold", None, timeout=WAIT)
    for _ in range(500):
        if nodes[0].seen:
            break
        await asyncio.sleep(0.01)
    assert c.cancel()
    with pytest.raises(asyncio.CancelledError):
        await c
    assert isinstance(c.error, asyncio.CancelledError)
    # the connection is kept: the next call goes through
    assert await xc.call("Mul", Args(2, 2), Reply, timeout=WAIT) == Reply(4)
    await xc.aclose()
    with pytest.raises(ClientClosedError):
        xc.go("Who", None)


# -- broadcast and fork: Go's early returns -------------------------------------------------------
async def test_broadcast_returns_at_the_first_failure(server_factory) -> None:
    nodes, addrs = await nodes_at(server_factory, ("a", False), ("b", True), ("c", False))
    async with xclient(addrs) as xc:
        with pytest.raises(ServiceError, match="failed on b"):
            await asyncio.wait_for(xc.broadcast("Split", None, timeout=WAIT), WAIT)
        # a and c hold their calls (their gates are shut): broadcast did not wait for them
        await until(lambda: all(len(n.seen) == 1 for n in nodes), "every server got the call")
        assert not any(n.gate.is_set() for n in nodes)
        for n in nodes:
            n.gate.set()
        # all succeed: the first reply, every server called
        assert await xc.broadcast("Mul", Args(2, 3), Reply, timeout=WAIT) == Reply(6)
        nodes[1].fails = False
        assert await xc.broadcast("Split", None, timeout=WAIT) in ("a", "b", "c")
        assert [len(n.seen) for n in nodes] == [2, 2, 2]


async def test_fork_returns_at_the_first_success(server_factory) -> None:
    nodes, addrs = await nodes_at(server_factory, ("slow1", False), ("quick", True), ("slow2", False))
    async with xclient(addrs) as xc:
        md: dict[str, str] = {}
        reply = await asyncio.wait_for(
            xc.fork("QuickOrHold", None, metadata={"k": "f"}, response_metadata=md, timeout=WAIT), WAIT)
        assert reply == "quick" and md == {"k": "f@quick"}
        # the other two hold their calls (their gates are shut): fork did not wait for them
        await until(lambda: all(len(n.seen) == 1 for n in nodes), "every server got the call")
        assert not any(n.gate.is_set() for n in nodes)
        for n in nodes:
            n.gate.set()
        # every server fails: the first failure is raised, after all have answered
        with pytest.raises(ServiceError):
            await xc.fork("Fail", Args(), Reply, timeout=WAIT)


async def test_fan_outs_skip_servers_they_cannot_dial(server_factory) -> None:
    nodes, addrs = await nodes_at(server_factory, ("a", False), ("b", False))
    async with xclient([addrs[0], dead_address(), addrs[1]]) as xc:
        # Go's Broadcast dials every server first and calls only those it reached
        assert await xc.broadcast("Mul", Args(4, 5), Reply, timeout=WAIT) == Reply(20)
        assert await xc.fork("Who", None, timeout=WAIT) in ("a", "b")
        receipts = await xc.inform("Who", None, timeout=WAIT)
        assert sorted(r.reply for r in receipts) == ["a", "b"]
    async with xclient([dead_address(), dead_address()]) as xc:
        for pattern in (xc.broadcast, xc.fork, xc.inform):
            with pytest.raises(NoServerAvailableError):
                await pattern("Who", None, timeout=WAIT)
    async with xclient([]) as xc:
        with pytest.raises(NoServerAvailableError):
            await xc.broadcast("Who", None)


async def test_aclose_finishes_a_fan_out_left_in_the_background(server_factory) -> None:
    nodes, addrs = await nodes_at(server_factory, ("a", False), ("b", True))
    xc = xclient(addrs)
    with pytest.raises(ServiceError):
        await xc.broadcast("Split", None, timeout=WAIT)
    # a's attempt still runs in the background; aclose ends it rather than hang
    await asyncio.wait_for(xc.aclose(), WAIT)
    assert not xc._tasks


# -- inform -------------------------------------------------------------------------------------
async def test_inform_returns_every_servers_reply_and_error(server_factory) -> None:
    nodes, addrs = await nodes_at(server_factory, ("a", True), ("b", False), ("c", True))
    nodes[1].gate.set()
    async with xclient(addrs) as xc:
        receipts = await xc.inform("Split", None, metadata={"k": "i"}, timeout=WAIT)
    assert all(isinstance(r, Receipt) for r in receipts)
    by_addr = {r.address: r for r in receipts}
    # the address without its network prefix, as Go's Receipt has it
    assert set(by_addr) == {a.split("@", 1)[1] for a in addrs}
    ok = by_addr[addrs[1].split("@", 1)[1]]
    assert ok.ok and ok.reply == "b" and ok.metadata == {"k": "i@b"}
    for a, name in ((addrs[0], "a"), (addrs[2], "c")):
        r = by_addr[a.split("@", 1)[1]]
        assert not r.ok and r.reply is None
        assert isinstance(r.error, ServiceError) and f"failed on {name}" in str(r.error)


# -- metadata in and out, every pattern ---------------------------------------------------------
async def test_metadata_in_and_out_of_every_pattern(server_factory) -> None:
    nodes, addrs = await nodes_at(server_factory, ("a", False), ("b", False))
    async with xclient(addrs) as xc:
        xc.auth("tok")
        md: dict[str, str] = {}
        name = await xc.call("Who", None, metadata={"k": "call"}, response_metadata=md, timeout=WAIT)
        assert md == {"k": f"call@{name}"}

        c = xc.go("Who", None, metadata={"k": "go"}, timeout=WAIT)
        assert c.response_metadata == {"k": f"go@{await c}"}

        await xc.oneshot("Who", None, metadata={"k": "oneshot"})
        for _ in range(500):
            if any(s.get("k") == "oneshot" for n in nodes for s in n.seen):
                break
            await asyncio.sleep(0.01)

        md = {}
        name = await xc.broadcast("Who", None, metadata={"k": "bc"}, response_metadata=md, timeout=WAIT)
        assert md == {"k": f"bc@{name}"}
        md = {}
        name = await xc.fork("Who", None, metadata={"k": "fork"}, response_metadata=md, timeout=WAIT)
        assert md == {"k": f"fork@{name}"}
        receipts = await xc.inform("Who", None, metadata={"k": "inform"}, timeout=WAIT)
        assert sorted(r.metadata["k"] for r in receipts) == ["inform@a", "inform@b"]

        raw = Message(service_path="Arith", service_method="Who", serialize_type=SerializeType.JSON,
                      metadata={"k": "raw"}, payload=b"null")
        res = await xc.send_raw(raw, timeout=WAIT)
        assert res.message_type == MessageType.RESPONSE and res.payload in (b"\"a\"", b"\"b\"")
        assert res.metadata["k"] in ("raw@a", "raw@b")

    seen = [s for n in nodes for s in n.seen]
    for k in ("call", "go", "oneshot", "bc", "fork", "inform", "raw"):
        sent = [s for s in seen if s.get("k") == k]
        assert sent, k
        # every pattern carries the caller's metadata, the auth token and (with a deadline) the
        # server timeout; oneshot has no deadline
        assert all(s["__AUTH"] == "tok" for s in sent), k
        assert all(("__ServerTimeout" in s) == (k != "oneshot") for s in sent), k
    # the fan-outs reach every server
    assert {n.name for n in nodes if any(s.get("k") == "bc" for s in n.seen)} == {"a", "b"}
