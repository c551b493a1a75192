"""End to end through each real registry: a Python server registers through the plugin, an XClient
discovers it through the same registry and calls Arith.Mul; the server stops, a second one
appears, and the same XClient follows without a restart."""

from __future__ import annotations

import asyncio

from arith_service import Args, Arith, Reply

from rpcx import Server
from rpcx.client import FailMode, SelectMode, XClient
from rpcx.errors import RpcxError
from rpcx.registry import registry_discovery, registry_plugin
from rpcx.testing.harness import WAIT
from rpcx.testing.registry_conformance import RegistryCase


class CountingArith(Arith):
    def __init__(self) -> None:
        self.calls = 0

    def mul(self, args: Args) -> Reply:
        self.calls += 1
        return super().mul(args)


async def start_server(case: RegistryCase, base: str) -> tuple[Server, CountingArith, object]:
    server = Server()
    plugin = registry_plugin(case.url, base_path=base, update_interval=case.update_interval, **case.options)
    server.add_plugin(plugin)
    arith = CountingArith()
    server.register(arith, "weight=1", name="Arith")
    assert server.plugins.per_call is False
    await plugin.start(await server.start("tcp@127.0.0.1:0"))
    return server, arith, plugin


async def test_xclient_follows_the_registry(registry_case: RegistryCase) -> None:
    base = registry_case.base_path()
    a, arith_a, plugin_a = await start_server(registry_case, base)
    d = await registry_discovery(registry_case.url, "Arith", base_path=base, **registry_case.options)
    async with XClient("Arith", FailMode.FAILOVER, SelectMode.RANDOM, d) as xc:
        assert await xc.call("Mul", Args(6, 7), Reply, timeout=WAIT) == Reply(42)
        assert arith_a.calls == 1
        await a.shutdown(timeout=1)
        await plugin_a.aclose()  # type: ignore[attr-defined]
        b, arith_b, plugin_b = await start_server(registry_case, base)
        try:
            async def until_b_answers() -> None:
                while arith_b.calls == 0:
                    try:
                        assert await xc.call("Mul", Args(3, 5), Reply, timeout=WAIT) == Reply(15)
                    except RpcxError:
                        await asyncio.sleep(0.05)  # the old list may still name the stopped server

            await asyncio.wait_for(until_b_answers(), WAIT)
            assert arith_a.calls == 1
            assert [p.key for p in d.get_services()] == [b.address]
        finally:
            await b.shutdown(timeout=1)
            await plugin_b.aclose()  # type: ignore[attr-defined]
    await d.aclose()
