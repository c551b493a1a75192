"""The Python side of test_go_mdns.py, run INSIDE the test's network namespace (next to the Go peer),
talking over stdin/stdout so the test itself, in the root namespace, makes the assertions.

    python mdns_peer.py serve METADATA
        serves Arith on tcp@127.0.0.1:0, publishes it with MDNSRegisterPlugin (interfaces lo's
        127.0.0.1), prints the address; on a stdin line: graceful stop, prints "stopped".
    python mdns_peer.py discover
        browses until Arith is listed, prints "found KEY METADATA" and "a-record ADDR..." (the A
        record the publisher advertises), calls Mul(6, 7) through an XClient, prints "C=<n>",
        then browses until the list is empty and prints "gone".
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/, for arith_service

from arith_service import Args, Arith, Reply  # noqa: E402

from rpcx import Server  # noqa: E402
from rpcx.client import FailMode, SelectMode, XClient  # noqa: E402
from rpcx.registry.mdns import SERVICE_TYPE, MDNSDiscovery, MDNSRegisterPlugin  # noqa: E402

LOOPBACK = ["127.0.0.1"]
WAIT = 20.0  # a hang guard; the test's own timeout is longer


async def serve(metadata: str) -> None:
    server = Server()
    plugin = MDNSRegisterPlugin(interfaces=LOOPBACK, ttl=60)
    server.add_plugin(plugin)
    server.register(Arith(), metadata, name="Arith")
    await plugin.start(await server.start("tcp@127.0.0.1:0"))
    print(server.address, flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    await server.shutdown(timeout=1)
    await plugin.aclose()  # goodbye packets
    print("stopped", flush=True)


async def _a_records(d: MDNSDiscovery) -> list[str]:
    azc = d._zc()  # the discovery's own zeroconf: its cache holds the PTR answers
    from zeroconf import current_time_millis
    from zeroconf.const import _CLASS_IN, _TYPE_PTR

    now = current_time_millis()
    addrs: list[str] = []
    for ptr in azc.zeroconf.cache.async_all_by_details(SERVICE_TYPE, _TYPE_PTR, _CLASS_IN):
        if not ptr.is_expired(now):
            info = await azc.async_get_service_info(SERVICE_TYPE, ptr.alias, 3000)  # type: ignore[attr-defined]
            if info is not None:
                addrs += info.parsed_addresses()
    return sorted(addrs)


async def discover() -> None:
    d = MDNSDiscovery("Arith", interfaces=LOOPBACK, timeout=0.3, watch_interval=0.2)

    async def until(pred: object) -> list:  # type: ignore[type-arg]
        while True:
            pairs = await d.refresh()
            if pred(pairs):  # type: ignore[operator]
                return pairs

    try:
        pairs = await asyncio.wait_for(until(bool), WAIT)
        for p in pairs:
            print("found", p.key, p.value, flush=True)
        print("a-record", *await _a_records(d), flush=True)
        async with XClient("Arith", FailMode.FAILTRY, SelectMode.RANDOM, d) as xc:
            reply = await xc.call("Mul", Args(6, 7), Reply, timeout=WAIT)
        print(f"C={reply.C}", flush=True)
        await asyncio.wait_for(until(lambda ps: ps == []), WAIT)
        print("gone", flush=True)
    finally:
        await d.aclose()


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        asyncio.run(serve(sys.argv[2]))
    else:
        asyncio.run(discover())
