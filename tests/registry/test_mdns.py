"""mDNS registry between real zeroconf responders on 127.0.0.1 (never another interface): a server
plugin publishing Go's TXT format, a discovery querying PTR, liveness by goodbye and by TTL."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import uuid

import pytest

from arith_service import Args, Arith, Reply

from rpcx import Server
from rpcx.client import FailMode, SelectMode, XClient
from rpcx.client.discovery import KVPair
from rpcx.registry.base import RegistryError
from rpcx.registry.mdns import MDNSDiscovery, MDNSRegisterPlugin, decode_txt
from rpcx.testing.harness import WAIT

LOOPBACK = ["127.0.0.1"]  # ALWAYS: zeroconf otherwise multicasts on every interface
# unique per test process: another process on this machine (a colleague's test run) may publish
# its own "Arith" on 127.0.0.1 at the same time, and discovery filters by service name
ARITH = f"Arith{uuid.uuid4().hex[:8]}"
ECHO = f"Echo{uuid.uuid4().hex[:8]}"
FAST = {"interfaces": LOOPBACK, "timeout": 0.3, "watch_interval": 0.1}


async def _server(metadata: str = "weight=1", ttl: int = 60, **services: object) -> tuple[Server, MDNSRegisterPlugin]:
    server = Server()
    plugin = MDNSRegisterPlugin(interfaces=LOOPBACK, ttl=ttl)
    server.add_plugin(plugin)
    server.register(Arith(), metadata, name=ARITH)
    for name, obj in services.items():
        server.register(obj, "", name=name)
    assert server.plugins.per_call is False  # the plugin keeps the fast path
    await plugin.start(await server.start("tcp@127.0.0.1:0"))
    return server, plugin


async def _stop(server: Server, plugin: MDNSRegisterPlugin) -> None:
    await server.shutdown(timeout=1)
    await plugin.aclose()


async def _until(d: MDNSDiscovery, want: list[KVPair]) -> None:
    async def loop() -> None:
        while await d.refresh() != want:
            pass  # each refresh waits its own timeout for answers

    await asyncio.wait_for(loop(), WAIT)


async def test_published_server_is_found_and_called() -> None:
    server, plugin = await _server("weight=2&group=a")
    d = await MDNSDiscovery.open(ARITH, **FAST)
    try:
        await _until(d, [KVPair(server.address, "weight=2&group=a")])
        async with XClient(ARITH, FailMode.FAILOVER, SelectMode.RANDOM, d) as xc:
            assert await xc.call("Mul", Args(6, 7), Reply, timeout=WAIT) == Reply(42)
    finally:
        await d.aclose()
        await _stop(server, plugin)


async def test_only_the_asked_service_and_each_server_once() -> None:
    a, pa = await _server(**{ECHO: Arith()})
    b, pb = await _server()
    arith = await MDNSDiscovery.open(ARITH, **FAST)
    echo = arith.clone(ECHO)
    try:
        await _until(arith, sorted([KVPair(a.address, "weight=1"), KVPair(b.address, "weight=1")], key=lambda p: p.key))
        await _until(echo, [KVPair(a.address, "")])  # Go's browse would list b as well
    finally:
        await arith.aclose()
        await echo.aclose()
        await _stop(a, pa)
        await _stop(b, pb)


async def test_metadata_change_reaches_a_watcher() -> None:
    server, plugin = await _server("weight=1")
    d = await MDNSDiscovery.open(ARITH, **FAST)
    watch = d.watch()
    try:
        await _until(d, [KVPair(server.address, "weight=1")])
        server.register(Arith(), "weight=1&state=inactive", name=ARITH)

        async def next_inactive() -> list[KVPair]:
            while True:
                got = await watch.__anext__()
                if got and got[0].value.endswith("state=inactive"):
                    return got

        assert await asyncio.wait_for(next_inactive(), WAIT) == [KVPair(server.address, "weight=1&state=inactive")]
    finally:
        await watch.aclose()
        await d.aclose()
        await _stop(server, plugin)


async def test_graceful_stop_removes_the_server() -> None:
    server, plugin = await _server(ttl=3600)  # the goodbye, not the TTL, must remove it
    d = await MDNSDiscovery.open(ARITH, **FAST)
    try:
        await _until(d, [KVPair(server.address, "weight=1")])
        await _stop(server, plugin)
        await _until(d, [])
    finally:
        await d.aclose()


CHILD = textwrap.dedent(
    """
    import asyncio, sys
    from rpcx import Server
    from rpcx.registry.mdns import MDNSRegisterPlugin

    class Arith:
        def mul(self, args):
            return args

    async def main():
        server = Server()
        plugin = MDNSRegisterPlugin(interfaces=["127.0.0.1"], ttl=2)
        server.add_plugin(plugin)
        server.register(Arith(), "weight=7", name=sys.argv[1])
        await plugin.start(await server.start("tcp@127.0.0.1:0"))
        print(server.address, flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())
    """
)


async def test_killed_server_leaves_within_its_ttl() -> None:
    proc = subprocess.Popen([sys.executable, "-c", CHILD, ARITH], stdout=subprocess.PIPE)
    d = await MDNSDiscovery.open(ARITH, **FAST)
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), WAIT)
        address = line.decode().strip()
        await _until(d, [KVPair(address, "weight=7")])
        os.kill(proc.pid, signal.SIGKILL)  # no goodbye: only the 2 s TTL can remove it
        proc.wait()
        await _until(d, [])
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        await d.aclose()


async def test_a_foreign_record_is_ignored() -> None:
    # another responder of the same type with a TXT that is not rpcx's: skipped, rpcx's still found
    from zeroconf import ServiceInfo
    from zeroconf.asyncio import AsyncZeroconf

    from rpcx.registry.mdns import SERVICE_TYPE

    other = AsyncZeroconf(interfaces=LOOPBACK)
    info = ServiceInfo(SERVICE_TYPE, f"junk-{ARITH}.{SERVICE_TYPE}", port=1, properties=b"\x08not json",
                       server=f"junk-{ARITH}.local.", addresses=[bytes([127, 0, 0, 1])], host_ttl=60, other_ttl=60)
    await other.async_register_service(info, strict=False)
    server, plugin = await _server()
    d = await MDNSDiscovery.open(ARITH, **FAST)
    try:
        await _until(d, [KVPair(server.address, "weight=1")])
    finally:
        await d.aclose()
        await _stop(server, plugin)
        await other.async_unregister_service(info)
        await other.async_close()


async def test_metadata_too_long_for_one_txt_string_is_refused() -> None:
    server = Server()
    plugin = MDNSRegisterPlugin(interfaces=LOOPBACK)
    server.add_plugin(plugin)
    server.register(Arith(), "x=" + "a" * 300, name=ARITH)
    await server.start("tcp@127.0.0.1:0")
    try:
        with pytest.raises(RegistryError, match="255"):
            await plugin.start(server.address)
    finally:
        await server.shutdown(timeout=1)
        await plugin.aclose()


def test_go_txt_is_read() -> None:
    # the string Go's plugin publishes for Arith (weight=2&group=a) and Echo, as url.QueryEscape
    # of json.Marshal gives it (json escapes & as \\u0026; QueryEscape writes space as +)
    go = ("%5B%7B%22service%22%3A%22Arith%22%2C%22meta%22%3A%22weight%3D2%5Cu0026group%3Da%22%2C"
          "%22service_address%22%3A%22tcp%40127.0.0.1%3A8972%22%7D%2C%7B%22service%22%3A%22Echo%22%2C"
          "%22meta%22%3A%22note%3Da+b%22%2C%22service_address%22%3A%22tcp%40127.0.0.1%3A8972%22%7D%5D")
    assert decode_txt(go) == [
        ("Arith", "weight=2&group=a", "tcp@127.0.0.1:8972"),
        ("Echo", "note=a b", "tcp@127.0.0.1:8972"),
    ]
    with pytest.raises(ValueError):
        decode_txt("%7B%7D")  # an object, not a list


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        MDNSRegisterPlugin(interfaces=LOOPBACK, ttl=0)
    with pytest.raises(ValueError):
        MDNSDiscovery("Arith", interfaces=LOOPBACK, timeout=0)


async def test_unroutable_address_is_refused() -> None:
    plugin = MDNSRegisterPlugin(interfaces=LOOPBACK)
    for bad in ("tcp@0.0.0.0:8972", "tcp@[::1]:8972"):
        with pytest.raises(ValueError):
            await plugin.start(bad)
    await plugin.aclose()


async def test_metrics_are_published_and_updated() -> None:
    # Go's MDNSRegisterPlugin with Metrics: the rates in every service's TXT entry, set again
    # every update interval; counted without a per-call hook, so the fast path stays on
    from urllib.parse import parse_qs

    from rpcx.client import Peer2PeerDiscovery
    from rpcx.registry import CallMeter

    server = Server()
    meter = CallMeter(server)
    plugin = MDNSRegisterPlugin(interfaces=LOOPBACK, ttl=60, metrics=meter, update_interval=0.3)
    server.add_plugin(plugin)
    server.register(Arith(), "weight=2", name=ARITH)
    assert server.plugins.per_call is False
    await plugin.start(await server.start("tcp@127.0.0.1:0"))
    d = await MDNSDiscovery.open(ARITH, **FAST)
    try:
        await _until(d, [KVPair(server.address, "calls=0.00&connections=0.00&weight=2")])
        async with XClient(ARITH, FailMode.FAILFAST, SelectMode.RANDOM, Peer2PeerDiscovery(server.address)) as xc:
            for i in range(50):
                assert await xc.call("Mul", Args(i, 2), Reply, timeout=WAIT) == Reply(2 * i)
        assert meter.calls == 50 and meter.connections == 1

        async def rates_after(previous: str | None) -> dict[str, str]:
            while True:
                pairs = await d.refresh()
                meta = {k: v[-1] for k, v in parse_qs(pairs[0].value).items()} if pairs else {}
                if float(meta.get("calls", 0)) > 0 and meta["calls"] != previous:
                    return meta

        first = await asyncio.wait_for(rates_after(None), WAIT)
        assert float(first["connections"]) > 0 and first["weight"] == "2"
        later = await asyncio.wait_for(rates_after(first["calls"]), WAIT)  # re-published, lower mean
        assert float(later["calls"]) < float(first["calls"])
    finally:
        await d.aclose()
        await _stop(server, plugin)
