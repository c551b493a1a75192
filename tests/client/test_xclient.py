"""``XClient``: fail modes, selectors, discovery, reserved metadata and reconnection, on real servers."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest
from conftest import dead_address
from arith_service import Args, Arith, Reply

from rpcx import (
    CallTimeoutError,
    ClientClosedError,
    CodecError,
    Context,
    FailMode,
    KVPair,
    MultipleServersDiscovery,
    NoServerAvailableError,
    Option,
    Peer2PeerDiscovery,
    RpcxConnectionError,
    RpcxError,
    SelectMode,
    ServiceError,
    XClient,
)
from rpcx.client import Backoff, Call, Outcome

#: generous bound for "this must happen": a hang check on a loaded machine, not a speed check
WAIT = 10.0


class Node(Arith):
    """Arith plus a name, a call counter and a few misbehaving methods."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.calls: Counter[str] = Counter()
        self.seen_metadata: list[dict[str, str]] = []
        self.gate = asyncio.Event()

    def who(self, ctx: Context) -> str:
        self.calls["who"] += 1
        self.seen_metadata.append(dict(ctx.metadata))
        return self.name

    def broken(self, args: Args) -> Reply:
        self.calls["broken"] += 1
        raise RuntimeError(f"broken on {self.name}")

    async def slow(self, args: Args) -> str:
        self.calls["slow"] += 1
        await self.gate.wait()
        return self.name

    def bad_reply(self, args: Args) -> dict:
        self.calls["bad_reply"] += 1
        return {"C": "not a number"}


async def start_nodes(server_factory, *names: str, **options: Any) -> tuple[list[Node], list[str], list[Any]]:
    nodes, addrs, servers = [], [], []
    for n in names:
        node = Node(n)
        srv, addr = await server_factory(register=False, **options)
        srv.register(node, name="Arith")
        nodes.append(node)
        addrs.append(addr)
        servers.append(srv)
    return nodes, addrs, servers


async def test_failfast_returns_first_error(server_factory) -> None:
    nodes, addrs, _ = await start_nodes(server_factory, "a")
    d = MultipleServersDiscovery([KVPair(dead_address()), KVPair(addrs[0])])
    # without the dial back-off, Go's behaviour: round-robin keeps choosing the dead server
    async with XClient("Arith", FailMode.FAILFAST, SelectMode.ROUND_ROBIN, d, Option(dial_backoff=None)) as xc:
        with pytest.raises(RpcxConnectionError):
            await xc.call("Who", None, timeout=WAIT)  # the dead one comes first
        assert await xc.call("Who", None, timeout=WAIT) == "a"
        with pytest.raises(RpcxConnectionError):
            await xc.call("Who", None, timeout=WAIT)
        with pytest.raises(ServiceError, match="^broken on a$"):
            await xc.call("Broken", Args(), Reply, timeout=WAIT)
    assert nodes[0].calls == Counter({"who": 1, "broken": 1})
    # with it (the default), the refusal holds the dead server out: the next calls go to "a"
    async with XClient("Arith", FailMode.FAILFAST, SelectMode.ROUND_ROBIN, d,
                       Option(dial_backoff=Backoff(initial=WAIT * 6, maximum=WAIT * 6))) as xc:
        with pytest.raises(RpcxConnectionError):
            await xc.call("Who", None, timeout=WAIT)
        assert xc.held_out == {d.get_services()[0].key}
        assert [await xc.call("Who", None, timeout=WAIT) for _ in range(3)] == ["a"] * 3


async def test_failtry_retries_the_same_server(server_factory) -> None:
    nodes, addrs, servers = await start_nodes(server_factory, "a")
    accepted: list[int] = []

    class RefuseFirstTwo:
        def post_conn_accept(self, conn: Any) -> bool:
            accepted.append(1)
            return len(accepted) > 2

    servers[0].add_plugin(RefuseFirstTwo())
    async with XClient("Arith", FailMode.FAILTRY, SelectMode.RANDOM, Peer2PeerDiscovery(addrs[0])) as xc:
        assert await xc.call("Who", None, timeout=WAIT) == "a"
    assert len(accepted) == 3  # two dropped connections, one dial each, then success
    assert nodes[0].calls["who"] == 1


