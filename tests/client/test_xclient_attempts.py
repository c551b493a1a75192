"""``XClient``'s one attempt point, the selector interface and the dial back-off, on real loopback servers.

Every attempt of every fail mode, ``oneshot``, ``broadcast`` and ``fork`` is reported as an
:class:`Outcome` to the selector's optional ``report``; these tests read that record.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest
from conftest import dead_address
from arith_service import Args, Reply

from rpcx import (
    CallTimeoutError,
    CodecError,
    ConnectionClosedError,
    Context,
    FailMode,
    KVPair,
    MultipleServersDiscovery,
    NoServerAvailableError,
    Option,
    Peer2PeerDiscovery,
    RpcxConnectionError,
    SelectMode,
    ServiceError,
    XClient,
)
from rpcx.client import Backoff, Call, Outcome, RoundRobinSelector
from rpcx.client.selector import HoldOut, adapt_selector
from rpcx.client.xclient import classify

WAIT = 10.0
#: a back-off long enough that it cannot run out during a test
LONG = Backoff(initial=WAIT * 6, maximum=WAIT * 6)


class Node:
    """Arith-like service that names itself and can be held on a gate."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.calls: Counter[str] = Counter()
        self.gate = asyncio.Event()

    def who(self, ctx: Context) -> str:
        self.calls["who"] += 1
        return self.name

    def mul(self, args: Args) -> Reply:
        self.calls["mul"] += 1
        return Reply(args.A * args.B)

    def broken(self, args: Args) -> Reply:
        self.calls["broken"] += 1
        raise RuntimeError(f"broken on {self.name}")

    async def slow(self, args: Args) -> str:
        self.calls["slow"] += 1
        await self.gate.wait()
        return self.name

    def bad_reply(self, args: Args) -> dict:
        return {"C": "not a number"}


async def start_nodes(server_factory, *names: str) -> tuple[list[Node], list[str]]:
    nodes, addrs = [], []
    for n in names:
        node = Node(n)
        srv, addr = await server_factory(register=False)
        srv.register(node, name="Arith")
        nodes.append(node)
        addrs.append(addr)
    return nodes, addrs


class Recorder:
    """A selector that records what it sees: round-robin, or always ``prefer`` while it is listed."""

    def __init__(self, prefer: str | None = None) -> None:
        self.inner = RoundRobinSelector()
        self.prefer = prefer
        self.calls: list[Call] = []
        self.updates: list[list[str]] = []
        self.reports: list[tuple[str, Outcome]] = []
        self.servers: list[str] = []

    def select(self, call: Call) -> str | None:
        self.calls.append(call)
        if self.prefer is not None and self.prefer in self.servers:
            return self.prefer
        return self.inner.select(call)

    def update_server(self, servers: dict[str, str]) -> None:
        self.servers = list(servers)
        self.updates.append(sorted(servers))
        self.inner.update_server(servers)

    def report(self, key: str, outcome: Outcome, latency: float) -> None:
        assert latency >= 0
        self.reports.append((key, outcome))


def xclient(mode: FailMode, addrs: list[str], rec: Recorder, **opt: Any) -> XClient:
    xc = XClient("Arith", mode, SelectMode.ROUND_ROBIN, MultipleServersDiscovery([KVPair(a) for a in addrs]),
                 Option(**opt))
    xc.set_selector(rec)
    return xc


# -- classification and reporting, mode by mode ----------------------------------------------------
def test_classify_each_kind_of_error() -> None:
    assert classify(ServiceError("x")) is Outcome.SERVICE_ERROR
    assert classify(CallTimeoutError("x")) is Outcome.TIMEOUT
    assert classify(asyncio.CancelledError()) is Outcome.CANCELLED
    assert classify(CodecError("x")) is Outcome.CODEC_ERROR
    assert classify(ConnectionClosedError("connection is shut down")) is Outcome.CONNECTION_ERROR
    assert classify(ConnectionResetError()) is Outcome.CONNECTION_ERROR
    assert classify(KeyError("bug")) is Outcome.ERROR
    assert {o for o in Outcome if o.retryable} == {Outcome.DIAL_ERROR, Outcome.CONNECTION_ERROR, Outcome.BREAKER_OPEN}


