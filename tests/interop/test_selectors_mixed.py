"""Every built-in selector on real servers: in-process Python servers with a Go rpcx server
(tests/interop/goserver) in the mix. Python servers count the calls they serve; a client plugin
records the server of every attempt, so the Go server's share is both recorded and the remainder."""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from typing import Any

import pytest

from rpcx import FailMode, KVPair, MultipleServersDiscovery, Option, SelectMode, XClient
from rpcx.client import Outcome

from .conftest import EXAMPLES

sys.path.insert(0, str(EXAMPLES))
from arith import Args, Reply  # noqa: E402

WAIT = 10.0


class CountingArith:
    def __init__(self) -> None:
        self.calls = 0

    def mul(self, args: Args) -> Reply:
        self.calls += 1
        return Reply(args.A * args.B)


class Where:
    """A client plugin: the server and outcome of every attempt, and the args it carried."""

    def __init__(self) -> None:
        self.keys: Counter[str] = Counter()
        self.by_args: dict[Any, set[str]] = {}
        self.failed: set[str] = set()

    def post_call(self, call, key: str, outcome: Outcome, value: Any) -> None:
        if outcome is not Outcome.SUCCESS:
            self.failed.add(key)
            return
        self.keys[key] += 1
        self.by_args.setdefault(call.args.A, set()).add(key)


async def python_nodes(server_factory, n: int) -> tuple[list[CountingArith], list[str]]:
    nodes, addrs = [], []
    for _ in range(n):
        node = CountingArith()
        srv, addr = await server_factory(register=False)
        srv.register(node, name="Arith")
        nodes.append(node)
        addrs.append(addr)
    return nodes, addrs


async def calls(xc: XClient, n: int, args=lambda i: Args(i, 2), batch: int = 200) -> None:
    for start in range(0, n, batch):
        replies = await asyncio.gather(*(xc.call("Mul", args(i), Reply, timeout=WAIT)
                                         for i in range(start, min(n, start + batch))))
        assert [r.C for r in replies] == [args(i).A * args(i).B for i in range(start, min(n, start + batch))]


async def test_weighted_round_robin_follows_the_weights(server_factory, start_go_server) -> None:
    nodes, addrs = await python_nodes(server_factory, 3)
    go = start_go_server().address
    weights = dict(zip(addrs + [go], (5, 3, 1, 1)))
    disc = MultipleServersDiscovery([KVPair(a, f"weight={w}") for a, w in weights.items()])
    where = Where()
    async with XClient("Arith", FailMode.FAILFAST, SelectMode.WEIGHTED_ROUND_ROBIN, disc) as xc:
        xc.plugins.add(where)
        await calls(xc, 10_000)
    # smooth weighted round-robin is exact over every whole cycle of sum(weights) = 10 selections
    assert dict(where.keys) == {a: 1000 * w for a, w in weights.items()}
    assert [n.calls for n in nodes] == [5000, 3000, 1000]
    assert 10_000 - sum(n.calls for n in nodes) == where.keys[go] == 1000


async def test_weighted_round_robin_with_every_weight_zero_is_a_clear_error(server_factory) -> None:
    _, addrs = await python_nodes(server_factory, 2)
    disc = MultipleServersDiscovery([KVPair(a, "weight=0") for a in addrs])
    async with XClient("Arith", FailMode.FAILOVER, SelectMode.WEIGHTED_ROUND_ROBIN, disc) as xc:
        with pytest.raises(Exception, match="every server has weight 0"):
            await xc.call("Mul", Args(1, 2), Reply, timeout=WAIT)


async def test_consistent_hash_is_stable_and_moves_only_the_keys_of_a_server_that_left(
    server_factory, start_go_server,
) -> None:
    nodes, addrs = await python_nodes(server_factory, 3)
    go = start_go_server().address
    servers = addrs + [go]
    disc = MultipleServersDiscovery([KVPair(a) for a in servers])
    where = Where()
    async with XClient("Arith", FailMode.FAILFAST, SelectMode.CONSISTENT_HASH, disc) as xc:
        xc.plugins.add(where)
        for _ in range(3):  # the same args three times: the same server each time
            await calls(xc, 400)
        assert all(len(keys) == 1 for keys in where.by_args.values())
        before = {a: next(iter(keys)) for a, keys in where.by_args.items()}
        assert set(before.values()) == set(servers)  # every server, Go's included, got keys
        assert sum(n.calls for n in nodes) == 1200 - 3 * sum(1 for k in before.values() if k == go)

        leaving = addrs[1]
        disc.update([KVPair(a) for a in servers if a != leaving])
        await asyncio.sleep(0)  # let the watch deliver the new list
        where.by_args.clear()
        await calls(xc, 400)
        after = {a: next(iter(keys)) for a, keys in where.by_args.items()}
    moved = {a for a in before if before[a] != after[a]}
    # only the keys that were on the server that left moved (about 1/N of them)
    assert moved == {a for a in before if before[a] == leaving}
    assert leaving not in after.values()