async def test_failtry_gives_up_after_retries(server_factory) -> None:
    addr = dead_address()
    dials: list[str] = []
    async with XClient("Arith", FailMode.FAILTRY, discovery=Peer2PeerDiscovery(addr), option=Option(retries=2)) as xc:
        orig = xc._get_client

        async def counting(key: str) -> Any:
            dials.append(key)
            return await orig(key)

        xc._get_client = counting  # type: ignore[method-assign]
        with pytest.raises(RpcxConnectionError):
            await xc.call("Who", None, timeout=WAIT)
    assert dials == [addr] * 3


async def test_failtry_sticks_to_its_server(server_factory) -> None:
    nodes, addrs, _ = await start_nodes(server_factory, "live")
    dead = dead_address()
    d = MultipleServersDiscovery([KVPair(dead), KVPair(addrs[0])])
    async with XClient("Arith", FailMode.FAILTRY, SelectMode.ROUND_ROBIN, d) as xc:
        with pytest.raises(RpcxConnectionError, match=dead.partition("@")[2]):
            await xc.call("Who", None, timeout=WAIT)  # four tries, all on the dead one
    assert nodes[0].calls["who"] == 0


async def test_failover_moves_to_a_live_server(server_factory) -> None:
    nodes, addrs, _ = await start_nodes(server_factory, "live")
    d = MultipleServersDiscovery([KVPair(dead_address()), KVPair(addrs[0])])
    async with XClient("Arith", FailMode.FAILOVER, SelectMode.ROUND_ROBIN, d) as xc:
        for _ in range(6):
            assert await xc.call("Who", None, timeout=WAIT) == "live"
    assert nodes[0].calls["who"] == 6


async def test_failover_random_with_enough_retries(server_factory) -> None:
    nodes, addrs, _ = await start_nodes(server_factory, "live")
    d = MultipleServersDiscovery([KVPair(dead_address()), KVPair(addrs[0])])
    # 40 retries: the chance that random selection never picks the live server is 2**-41
    async with XClient("Arith", FailMode.FAILOVER, SelectMode.RANDOM, d, Option(retries=40)) as xc:
        for _ in range(10):
            assert await xc.call("Who", None, timeout=WAIT) == "live"


async def test_failbackup_returns_the_fast_answer(server_factory) -> None:
    nodes, addrs, _ = await start_nodes(server_factory, "slow", "fast")
    nodes[1].gate.set()  # "fast" answers at once; "slow" waits for its gate
    d = MultipleServersDiscovery([KVPair(addrs[0]), KVPair(addrs[1])])
    opt = Option(backup_latency=0.05)
    async with XClient("Arith", FailMode.FAILBACKUP, SelectMode.ROUND_ROBIN, d, opt) as xc:
        assert await xc.call("Slow", Args(), str, timeout=WAIT) == "fast"
        assert nodes[0].calls["slow"] == 1 and nodes[1].calls["slow"] == 1
    # an answer before backup_latency means no backup request (the latency here is a generous
    # bound for one loopback call, so this holds on a loaded machine too)
    opt = Option(backup_latency=WAIT / 2)
    async with XClient("Arith", FailMode.FAILBACKUP, SelectMode.ROUND_ROBIN, d, opt) as xc:
        assert await xc.call("Who", None, timeout=WAIT) == "slow"
        assert await xc.call("Who", None, timeout=WAIT) == "fast"
        assert nodes[0].calls["who"] == 1 and nodes[1].calls["who"] == 1
        # a service error is an answer too, and is not raced
        with pytest.raises(ServiceError):
            await xc.call("Broken", Args(), timeout=WAIT)
        assert nodes[0].calls["broken"] + nodes[1].calls["broken"] == 1
    nodes[0].gate.set()