async def test_failfast_reports_each_outcome(server_factory) -> None:
    nodes, addrs = await start_nodes(server_factory, "a")
    rec = Recorder()
    async with xclient(FailMode.FAILFAST, addrs, rec) as xc:
        assert await xc.call("Who", None, timeout=WAIT) == "a"
        with pytest.raises(ServiceError):
            await xc.call("Broken", Args(), Reply, timeout=WAIT)
        with pytest.raises(CodecError):
            await xc.call("BadReply", Args(), Reply, timeout=WAIT)
        client = xc._clients[addrs[0]]
        with pytest.raises((CallTimeoutError, ServiceError)):
            await xc.call("Slow", Args(), str, timeout=0.05)
        assert xc._clients[addrs[0]] is client  # none of these dropped the connection
    nodes[0].gate.set()
    outcomes = [o for _, o in rec.reports]
    assert outcomes[:3] == [Outcome.SUCCESS, Outcome.SERVICE_ERROR, Outcome.CODEC_ERROR]
    # the server enforces the same deadline: either side's timer may answer first
    assert outcomes[3] in (Outcome.TIMEOUT, Outcome.SERVICE_ERROR) and len(outcomes) == 4


async def test_failover_reports_the_refusal_then_the_success(server_factory) -> None:
    nodes, addrs = await start_nodes(server_factory, "live")
    dead = dead_address()
    rec = Recorder(prefer=dead)  # a selector that insists on the dead server
    async with xclient(FailMode.FAILOVER, [dead, addrs[0]], rec, dial_backoff=None) as xc:
        assert await xc.call("Who", None, timeout=WAIT) == "live"
    # the same call did not choose the refusing server again, although the selector kept offering it
    assert rec.reports == [(dead, Outcome.DIAL_ERROR), (addrs[0], Outcome.SUCCESS)]


async def test_failtry_reports_every_attempt_on_the_same_key() -> None:
    dead = dead_address()
    rec = Recorder()
    async with xclient(FailMode.FAILTRY, [dead], rec, retries=2) as xc:
        with pytest.raises(RpcxConnectionError):
            await xc.call("Who", None, timeout=WAIT)
    assert rec.reports == [(dead, Outcome.DIAL_ERROR)] * 3
    assert len(rec.calls) == 1  # Failtry selects once


async def test_failbackup_reports_the_winner_and_the_abandoned_loser(server_factory) -> None:
    nodes, addrs = await start_nodes(server_factory, "slow", "fast")
    nodes[1].gate.set()
    rec = Recorder()
    async with xclient(FailMode.FAILBACKUP, addrs, rec, backup_latency=0.05) as xc:
        assert await xc.call("Slow", Args(), str, timeout=WAIT) == "fast"
        for _ in range(500):  # the loser's cancellation lands on the next loop turns
            if len(rec.reports) == 2:
                break
            await asyncio.sleep(0.01)
        assert xc._clients[addrs[0]] is not None  # the loser's connection is kept
    assert rec.reports == [(addrs[1], Outcome.SUCCESS), (addrs[0], Outcome.CANCELLED)]
    nodes[0].gate.set()


async def test_oneshot_broadcast_and_fork_go_through_the_attempt_point(server_factory) -> None:
    nodes, addrs = await start_nodes(server_factory, "a", "b")
    rec = Recorder()
    async with xclient(FailMode.FAILFAST, addrs, rec) as xc:
        await xc.oneshot("Who", None)
        assert rec.reports == [(addrs[0], Outcome.SUCCESS)]
        rec.reports.clear()
        assert await xc.broadcast("Mul", Args(2, 3), Reply) == Reply(6)
        assert sorted(rec.reports) == sorted((a, Outcome.SUCCESS) for a in addrs)
        rec.reports.clear()
        with pytest.raises(ServiceError):
            await xc.fork("Broken", Args(), Reply)
        assert sorted(rec.reports) == sorted((a, Outcome.SERVICE_ERROR) for a in addrs)


async def test_dead_server_in_broadcast_is_a_dial_error(server_factory) -> None:
    """Reported as a dial error, then skipped as Go's Broadcast and Fork skip a server they cannot dial."""
    nodes, addrs = await start_nodes(server_factory, "a")
    dead = dead_address()
    rec = Recorder()
    async with xclient(FailMode.FAILFAST, [dead, addrs[0]], rec) as xc:
        assert await xc.broadcast("Mul", Args(2, 3), Reply) == Reply(6)
        assert await xc.fork("Mul", Args(2, 3), Reply) == Reply(6)
    assert Counter(rec.reports) == Counter({(dead, Outcome.DIAL_ERROR): 2, (addrs[0], Outcome.SUCCESS): 2})


