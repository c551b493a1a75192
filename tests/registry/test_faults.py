"""Faults against each real registry: a server killed with SIGKILL while an XClient in Failover is
calling (no call lost, the entry leaves within its TTL), 50 servers registering at once, an entry
lost behind the plugin's back (Redis key deleted, etcd lease revoked, ZooKeeper znode deleted)
restored by the plugin's refresh, the registry stopped and restarted under load (no call lost; a server registering afterwards is
found), and a ZooKeeper session expiry (the entry comes back in a new session)."""

from __future__ import annotations

import asyncio
import signal
import sys

import pytest

from rpcx import Server
from rpcx.client import FailMode, SelectMode, XClient
from rpcx.client.discovery import KVPair
from rpcx.registry import RegistryPlugin, backend_for, join_key
from rpcx.registry.etcd import EtcdBackend
from rpcx.testing.harness import WAIT
from rpcx.testing.registry_conformance import Mul, RegistryCase, registered


async def until_listed(watch, want, now=None) -> list[KVPair]:  # type: ignore[no-untyped-def]
    """The first list ``want`` accepts: ``now`` (the list when the watch was made) or a later one."""
    if now is not None and want(now):
        return now

    async def loop() -> list[KVPair]:
        async for pairs in watch:
            if want(pairs):
                return pairs
        raise AssertionError("the watch ended")

    return await asyncio.wait_for(loop(), WAIT)


async def test_failover_loses_no_call_when_a_server_is_killed(registry_case: RegistryCase) -> None:
    base = registry_case.base_path()
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "rpcx.testing.registry_conformance", registry_case.url, base,
        str(registry_case.update_interval), repr(registry_case.options), stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert child.stdout is not None
        killed = (await asyncio.wait_for(child.stdout.readline(), WAIT)).decode().split()[1]
        async with registered(registry_case, base) as (_, _, alive):
            d = await registry_case.discovery(base)
            watch = d.watch()
            await until_listed(watch, lambda p: {x.key for x in p} == {killed, alive}, d.get_services())
            async with XClient("Mul", FailMode.FAILOVER, SelectMode.ROUND_ROBIN, d) as xc:
                for i in range(200):  # bounded: 200 calls, the kill after the 50th
                    if i == 50:
                        child.send_signal(signal.SIGKILL)
                        await child.wait()
                    assert await xc.call("Mul", {"A": i, "B": 2}, timeout=WAIT) == {"C": 2 * i}
                await until_listed(watch, lambda p: [x.key for x in p] == [alive])
            await watch.aclose()
            await d.aclose()
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()


async def test_lost_entry_is_published_again(registry_case: RegistryCase) -> None:
    base = registry_case.base_path()
    async with registered(registry_case, base, "weight=5") as (_, plugin, address):
        d = await registry_case.discovery(base)
        watch = d.watch()
        want = [KVPair(address, "weight=5")]
        assert d.get_services() == want
        other = backend_for(registry_case.url)
        await other.connect()
        try:
            if isinstance(plugin.backend, EtcdBackend):
                # the lease itself is lost (revoked: as if it had expired), with every key on it
                assert plugin.backend._lease is not None
                await other._post("/v3/lease/revoke", {"ID": plugin.backend._lease})  # type: ignore[attr-defined]
            else:
                await other.delete(join_key(base, "Mul", address))
            await until_listed(watch, lambda p: p == [])
            await until_listed(watch, lambda p: p == want)  # the next refresh puts it back
        finally:
            await other.close()
            await watch.aclose()  # type: ignore[attr-defined]
            await d.aclose()


class CountingMul(Mul):
    def __init__(self) -> None:
        self.calls = 0

    def Mul(self, args: dict[str, int]) -> dict[str, int]:  # noqa: N802 - Go's method name
        self.calls += 1
        return super().Mul(args)