async def test_closest_picks_the_nearest_server_and_skips_ones_without_coordinates(
    server_factory, start_go_server,
) -> None:
    nodes, addrs = await python_nodes(server_factory, 3)
    go = start_go_server().address
    disc = MultipleServersDiscovery([
        KVPair(addrs[0], "latitude=40.7&longitude=-74.0"),  # New York
        KVPair(go, "latitude=31.2&longitude=121.5"),  # Shanghai
        KVPair(addrs[1], "latitude=31.2&longitude=121.5"),  # Shanghai too: a tie with Go's
        KVPair(addrs[2]),  # no coordinates: never chosen
    ])
    where = Where()
    # the client is in Beijing
    async with XClient("Arith", FailMode.FAILFAST, SelectMode.CLOSEST, disc,
                       Option(latitude=39.9, longitude=116.4)) as xc:
        xc.plugins.add(where)
        await calls(xc, 400)
        assert set(where.keys) == {go, addrs[1]}  # ties broken at random: both get calls
        assert nodes[0].calls == nodes[2].calls == 0
        xc.config_geo_selector(40.0, -75.0)  # now near New York
        where.keys.clear()
        await calls(xc, 50)
    assert dict(where.keys) == {addrs[0]: 50}


async def test_closest_without_client_coordinates_says_so(server_factory) -> None:
    _, addrs = await python_nodes(server_factory, 1)
    disc = MultipleServersDiscovery([KVPair(addrs[0], "latitude=1&longitude=1")])
    async with XClient("Arith", FailMode.FAILFAST, SelectMode.CLOSEST, disc) as xc:
        with pytest.raises(RuntimeError, match="config_geo_selector"):
            await xc.call("Mul", Args(1, 2), Reply, timeout=WAIT)


async def test_weighted_icmp_drops_a_dead_server_and_weighs_the_live_ones(server_factory, start_go_server) -> None:
    import socket

    nodes, addrs = await python_nodes(server_factory, 1)
    go = start_go_server().address
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    dead = f"tcp@127.0.0.1:{s.getsockname()[1]}"
    s.close()
    disc = MultipleServersDiscovery([KVPair(a) for a in (addrs[0], go, dead)])
    where = Where()
    async with XClient("Arith", FailMode.FAILOVER, SelectMode.WEIGHTED_ICMP, disc, Option(dial_backoff=None)) as xc:
        xc.plugins.add(where)
        assert xc.selector.weights == {addrs[0]: 191, go: 191, dead: 191}  # unmeasured: tried first
        await calls(xc, 300, batch=1)
        weights = xc.selector.weights
    assert weights[dead] == 0
    assert weights[addrs[0]] > 0 and weights[go] > 0
    assert set(where.keys) == {addrs[0], go}  # every call succeeded, on the live servers
    assert where.failed == {dead}


@pytest.mark.parametrize("far", ["go", "python"])
async def test_weighted_icmp_pings_the_go_server_too(server_factory, start_go_server, delay_relay, far: str) -> None:
    """The ping is an rpcx heartbeat, which Go's server echoes: a Go server behind a slow link weighs
    less than a near Python one, and a near Go server more than a far Python one."""
    nodes, addrs = await python_nodes(server_factory, 1)
    go = start_go_server().address
    if far == "go":
        near_key, far_key = addrs[0], (await delay_relay(go, 0.1)).address
    else:
        near_key, far_key = go, (await delay_relay(addrs[0], 0.1)).address
    disc = MultipleServersDiscovery([KVPair(near_key), KVPair(far_key)])
    where = Where()
    async with XClient("Arith", FailMode.FAILFAST, SelectMode.WEIGHTED_ICMP, disc, Option(ping_interval=None)) as xc:
        xc.plugins.add(where)
        await calls(xc, 1, batch=1)  # starts the prober
        prober = xc._prober
        async with asyncio.timeout(WAIT):
            while prober.rounds < 1:
                await asyncio.sleep(0.01)
        rtts, weights = dict(xc.selector.rtts), xc.selector.weights
        where.keys.clear()
        await calls(xc, 200, batch=20)
    assert rtts[near_key] is not None and rtts[far_key] is not None and rtts[near_key] < rtts[far_key]
    assert weights[near_key] > weights[far_key] > 0
    assert where.keys[near_key] > where.keys[far_key]


async def test_sticky_keeps_the_server_until_it_fails(server_factory, start_go_server) -> None:
    nodes, addrs = await python_nodes(server_factory, 1)
    go_peer = start_go_server()
    disc = MultipleServersDiscovery([KVPair(go_peer.address), KVPair(addrs[0])])
    where = Where()
    async with XClient("Arith", FailMode.FAILOVER, SelectMode.ROUND_ROBIN, disc, Option(sticky=True)) as xc:
        xc.plugins.add(where)
        await calls(xc, 20, batch=1)
        assert len(where.keys) == 1  # round-robin would alternate; sticky stays
        # round-robin starts with the first listed server, Go's: stop it
        assert dict(where.keys) == {go_peer.address: 20}
        go_peer.stop()
        where.keys.clear()
        await calls(xc, 20, batch=1)
    assert dict(where.keys) == {addrs[0]: 20}
    assert where.failed == {go_peer.address}
