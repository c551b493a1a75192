"""SelectMode.WEIGHTED_ICMP on real servers: round trips measured with rpcx heartbeats (no root),
servers made near or far by test-owned relays that delay every chunk (tests/conftest.py's
DelayRelay). Asserts orderings of round trips, weights and call shares, never durations."""

from __future__ import annotations

import asyncio
from typing import Any

from arith_service import Args, Reply
from conftest import WAIT, dead_address

from rpcx import FailMode, KVPair, MultipleServersDiscovery, Option, SelectMode, XClient
from rpcx.client.weighted import WeightedICMPSelector


class Counting:
    def __init__(self, pause: float = 0.0) -> None:
        self.calls = 0
        self.pause = pause

    async def mul(self, args: Args) -> Reply:
        self.calls += 1
        if self.pause:
            await asyncio.sleep(self.pause)
        return Reply(args.A * args.B)


async def nodes(server_factory: Any, n: int, pause: float = 0.0) -> tuple[list[Counting], list[str]]:
    out, addrs = [], []
    for _ in range(n):
        node = Counting(pause)
        srv, addr = await server_factory(register=False)
        srv.register(node, name="Arith")
        out.append(node)
        addrs.append(addr)
    return out, addrs


async def measured(xc: XClient, rounds: int = 1) -> dict[str, int]:
    """Wait (hang guard only) until the prober finished ``rounds`` more rounds; the weights then."""
    prober = xc._prober
    assert prober is not None, "WEIGHTED_ICMP starts a prober on the first call"
    goal = prober.rounds + rounds
    async with asyncio.timeout(WAIT):
        while prober.rounds < goal:
            await asyncio.sleep(0.01)
    return xc.selector.weights  # type: ignore[attr-defined, no-any-return]


async def spread(xc: XClient, n: int, batch: int = 20) -> None:
    for i in range(0, n, batch):
        await asyncio.gather(*(xc.call("Mul", Args(i, 2), Reply, timeout=WAIT) for _ in range(min(batch, n - i))))


async def test_weights_and_shares_follow_the_round_trip(server_factory, delay_relay) -> None:
    counters, addrs = await nodes(server_factory, 3)
    near = addrs[0]
    middle = (await delay_relay(addrs[1], 0.04)).address  # ~80 ms round trip: weight ~121
    far = (await delay_relay(addrs[2], 0.15)).address  # ~300 ms: weight 1
    disc = MultipleServersDiscovery([KVPair(a) for a in (near, middle, far)])
    async with XClient("Arith", FailMode.FAILFAST, SelectMode.WEIGHTED_ICMP, disc, Option(ping_interval=None)) as xc:
        sel = xc.selector
        assert isinstance(sel, WeightedICMPSelector)
        assert sel.weights == dict.fromkeys((near, middle, far), 191)  # nothing measured yet
        await xc.call("Mul", Args(1, 2), Reply, timeout=WAIT)  # the first call starts the prober
        weights = await measured(xc)
        rtts = sel.rtts
        assert rtts[near] is not None and rtts[middle] is not None and rtts[far] is not None
        assert rtts[near] < rtts[middle] < rtts[far]
        assert weights[near] > weights[middle] > weights[far] > 0
        for c in counters:
            c.calls = 0
        await spread(xc, 300)
    shares = [c.calls for c in counters]
    assert sum(shares) == 300
    assert shares[0] > shares[1] > shares[2]


async def test_a_slow_method_does_not_make_its_server_look_far(server_factory, delay_relay) -> None:
    # calls used to set the weights; now only pings do: a method that takes 0.3 s on the near
    # server leaves it the heaviest, and a far link stays light however quick its method
    (slow,), (slow_addr,) = await nodes(server_factory, 1, pause=0.3)
    _, (quick_addr,) = await nodes(server_factory, 1)
    far = (await delay_relay(quick_addr, 0.1)).address
    disc = MultipleServersDiscovery([KVPair(slow_addr), KVPair(far)])
    async with XClient("Arith", FailMode.FAILFAST, SelectMode.WEIGHTED_ICMP, disc, Option(ping_interval=None)) as xc:
        await spread(xc, 10, batch=10)
        weights = await measured(xc)
        assert slow.calls > 0
        await spread(xc, 10, batch=10)  # slow calls reported meanwhile change nothing
        assert xc.selector.weights == weights  # type: ignore[attr-defined]
    assert weights[slow_addr] == 191 and weights[far] < weights[slow_addr]


