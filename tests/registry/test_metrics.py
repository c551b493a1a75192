"""Go's registry metrics (``calls``/``connections`` rates in the published metadata) against each
real registry, with the server's fast path still serving the calls that are counted."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import parse_qs

import pytest
from arith_service import Args, Arith, Reply

from rpcx import RpcxError, Server
from rpcx.client import FailMode, Peer2PeerDiscovery, SelectMode, XClient
from rpcx.client.discovery import KVPair
from rpcx.registry import CallMeter, registry_discovery, registry_plugin
from rpcx.testing.harness import WAIT
from rpcx.testing.registry_conformance import RegistryCase

CALLS = 200


def _meta(pair: KVPair) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(pair.value).items()}


async def test_rates_are_published_and_updated_with_the_fast_path_on(registry_case: RegistryCase) -> None:
    base = registry_case.base_path()
    server = Server()
    meter = CallMeter(server)
    plugin = registry_plugin(registry_case.url, base_path=base, update_interval=0.3, metrics=meter,
                             **registry_case.options)
    server.add_plugin(plugin)
    server.register(Arith(), "weight=2&group=a", name="Arith")
    assert server.plugins.per_call is False and server._fast_enabled  # neither plugin costs the fast path
    dispatched = 0
    general = server._dispatch

    def counting_dispatch(*args: Any) -> None:  # how many calls take the general path
        nonlocal dispatched
        dispatched += 1
        general(*args)

    server._dispatch = counting_dispatch  # type: ignore[method-assign]
    address = await server.start("tcp@127.0.0.1:0")
    await plugin.start(address)
    d = await registry_discovery(registry_case.url, "Arith", base_path=base, retry_interval=0.2)
    watch = d.watch()
    try:
        # Go's format: the rates merged in, every key sorted (url.Values.Encode)
        assert d.get_services() == [KVPair(address, "calls=0.00&connections=0.00&group=a&weight=2")]
        async with XClient("Arith", FailMode.FAILFAST, SelectMode.RANDOM, Peer2PeerDiscovery(address)) as xc:
            for i in range(CALLS):
                assert await xc.call("Mul", Args(i, 2), Reply, timeout=WAIT) == Reply(2 * i)
        assert server.calls_served == meter.calls == CALLS
        assert dispatched < CALLS // 2  # most were served, and counted, by the fast path
        assert meter.connections == 1

        async def next_rates(after: str | None) -> dict[str, str]:
            async for pairs in watch:
                meta = _meta(pairs[0])
                if float(meta["calls"]) > 0 and meta["calls"] != after:
                    return meta
            raise AssertionError("the watch ended")

        first = await asyncio.wait_for(next_rates(None), WAIT)
        assert float(first["connections"]) > 0
        assert (first["weight"], first["group"]) == ("2", "a")  # the service's own metadata kept
        # a mean rate since the start: with no more calls it falls at every refresh
        later = await asyncio.wait_for(next_rates(first["calls"]), WAIT)
        assert float(later["calls"]) < float(first["calls"])
    finally:
        await watch.aclose()  # type: ignore[attr-defined]
        await d.aclose()
        await server.shutdown(timeout=1)
        await plugin.aclose()


async def test_calls_are_counted_on_the_general_path_too() -> None:
    class PerCall:  # a per-call hook: every call takes the general path
        def pre_call(self, ctx: object, service: str, method: str, args: object) -> object:
            return args

    server = Server()
    server.add_plugin(PerCall())
    meter = CallMeter(server)
    server.register(Arith(), "", name="Arith")
    address = await server.start("tcp@127.0.0.1:0")
    try:
        async with XClient("Arith", FailMode.FAILFAST, SelectMode.RANDOM, Peer2PeerDiscovery(address)) as xc:
            for i in range(10):
                await xc.call("Mul", Args(i, 3), Reply, timeout=WAIT)
            with pytest.raises(RpcxError, match="can't find method"):
                await xc.call("Nope", Args(1, 1), Reply, timeout=WAIT)
        assert meter.calls == 10  # calls of a registered method, as Go's PreCall counts
    finally:
        await server.shutdown(timeout=1)


async def test_counting_is_off_by_default() -> None:
    server = Server()
    server.register(Arith(), "", name="Arith")
    address = await server.start("tcp@127.0.0.1:0")
    try:
        async with XClient("Arith", FailMode.FAILFAST, SelectMode.RANDOM, Peer2PeerDiscovery(address)) as xc:
            await xc.call("Mul", Args(2, 3), Reply, timeout=WAIT)
        assert (server.count_calls, server.calls_served) == (False, 0)
    finally:
        await server.shutdown(timeout=1)