@pytest.mark.parametrize("mode", [FailMode.FAILOVER, FailMode.FAILTRY, FailMode.FAILFAST])
async def test_service_error_is_never_retried(server_factory, mode: FailMode) -> None:
    nodes, addrs, _ = await start_nodes(server_factory, "a", "b")
    d = MultipleServersDiscovery([KVPair(a) for a in addrs])
    async with XClient("Arith", mode, SelectMode.ROUND_ROBIN, d) as xc:
        with pytest.raises(ServiceError, match="^broken on a$"):
            await xc.call("Broken", Args(), Reply, timeout=WAIT)
        with pytest.raises(ServiceError, match="^arith failed on purpose$"):
            await xc.call("Fail", Args(), Reply, timeout=WAIT)
    assert nodes[0].calls["broken"] + nodes[1].calls["broken"] == 1


@pytest.mark.parametrize("mode", [FailMode.FAILOVER, FailMode.FAILTRY])
async def test_call_timeout_is_not_retried(server_factory, mode: FailMode) -> None:
    nodes, addrs, _ = await start_nodes(server_factory, "a", "b")
    d = MultipleServersDiscovery([KVPair(a) for a in addrs])
    async with XClient("Arith", mode, SelectMode.ROUND_ROBIN, d) as xc:
        # the server enforces the same deadline (from __ServerTimeout, in whole ms, so never later than
        # the client's): whichever side's timer fires first decides which of the two errors is seen
        with pytest.raises((CallTimeoutError, ServiceError)) as ei:
            await xc.call("Slow", Args(), str, timeout=0.2)
        if isinstance(ei.value, ServiceError):
            assert str(ei.value) == "context deadline exceeded"
        await asyncio.sleep(0.2)
        assert nodes[0].calls["slow"] + nodes[1].calls["slow"] == 1
        # the connection was kept: the next call reuses it
        assert await xc.call("Who", None, timeout=WAIT) == "b"
    for n in nodes:
        n.gate.set()


@pytest.mark.parametrize("mode", [FailMode.FAILOVER, FailMode.FAILTRY])
async def test_reply_decode_error_is_not_retried(server_factory, mode: FailMode) -> None:
    """Go turns a reply decode failure into a ServiceError: never retried, connection kept."""
    nodes, addrs, _ = await start_nodes(server_factory, "a")
    async with XClient("Arith", mode, SelectMode.ROUND_ROBIN, Peer2PeerDiscovery(addrs[0])) as xc:
        with pytest.raises(CodecError):
            await xc.call("BadReply", Args(), Reply, timeout=WAIT)
        assert nodes[0].calls["bad_reply"] == 1
        client = xc._clients[addrs[0]]
        assert await xc.call("Who", None, timeout=WAIT) == "a"
        assert xc._clients[addrs[0]] is client


async def test_round_robin_and_random_spread_calls(server_factory) -> None:
    nodes, addrs, _ = await start_nodes(server_factory, "a", "b", "c")
    d = MultipleServersDiscovery([KVPair(a) for a in addrs])
    async with XClient("Arith", FailMode.FAILFAST, SelectMode.ROUND_ROBIN, d) as xc:
        got = [await xc.call("Who", None, timeout=WAIT) for _ in range(30)]
    assert Counter(got) == Counter({"a": 10, "b": 10, "c": 10})
    assert got[:3] == ["a", "b", "c"] and got[3:6] == ["a", "b", "c"]
    async with XClient("Arith", FailMode.FAILFAST, SelectMode.RANDOM, d) as xc:
        got = [await xc.call("Who", None, timeout=WAIT) for _ in range(90)]
    # each of 3 servers is missed by 90 uniform picks with probability (2/3)**90 < 1e-15
    assert set(got) == {"a", "b", "c"}