async def test_periodic_pings_reweigh_a_server_whose_link_changed(server_factory, delay_relay) -> None:
    counters, addrs = await nodes(server_factory, 2)
    a = await delay_relay(addrs[0], 0.0)
    b = await delay_relay(addrs[1], 0.15)
    disc = MultipleServersDiscovery([KVPair(a.address), KVPair(b.address)])
    async with XClient("Arith", FailMode.FAILFAST, SelectMode.WEIGHTED_ICMP, disc, Option(ping_interval=0.05)) as xc:
        await xc.call("Mul", Args(1, 2), Reply, timeout=WAIT)
        weights = await measured(xc)
        assert weights[a.address] > weights[b.address]
        a.delay, b.delay = 0.15, 0.0  # no discovery change: only the periodic pings can see it
        async with asyncio.timeout(WAIT):
            while not weights[b.address] > weights[a.address]:
                weights = await measured(xc)
        for c in counters:
            c.calls = 0
        await spread(xc, 100)
    assert counters[1].calls > counters[0].calls


async def test_a_server_that_cannot_be_dialled_gets_weight_zero_without_a_call_on_it(server_factory) -> None:
    counters, addrs = await nodes(server_factory, 1)
    dead = dead_address()
    disc = MultipleServersDiscovery([KVPair(addrs[0]), KVPair(dead)])
    # no dial back-off: the dead server stays in the selector's list, so only its weight keeps it out
    opt = Option(ping_interval=None, dial_backoff=None)
    async with XClient("Arith", FailMode.FAILFAST, SelectMode.WEIGHTED_ICMP, disc, opt) as xc:
        await xc.call("Mul", Args(1, 2), Reply, timeout=WAIT)
        weights = await measured(xc)
        assert weights == {addrs[0]: 191, dead: 0}
        assert xc.selector.rtts[dead] is None  # type: ignore[attr-defined]
        counters[0].calls = 0
        await spread(xc, 50)  # Failfast: a call sent to the dead server would fail
    assert counters[0].calls == 50


async def test_a_server_added_by_discovery_is_measured_at_once(server_factory, delay_relay) -> None:
    _, addrs = await nodes(server_factory, 2)
    far = (await delay_relay(addrs[1], 0.15)).address
    disc = MultipleServersDiscovery([KVPair(addrs[0])])
    async with XClient("Arith", FailMode.FAILFAST, SelectMode.WEIGHTED_ICMP, disc, Option(ping_interval=None)) as xc:
        await xc.call("Mul", Args(1, 2), Reply, timeout=WAIT)
        await measured(xc)
        rounds = xc._prober.rounds  # type: ignore[union-attr]
        disc.update([KVPair(addrs[0]), KVPair(far)])
        async with asyncio.timeout(WAIT):  # the watch hands the list over; the prober is poked
            while far not in xc.selector.rtts:  # type: ignore[attr-defined]
                await asyncio.sleep(0.01)
        assert xc._prober.rounds > rounds  # type: ignore[union-attr]
        weights = xc.selector.weights  # type: ignore[attr-defined]
    assert weights[addrs[0]] > weights[far] > 0


async def test_the_prober_stops_with_the_client(server_factory) -> None:
    _, addrs = await nodes(server_factory, 1)
    xc = XClient("Arith", FailMode.FAILFAST, SelectMode.WEIGHTED_ICMP, MultipleServersDiscovery([KVPair(addrs[0])]),
                 Option(ping_interval=0.01))
    await xc.call("Mul", Args(1, 2), Reply, timeout=WAIT)
    task = xc._probe_task
    assert task is not None and not task.done()
    await xc.aclose()
    assert task.done()
    # other selectors start no prober
    async with XClient("Arith", FailMode.FAILFAST, SelectMode.ROUND_ROBIN,
                       MultipleServersDiscovery([KVPair(addrs[0])])) as rr:
        await rr.call("Mul", Args(1, 2), Reply, timeout=WAIT)
        assert rr._probe_task is None
