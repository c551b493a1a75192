"""Go interop through each real registry (Redis, etcd, ZooKeeper): a Go rpcx v1.9.4 server
registered by Go's own plugin (rpcxio/rpcx-redis, rpcx-etcd, rpcx-zookeeper) is found and called by
a Python XClient and leaves its list after a graceful stop, and a Python server registered by ours
is found and called by a Go XClient through Go's discovery, and leaves Go's list after a graceful
stop; and a Go plugin with Metrics publishes its rates in the encoding ours uses. The Go side is
tests/interop/goregistry, built by tests/interop/build.sh."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest
from arith_service import Args, Arith, Reply

from rpcx import Server
from rpcx.client import FailMode, Peer2PeerDiscovery, SelectMode, XClient
from rpcx.client.discovery import KVPair
from rpcx.registry import registry_discovery, registry_plugin
from rpcx.testing.harness import WAIT
from rpcx.testing.registry_conformance import RegistryCase

BIN = Path(os.environ.get("RPCX_INTEROP_BIN", Path.home() / ".cache" / "rpcx-python" / "interop-bin"))
GOREGISTRY = BIN / "goregistry"

@pytest.fixture
def goregistry() -> str:
    if not GOREGISTRY.exists():
        pytest.fail(f"{GOREGISTRY} is missing: run tests/interop/build.sh (make test does)")
    return str(GOREGISTRY)


async def run_go(goregistry: str, *args: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        goregistry, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), WAIT)
    assert proc.returncode == 0, f"goregistry {' '.join(args)} failed: {err.decode()}"
    return out.decode()


async def test_python_xclient_finds_a_go_server(registry_case: RegistryCase, goregistry: str) -> None:
    base = registry_case.base_path()
    go = await asyncio.create_subprocess_exec(
        goregistry, "server", "--registry", registry_case.url, "--base-path", base, "--interval", "1s",
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert go.stdout is not None
        line = (await asyncio.wait_for(go.stdout.readline(), WAIT)).decode().split()
        assert line[0] == "serving", line
        address = line[1]
        d = await registry_discovery(registry_case.url, "Arith", base_path=base, retry_interval=0.2)
        watch = d.watch()
        if d.get_services() == []:  # rpcx-etcd registers in a goroutine: it may land just after
            async def until_listed() -> None:
                async for pairs in watch:
                    if pairs:
                        return

            await asyncio.wait_for(until_listed(), WAIT)
        assert d.get_services() == [KVPair(address, "")]  # what Go's plugin wrote, as we read it
        async with XClient("Arith", FailMode.FAILTRY, SelectMode.RANDOM, d) as xc:
            assert await xc.call("Mul", Args(6, 7), Reply, timeout=WAIT) == Reply(42)
            go.send_signal(signal.SIGTERM)  # Go's Shutdown unregisters through the plugin
            assert await asyncio.wait_for(go.wait(), WAIT) == 0

            async def until_gone() -> None:
                async for pairs in watch:
                    if pairs == []:
                        return

            await asyncio.wait_for(until_gone(), WAIT)
        await watch.aclose()  # type: ignore[attr-defined]
        await d.aclose()
    finally:
        if go.returncode is None:
            go.kill()
            await go.wait()


async def test_go_xclient_finds_a_python_server(registry_case: RegistryCase, goregistry: str) -> None:
    base = registry_case.base_path()
    server = Server()
    plugin = registry_plugin(registry_case.url, base_path=base, update_interval=1)
    server.add_plugin(plugin)
    server.register(Arith(), "weight=3", name="Arith")
    address = await server.start("tcp@127.0.0.1:0")
    await plugin.start(address)
    common = ("--registry", registry_case.url, "--base-path", base)
    try:
        assert await run_go(goregistry, "list", *common) == f"{address} weight=3\nend\n"
        assert await run_go(goregistry, "call", *common, "--a", "6", "--b", "7") == "C=42\n"
    finally:
        await server.shutdown(timeout=1)
        await plugin.aclose()
    assert await run_go(goregistry, "list", *common) == "end\n"  # gone from Go's discovery


async def test_go_metrics_are_read_in_our_encoding(registry_case: RegistryCase, goregistry: str) -> None:
    # Go's plugin with Metrics: after calls, its refresh writes calls/connections rates into the
    # metadata; the value is exactly what our merge_metrics makes of the same rates (same keys,
    # %.2f, sorted as url.Values.Encode), so both sides publish one format
    from urllib.parse import parse_qs

    from rpcx.registry.metrics import merge_metrics

    base = registry_case.base_path()
    go = await asyncio.create_subprocess_exec(
        goregistry, "server", "--registry", registry_case.url, "--base-path", base, "--interval", "1s",
        "--metadata", "weight=2&group=a", "--metrics", stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert go.stdout is not None
        address = (await asyncio.wait_for(go.stdout.readline(), WAIT)).decode().split()[1]
        d = await registry_discovery(registry_case.url, "Arith", base_path=base, retry_interval=0.2)
        watch = d.watch()
        async with XClient("Arith", FailMode.FAILTRY, SelectMode.RANDOM, Peer2PeerDiscovery(address)) as xc:
            for i in range(20):
                assert await xc.call("Mul", Args(i, 2), Reply, timeout=WAIT) == Reply(2 * i)

        def has_calls(pairs: list[KVPair]) -> bool:
            return bool(pairs) and float(parse_qs(pairs[0].value).get("calls", ["0"])[0]) > 0

        async def with_calls() -> str:
            pairs = d.get_services()
            while not has_calls(pairs):
                pairs = await watch.__anext__()
            return pairs[0].value

        value = await asyncio.wait_for(with_calls(), WAIT)
        meta = {k: v[0] for k, v in parse_qs(value).items()}
        assert float(meta["connections"]) > 0
        assert value == merge_metrics("weight=2&group=a", {"calls": meta["calls"], "connections": meta["connections"]})
        await watch.aclose()  # type: ignore[attr-defined]
        await d.aclose()
    finally:
        if go.returncode is None:
            go.kill()
            await go.wait()