async def test_a_connection_closed_before_the_reply_is_retried_by_failover(server_factory) -> None:
    """A server closing the connection with the request unanswered (as a shutting-down server does
    with requests it never read): the call sees ConnectionClosedError and Failover retries it."""
    nodes, addrs = await start_nodes(server_factory, "live")
    got_request = asyncio.Event()

    async def read_then_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1)
        got_request.set()
        writer.close()

    closer = await asyncio.start_server(read_then_close, "127.0.0.1", 0)
    closing = f"tcp@127.0.0.1:{closer.sockets[0].getsockname()[1]}"
    try:
        rec = Recorder()
        async with xclient(FailMode.FAILOVER, [closing, addrs[0]], rec) as xc:
            assert await xc.call("Who", None, timeout=WAIT) == "live"
        assert got_request.is_set()
        assert rec.reports == [(closing, Outcome.CONNECTION_ERROR), (addrs[0], Outcome.SUCCESS)]
        rec = Recorder()
        async with xclient(FailMode.FAILFAST, [closing, addrs[0]], rec) as xc:
            with pytest.raises(ConnectionClosedError):
                await xc.call("Who", None, timeout=WAIT)
            assert closing not in xc._clients  # the broken connection was dropped
        assert rec.reports == [(closing, Outcome.CONNECTION_ERROR)]
    finally:
        closer.close()
        await closer.wait_closed()


async def test_the_deadline_bounds_a_slow_dial(server_factory) -> None:
    nodes, addrs = await start_nodes(server_factory, "a")
    rec = Recorder()
    release = asyncio.Event()
    async with xclient(FailMode.FAILOVER, addrs, rec) as xc:
        real_dial = xc._dial

        async def slow_dial(key: str) -> Any:
            await release.wait()
            return await real_dial(key)

        xc._dial = slow_dial  # type: ignore[method-assign]
        with pytest.raises(CallTimeoutError, match="while dialling"):
            await xc.call("Who", None, timeout=0.05)
        assert rec.reports == [(addrs[0], Outcome.TIMEOUT)]  # a timeout is not retried
        release.set()
        assert await xc.call("Who", None, timeout=WAIT) == "a"  # the shared dial went on


# -- the selector interface ------------------------------------------------------------------------
async def test_selector_sees_the_call_and_its_metadata(server_factory) -> None:
    nodes, addrs = await start_nodes(server_factory, "a")
    rec = Recorder()
    async with xclient(FailMode.FAILTRY, addrs, rec) as xc:
        xc.auth("secret")
        assert await xc.call("Mul", Args(2, 5), Reply, metadata={"tenant": "t1"}, timeout=WAIT) == Reply(10)
    (call,) = rec.calls
    assert (call.service_path, call.service_method, call.args) == ("Arith", "Mul", Args(2, 5))
    assert dict(call.metadata) == {"tenant": "t1"}  # the caller's metadata, not __AUTH/__ServerTimeout
    with pytest.raises(TypeError):
        call.metadata["x"] = "y"  # type: ignore[index]


async def test_selector_answering_none_means_no_server() -> None:
    class Nobody:
        def select(self, call: Call) -> str | None:
            return None

        def update_server(self, servers: dict[str, str]) -> None:
            pass

    for mode in FailMode:
        async with XClient("Arith", mode, discovery=Peer2PeerDiscovery(dead_address())) as xc:
            xc.set_selector(Nobody())
            with pytest.raises(NoServerAvailableError, match="^can not found any server$"):
                await xc.call("Who", None, timeout=WAIT)


async def test_old_style_selector_is_adapted_with_a_warning(server_factory) -> None:
    nodes, addrs = await start_nodes(server_factory, "a")
    seen: list[tuple[str, str, Any]] = []

    class Old:
        def __init__(self) -> None:
            self.keys: list[str] = []

        def select(self, service_path: str, service_method: str, args: Any) -> str:
            seen.append((service_path, service_method, args))
            return self.keys[0] if self.keys else ""

        def update_server(self, servers: dict[str, str]) -> None:
            self.keys = list(servers)

    async with XClient("Arith", FailMode.FAILOVER, discovery=Peer2PeerDiscovery(addrs[0])) as xc:
        with pytest.warns(DeprecationWarning, match="old selector interface"):
            xc.set_selector(Old())
        assert await xc.call("Who", None, timeout=WAIT) == "a"
    assert seen == [("Arith", "Who", None)]
    old = Old()
    with pytest.warns(DeprecationWarning):
        adapted = adapt_selector(old)
    assert adapted.select(Call("Arith", "Who")) is None  # "" (no server) became None