async def test_registry_restarted_under_load(registry_case: RegistryCase) -> None:
    """Calls keep going to the known server while the registry is down; once it is back, a server
    registering then is found and called by the same XClient; no call failed."""
    base = registry_case.base_path()
    # liveness is not under test: a TTL longer than the outage, so that the entries outlive it
    # (a Redis entry whose TTL ran out during the outage is gone until the plugin's next refresh)
    ttl = WAIT
    async with registry_case.private() as reg:
        async with registered(registry_case, base, url=reg.url, ttl=ttl):
            d = await registry_case.discovery(base, reg.url)
            failures: list[BaseException] = []
            done = 0
            stop = asyncio.Event()
            async with XClient("Mul", FailMode.FAILOVER, SelectMode.ROUND_ROBIN, d) as xc:

                async def load() -> None:
                    nonlocal done
                    for i in range(20000):  # bounded; stopped by the test long before
                        if stop.is_set():
                            return
                        try:
                            assert await xc.call("Mul", {"A": i, "B": 3}, timeout=WAIT) == {"C": 3 * i}
                            done += 1
                        except Exception as exc:  # noqa: BLE001 - counted, asserted below
                            failures.append(exc)
                        await asyncio.sleep(0.002)

                task = asyncio.ensure_future(load())
                await reg.stop()
                before = done
                await asyncio.sleep(4 * registry_case.update_interval)  # calls go on meanwhile
                assert done > before, "no call completed while the registry was down"
                await reg.start()
                second = Server()
                plugin = registry_case.plugin(base, reg.url, ttl)
                second.add_plugin(plugin)
                counting = CountingMul()
                second.register(counting, name="Mul")
                await plugin.start(await second.start("tcp@127.0.0.1:0"))
                try:
                    async def until_called() -> None:
                        while counting.calls == 0:
                            await asyncio.sleep(0.01)

                    await asyncio.wait_for(until_called(), WAIT)  # the XClient found it
                finally:
                    stop.set()
                    await task
                    await second.shutdown(timeout=1)
                    await plugin.aclose()
            await d.aclose()
    assert failures == []


async def test_fifty_servers_register_at_once(registry_case: RegistryCase) -> None:
    """50 servers, each with its own plugin and registry connection, start together: the watch
    ends up listing all 50, with their metadata; after they all shut down, none."""
    base = registry_case.base_path()
    d = await registry_case.discovery(base)
    watch = d.watch()
    servers: list[tuple[Server, RegistryPlugin]] = []
    try:
        for i in range(50):
            server = Server()
            plugin = registry_case.plugin(base)
            server.add_plugin(plugin)
            server.register(Mul(), f"weight={i}")
            servers.append((server, plugin))
        addresses = await asyncio.gather(*(s.start("tcp@127.0.0.1:0") for s, _ in servers))
        await asyncio.wait_for(asyncio.gather(*(p.start(a) for (_, p), a in zip(servers, addresses))), WAIT)
        want = sorted((KVPair(a, f"weight={i}") for i, a in enumerate(addresses)), key=lambda p: p.key)
        await until_listed(watch, lambda p: p == want, d.get_services())
    finally:
        await asyncio.gather(*(s.shutdown(timeout=1) for s, _ in servers))
        await asyncio.gather(*(p.aclose() for _, p in servers))
    try:
        await until_listed(watch, lambda p: p == [], d.get_services())
    finally:
        await watch.aclose()  # type: ignore[attr-defined]
        await d.aclose()


@pytest.mark.parametrize("registry_server", ["zookeeper"], indirect=True)
async def test_zookeeper_session_expiry_registers_again(registry_case: RegistryCase) -> None:
    """A real session expiry (another client takes over the session and closes it, so ZooKeeper
    ends it and deletes its ephemeral znodes): the watch sees the entry go, kazoo opens a new
    session, and the plugin's refresh creates the entry again."""
    from kazoo.client import KazooClient  # etcd's lease loss: test_lost_entry_is_published_again

    base = registry_case.base_path()
    async with registered(registry_case, base, "weight=7") as (_, plugin, address):
        d = await registry_case.discovery(base)
        watch = d.watch()
        want = [KVPair(address, "weight=7")]
        try:
            assert d.get_services() == want
            zk = plugin.backend._zk  # type: ignore[attr-defined]
            session_id = zk.client_id[0]
            thief = KazooClient(hosts=",".join(plugin.backend.endpoints), client_id=zk.client_id)
            await asyncio.to_thread(thief.start, WAIT)
            await asyncio.to_thread(thief.stop)  # closing the session it shares ends it for both
            await asyncio.to_thread(thief.close)
            await until_listed(watch, lambda p: p == [])
            await until_listed(watch, lambda p: p == want)  # the next refresh re-creates it
            assert zk.client_id[0] != session_id  # ...in a new session
        finally:
            await watch.aclose()  # type: ignore[attr-defined]
            await d.aclose()