async def test_inactive_state_and_group_filtering(server_factory) -> None:
    nodes, addrs, _ = await start_nodes(server_factory, "inactive", "g1", "g2", "both")
    d = MultipleServersDiscovery([
        KVPair(addrs[0], "state=inactive&group=g1"),
        KVPair(addrs[1], "group=g1&weight=3"),
        KVPair(addrs[2], "group=g2"),
        KVPair(addrs[3], "group=g2&group=g1"),
    ])
    async with XClient("Arith", FailMode.FAILFAST, SelectMode.ROUND_ROBIN, d) as xc:
        assert set(xc.servers) == set(addrs[1:])
        got = {await xc.call("Who", None, timeout=WAIT) for _ in range(9)}
        assert got == {"g1", "g2", "both"}
    async with XClient("Arith", FailMode.FAILFAST, SelectMode.ROUND_ROBIN, d, Option(group="g1")) as xc:
        got = {await xc.call("Who", None, timeout=WAIT) for _ in range(6)}
        assert got == {"g1", "both"}
    async with XClient("Arith", FailMode.FAILOVER, SelectMode.ROUND_ROBIN, d, Option(group="nope")) as xc:
        with pytest.raises(NoServerAvailableError, match="can not found any server"):
            await xc.call("Who", None, timeout=WAIT)
    assert nodes[0].calls["who"] == 0


async def test_discovery_update_is_picked_up(server_factory) -> None:
    nodes, addrs, _ = await start_nodes(server_factory, "a", "b")
    d = MultipleServersDiscovery([KVPair(addrs[0])])
    async with XClient("Arith", FailMode.FAILFAST, SelectMode.ROUND_ROBIN, d) as xc:
        assert await xc.call("Who", None, timeout=WAIT) == "a"
        d.update([KVPair(addrs[1])])
        got = None
        for _ in range(200):
            got = await xc.call("Who", None, timeout=WAIT)
            if got == "b":
                break
            await asyncio.sleep(0.01)
        assert got == "b"
        assert [await xc.call("Who", None, timeout=WAIT) for _ in range(5)] == ["b"] * 5
        assert list(xc.servers) == [addrs[1]]
        # the connection to the removed server is closed
        for _ in range(200):
            if addrs[0] not in xc._clients:
                break
            await asyncio.sleep(0.01)
        assert addrs[0] not in xc._clients
        d.update([KVPair(a, "state=inactive") for a in addrs])
        for _ in range(200):
            if not xc.servers:
                break
            await asyncio.sleep(0.01)
        with pytest.raises(NoServerAvailableError):
            await xc.call("Who", None, timeout=WAIT)


async def test_auth_and_server_timeout_metadata(server_factory) -> None:
    nodes, addrs, _ = await start_nodes(server_factory, "a")
    async with XClient("Arith", FailMode.FAILTRY, discovery=Peer2PeerDiscovery(addrs[0])) as xc:
        await xc.call("Who", None)
        xc.auth("Bearer t0k")
        await xc.call("Who", None, timeout=5.0, metadata={"x": "y"})
        await xc.call("Who", None)
    first, second, third = nodes[0].seen_metadata
    assert first == {}
    assert second["__AUTH"] == "Bearer t0k" and second["x"] == "y"
    assert 0 < int(second["__ServerTimeout"]) <= 5000
    assert third == {"__AUTH": "Bearer t0k"}


async def test_plain_client_sends_no_server_timeout(server_factory) -> None:
    from rpcx import Client

    nodes, addrs, _ = await start_nodes(server_factory, "a")
    async with await Client.connect(addrs[0]) as c:
        await c.call("Arith", "Who", None, timeout=5.0)
    assert nodes[0].seen_metadata == [{}]


async def test_server_auth_with_xclient(server_factory) -> None:
    def auth(ctx: Context, token: str) -> bool:
        return token == "secret"

    nodes, addrs, _ = await start_nodes(server_factory, "a", auth=auth)
    async with XClient("Arith", FailMode.FAILOVER, discovery=Peer2PeerDiscovery(addrs[0])) as xc:
        with pytest.raises(ServiceError, match="auth failed"):
            await xc.call("Who", None, timeout=WAIT)
        xc.auth("secret")
        assert await xc.call("Who", None, timeout=WAIT) == "a"  # dials again after the close