def test_every_select_mode_has_a_selector() -> None:
    for mode in SelectMode:
        if mode == SelectMode.SELECT_BY_USER:
            continue
        xc = XClient("Arith", FailMode.FAILFAST, mode, Peer2PeerDiscovery("tcp@127.0.0.1:1"),
                     Option(latitude=0.0, longitude=0.0))
        key = xc.selector.select(Call("Arith", "Mul", "k"))
        # CLOSEST skips a server without coordinates; every other mode picks the only one
        assert key == (None if mode == SelectMode.CLOSEST else "tcp@127.0.0.1:1"), mode


async def test_select_by_user_needs_set_selector(server_factory) -> None:
    nodes, addrs = await start_nodes(server_factory, "a")
    async with XClient("Arith", FailMode.FAILFAST, SelectMode.SELECT_BY_USER, Peer2PeerDiscovery(addrs[0])) as xc:
        with pytest.raises(RuntimeError, match="set_selector"):
            await xc.call("Who", None, timeout=WAIT)
        xc.set_selector(RoundRobinSelector())
        assert await xc.call("Who", None, timeout=WAIT) == "a"


# -- holding out servers that refuse ---------------------------------------------------------------
def test_holdout_backoff_doubles_caps_and_resets() -> None:
    h = HoldOut(Backoff(initial=0.1, maximum=0.5))
    assert not h and h.held(0.0) == set()
    h.failed("a", now=10.0)
    assert h.held(10.05) == {"a"} and h.held(10.1) == set()
    delays = []
    for now in (20.0, 30.0, 40.0, 50.0):
        h.failed("a", now)
        delays.append(round(h.until("a") - now, 6))  # type: ignore[operator]
    assert delays == [0.2, 0.4, 0.5, 0.5]
    h.failed("b", now=50.0)
    h.succeeded("a")
    assert h.until("a") is None and h.held(50.0) == {"b"}
    h.failed("a", now=60.0)
    assert h.until("a") == pytest.approx(60.1)  # back to the start after a successful dial
    h.forget_except({"a"})
    assert h.until("b") is None
    with pytest.raises(ValueError):
        Backoff(initial=0, maximum=1)


async def test_a_refusing_server_is_held_out_of_selection(server_factory) -> None:
    nodes, addrs = await start_nodes(server_factory, "a", "b")
    dead = dead_address()
    rec = Recorder()
    async with xclient(FailMode.FAILOVER, [dead, *addrs], rec, dial_backoff=LONG) as xc:
        assert rec.updates[-1] == sorted([dead, *addrs])
        # round-robin chose dead first; the retry went to a live one
        assert await xc.call("Who", None, timeout=WAIT) in ("a", "b")
        assert xc.held_out == {dead}
        assert rec.updates[-1] == sorted(addrs)  # the selector no longer sees it
        got = [await xc.call("Who", None, timeout=WAIT) for _ in range(6)]
    assert Counter(got) == Counter({"a": 3, "b": 3})
    assert [k for k, o in rec.reports if o is Outcome.DIAL_ERROR] == [dead]  # one dial, not seven


async def test_when_every_server_is_held_out_they_are_tried_anyway() -> None:
    dead = dead_address()
    rec = Recorder()
    async with xclient(FailMode.FAILFAST, [dead], rec, dial_backoff=LONG) as xc:
        for _ in range(3):
            with pytest.raises(RpcxConnectionError):  # a dial error each time, never "no server"
                await xc.call("Who", None, timeout=WAIT)
        assert xc.held_out == {dead}
    assert rec.reports == [(dead, Outcome.DIAL_ERROR)] * 3


async def test_a_successful_dial_ends_the_holdout(server_factory) -> None:
    dead = dead_address()
    rec = Recorder()
    async with xclient(FailMode.FAILFAST, [dead], rec, dial_backoff=Backoff(initial=0.05, maximum=0.05)) as xc:
        with pytest.raises(RpcxConnectionError):
            await xc.call("Who", None, timeout=WAIT)
        assert xc._holdout is not None and xc._holdout.until(dead) is not None
        node = Node("back")
        srv, bound = await server_factory(register=False, address=dead)
        srv.register(node, name="Arith")
        assert await xc.call("Who", None, timeout=WAIT) == "back"
        assert xc._holdout.until(dead) is None and xc.held_out == set()