async def _restart_on_same_port(server_factory, addr: str, name: str) -> Node:
    node = Node(name)
    srv, bound = await server_factory(register=False, address=addr)
    srv.register(node, name="Arith")
    assert bound == addr
    return node


async def test_reconnect_after_server_restart_failtry(server_factory) -> None:
    nodes, addrs, servers = await start_nodes(server_factory, "first")
    async with XClient("Arith", FailMode.FAILTRY, discovery=Peer2PeerDiscovery(addrs[0])) as xc:
        assert await xc.call("Who", None, timeout=WAIT) == "first"
        await servers[0].close()
        await _restart_on_same_port(server_factory, addrs[0], "second")
        assert await xc.call("Who", None, timeout=WAIT) == "second"
        assert await xc.call("Who", None, timeout=WAIT) == "second"


async def test_reconnect_after_server_restart_while_client_unaware(server_factory) -> None:
    """The restart happens between two calls with no chance for the client to notice the close."""
    nodes, addrs, servers = await start_nodes(server_factory, "first")
    for mode in (FailMode.FAILTRY, FailMode.FAILOVER):
        async with XClient("Arith", mode, discovery=Peer2PeerDiscovery(addrs[0])) as xc:
            assert await xc.call("Who", None, timeout=WAIT) in ("first", "second")
            srv = servers[-1]
            srv.listeners[0].close()
            for conn in list(srv.connections):
                conn.abort()
            await srv.close()
            node = Node("second")
            srv2, _ = await server_factory(register=False, address=addrs[0])
            srv2.register(node, name="Arith")
            servers.append(srv2)
            assert await xc.call("Who", None, timeout=WAIT) == "second"


async def test_reconnect_after_server_restart_failfast(server_factory) -> None:
    nodes, addrs, servers = await start_nodes(server_factory, "first")
    async with XClient("Arith", FailMode.FAILFAST, discovery=Peer2PeerDiscovery(addrs[0])) as xc:
        assert await xc.call("Who", None, timeout=WAIT) == "first"
        await servers[0].close()
        await _restart_on_same_port(server_factory, addrs[0], "second")
        try:
            first = await xc.call("Who", None, timeout=WAIT)
        except RpcxError as exc:
            assert not isinstance(exc, ServiceError)  # only a transport error may show through
            first = None
        assert first in (None, "second")
        assert await xc.call("Who", None, timeout=WAIT) == "second"


async def test_server_down_then_up_again(server_factory) -> None:
    nodes, addrs, servers = await start_nodes(server_factory, "first")
    async with XClient("Arith", FailMode.FAILTRY, discovery=Peer2PeerDiscovery(addrs[0]), option=Option(retries=0)) as xc:
        assert await xc.call("Who", None, timeout=WAIT) == "first"
        await servers[0].close()
        with pytest.raises(RpcxConnectionError):
            for _ in range(5):  # the first may still find the old connection half-closed
                await xc.call("Who", None, timeout=WAIT)
        await _restart_on_same_port(server_factory, addrs[0], "second")
        assert await xc.call("Who", None, timeout=WAIT) == "second"


async def test_concurrent_first_calls_share_one_dial(server_factory) -> None:
    nodes, addrs, servers = await start_nodes(server_factory, "a")
    accepted: list[int] = []

    class Count:
        def post_conn_accept(self, conn: Any) -> bool:
            accepted.append(1)
            return True

    servers[0].add_plugin(Count())
    async with XClient("Arith", FailMode.FAILTRY, discovery=Peer2PeerDiscovery(addrs[0])) as xc:
        got = await asyncio.gather(*(xc.call("Mul", Args(i, 2), Reply, timeout=WAIT) for i in range(50)))
    assert got == [Reply(2 * i) for i in range(50)]
    assert len(accepted) == 1


async def test_oneshot_broadcast_fork(server_factory) -> None:
    nodes, addrs, _ = await start_nodes(server_factory, "a", "b", "c")
    d = MultipleServersDiscovery([KVPair(a) for a in addrs])
    async with XClient("Arith", FailMode.FAILFAST, SelectMode.ROUND_ROBIN, d) as xc:
        await xc.oneshot("Who", None)
        for _ in range(200):
            if sum(n.calls["who"] for n in nodes) == 1:
                break
            await asyncio.sleep(0.01)
        assert sum(n.calls["who"] for n in nodes) == 1
        assert await xc.broadcast("Mul", Args(2, 3), Reply) == Reply(6)
        assert all(n.calls["who"] <= 1 for n in nodes)
        with pytest.raises(ServiceError):
            await xc.broadcast("Broken", Args(), Reply)
        assert sum(n.calls["broken"] for n in nodes) == 3
        assert await xc.fork("Who", None) in ("a", "b", "c")
        nodes[0].gate.set()
        with pytest.raises(ServiceError):
            await xc.fork("Fail", Args(), Reply)


async def test_closed_xclient_and_empty_discovery() -> None:
    xc = XClient("Arith", FailMode.FAILFAST, discovery=MultipleServersDiscovery([]))
    with pytest.raises(NoServerAvailableError):
        await xc.call("Mul", Args(1, 1), Reply)
    await xc.aclose()
    await xc.aclose()
    with pytest.raises(ClientClosedError):
        await xc.call("Mul", Args(1, 1), Reply)
    with pytest.raises(ValueError):
        XClient("Arith")


async def test_in_flight_call_survives_its_server_leaving_discovery(server_factory) -> None:
    """A server marked inactive (to drain before a deploy) still answers the calls already sent."""
    nodes, addrs, _ = await start_nodes(server_factory, "a", "b")
    d = MultipleServersDiscovery([KVPair(addrs[0])])
    async with XClient("Arith", FailMode.FAILTRY, SelectMode.ROUND_ROBIN, d) as xc:
        call = asyncio.create_task(xc.call("Slow", Args(), str, timeout=WAIT))
        for _ in range(500):
            if nodes[0].calls["slow"]:
                break
            await asyncio.sleep(0.01)
        old = xc._clients[addrs[0]]
        d.update([KVPair(addrs[0], "state=inactive"), KVPair(addrs[1])])
        for _ in range(500):
            if list(xc.servers) == [addrs[1]]:
                break
            await asyncio.sleep(0.01)
        assert list(xc.servers) == [addrs[1]]
        assert await xc.call("Who", None, timeout=WAIT) == "b"
        nodes[0].gate.set()
        assert await asyncio.wait_for(call, WAIT) == "a"
        await asyncio.wait_for(old.wait_closed(), WAIT)  # closed once idle


async def test_cancelled_caller_does_not_cancel_a_shared_dial(server_factory) -> None:
    nodes, addrs, _ = await start_nodes(server_factory, "a")
    async with XClient("Arith", FailMode.FAILTRY, discovery=Peer2PeerDiscovery(addrs[0])) as xc:
        t1 = asyncio.create_task(xc.call("Mul", Args(2, 3), Reply, timeout=WAIT))
        t2 = asyncio.create_task(xc.call("Mul", Args(2, 4), Reply, timeout=WAIT))
        await asyncio.sleep(0)  # both are now waiting on the same dial
        t1.cancel()
        assert await asyncio.wait_for(t2, WAIT) == Reply(8)
        with pytest.raises(asyncio.CancelledError):
            await t1


async def test_aclose_during_a_dial_leaks_no_connection(server_factory) -> None:
    nodes, addrs, servers = await start_nodes(server_factory, "a")
    xc = XClient("Arith", FailMode.FAILTRY, discovery=Peer2PeerDiscovery(addrs[0]))
    call = asyncio.create_task(xc.call("Mul", Args(2, 3), Reply, timeout=WAIT))
    await asyncio.sleep(0)  # the dial has started
    await xc.aclose()
    with pytest.raises(ClientClosedError):
        await asyncio.wait_for(call, WAIT)
    assert xc._clients == {}
    for _ in range(200):
        if not servers[0].connections:
            break
        await asyncio.sleep(0.01)
    assert not servers[0].connections
