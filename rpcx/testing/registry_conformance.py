"""The registry conformance suite: what every registry backend must do against its real server
(layer: testing).

Each check is a coroutine ``check(case)`` taking a :class:`RegistryCase`: the URL of a running
registry shared by the checks (each check uses its own base path), and ``private()``, which starts
a registry server of the check's own (for the checks that stop it). Servers are real
:class:`rpcx.Server` instances on loopback; the "killed server" is a child process that registers
through the plugin and is then killed with SIGKILL. Waits are hang guards, never speed checks.

Run it from pytest (``tests/registry/test_conformance.py`` is the model)::

    @pytest.mark.parametrize("check", sorted(CHECKS))
    async def test_redis(check, redis_case):
        await CHECKS[check](redis_case)

The child process is this module run as a program:
``python -m rpcx.testing.registry_conformance URL BASE_PATH UPDATE_INTERVAL`` serves ``Arith`` on
``tcp@127.0.0.1:0``, registers it, prints ``ready <address>`` and runs until killed.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import tempfile
import uuid
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Awaitable, Callable

from ..client.discovery import KVPair
from ..registry import RegistryDiscovery, RegistryPlugin, RegistryUnavailableError, registry_discovery, registry_plugin
from ..server import Server
from .harness import expect, within

__all__ = ["CHECKS", "RegistryCase", "RegistryServer", "Mul", "free_port"]


class Mul:
    """The service the checks register: ``Mul(a, b) -> a * b`` on a dict ``{"A": a, "B": b}``."""

    def Mul(self, args: dict[str, int]) -> dict[str, int]:  # noqa: N802 - Go's method name
        return {"C": args["A"] * args["B"]}


class RegistryServer:
    """A registry server process the test owns: ``url``, and ``stop()`` / ``start()`` by PID."""

    url: str

    async def start(self) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    async def stop(self) -> None:  # pragma: no cover - interface
        raise NotImplementedError


@dataclass
class RegistryCase:
    """One backend under test."""

    #: a running registry the checks share (each uses a fresh base path)
    url: str
    #: starts a registry server for one check only; the check may stop and restart it
    private: Callable[[], AbstractAsyncContextManager[RegistryServer]]
    #: the update interval the checks' plugins use; the TTL is twice it (Go's rule)
    update_interval: float = 0.5
    #: backend options (e.g. ZooKeeper's session timeout)
    options: dict[str, Any] = field(default_factory=dict)

    def base_path(self) -> str:
        return f"/rpcx_conf_{uuid.uuid4().hex[:8]}"

    def plugin(self, base_path: str, url: str | None = None, ttl: float | None = None) -> RegistryPlugin:
        return registry_plugin(
            url or self.url, base_path=base_path, update_interval=self.update_interval, ttl=ttl, **self.options
        )

    async def discovery(self, base_path: str, url: str | None = None, **kwargs: Any) -> RegistryDiscovery:
        return await registry_discovery(url or self.url, "Mul", base_path=base_path, retry_interval=0.2, **kwargs)


def free_port() -> int:
    """A loopback TCP port free right now (for registry servers, which need a port number up front)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def registered(
    case: RegistryCase, base_path: str, metadata: str = "", url: str | None = None, ttl: float | None = None
) -> AsyncIterator[tuple[Server, RegistryPlugin, str]]:
    """A server serving ``Mul`` and registered through the plugin; shut down gracefully on exit."""
    server = Server()
    plugin = case.plugin(base_path, url, ttl)
    server.add_plugin(plugin)
    expect(not server.plugins.per_call, "a registry plugin must leave the server's fast path on")
    server.register(Mul(), metadata)
    address = await server.start("tcp@127.0.0.1:0")
    try:
        await within(plugin.start(address), "the plugin to publish")
        yield server, plugin, address
    finally:
        await server.shutdown(timeout=1)
        await within(plugin.aclose(), "the plugin to close")


async def _next(watch: AsyncIterator[list[KVPair]], want: Callable[[list[KVPair]], bool], what: str) -> list[KVPair]:
    async def loop() -> list[KVPair]:
        async for pairs in watch:
            if want(pairs):
                return pairs
        raise AssertionError(f"the watch ended before {what}")

    result: list[KVPair] = await within(loop(), what)
    return result


async def check_register_discover(case: RegistryCase) -> None:
    """A registered server is listed with its key and metadata; a second service is not mixed in."""
    base = case.base_path()
    async with registered(case, base, "weight=2&group=a") as (_, _, address):
        d = await case.discovery(base)
        try:
            expect(d.get_services() == [KVPair(address, "weight=2&group=a")], f"listed {d.get_services()}")
            other = d.clone("Other")
            await other.refresh()
            expect(other.get_services() == [], f"another service lists {other.get_services()}")
            await other.aclose()
        finally:
            await d.aclose()


async def check_watch_add_change_remove(case: RegistryCase) -> None:
    """The watch yields the whole list when a server appears, changes its metadata, and leaves."""
    base = case.base_path()
    d = await case.discovery(base)
    watch = d.watch()
    try:
        expect(d.get_services() == [], f"a fresh base path lists {d.get_services()}")
        async with registered(case, base, "weight=1") as (server, plugin, address):
            await _next(watch, lambda p: p == [KVPair(address, "weight=1")], "the new server")
            server.register(Mul(), "weight=1&state=inactive")  # re-registering rewrites the metadata
            await _next(watch, lambda p: p == [KVPair(address, "weight=1&state=inactive")], "the metadata change")
            async with registered(case, base) as (_, _, address2):
                await _next(watch, lambda p: {x.key for x in p} == {address, address2}, "the second server")
        await _next(watch, lambda p: p == [], "both servers gone after shutdown")
        expect(d.get_services() == [], f"get_services() still lists {d.get_services()}")
    finally:
        await watch.aclose()  # type: ignore[attr-defined]
        await d.aclose()


async def check_graceful_shutdown_removes(case: RegistryCase) -> None:
    """After ``server.shutdown()`` and ``plugin.aclose()`` the entry is gone at once (no TTL wait)."""
    base = case.base_path()
    async with registered(case, base):
        pass
    d = await case.discovery(base)
    try:
        expect(d.get_services() == [], f"still listed after a graceful shutdown: {d.get_services()}")
    finally:
        await d.aclose()


async def check_killed_server_expires(case: RegistryCase) -> None:
    """A server process killed with SIGKILL leaves the list once its TTL has passed."""
    base = case.base_path()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", __name__, case.url, base, str(case.update_interval), repr(case.options),
        stdout=asyncio.subprocess.PIPE,
    )
    d = await case.discovery(base)
    watch = d.watch()
    try:
        assert proc.stdout is not None
        line = (await within(proc.stdout.readline(), "the child server to start")).decode().strip()
        expect(line.startswith("ready "), f"child said {line!r}")
        address = line.split()[1]
        await _next(watch, lambda p: [x.key for x in p] == [address], "the child's entry")
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
        await _next(watch, lambda p: p == [], "the killed server's entry to expire")
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await watch.aclose()  # type: ignore[attr-defined]
        await d.aclose()


async def check_cache_through_outage(case: RegistryCase) -> None:
    """With the registry stopped, a running discovery keeps its list and a new one starts from the
    disk cache; when the registry returns, the watch picks up changes again."""
    base = case.base_path()
    with tempfile.TemporaryDirectory() as tmp:
        cache = os.path.join(tmp, "discovery.json")
        async with case.private() as reg:
            async with registered(case, base, "weight=3", url=reg.url) as (server, _, address):
                d = await case.discovery(base, reg.url, cache=cache)
                watch = d.watch()
                try:
                    want = [KVPair(address, "weight=3")]
                    expect(d.get_services() == want, f"listed {d.get_services()}")
                    await reg.stop()
                    # not a speed check: time for the watch and the plugin to meet the outage
                    await asyncio.sleep(2 * case.update_interval)
                    expect(d.get_services() == want, f"the outage changed the list: {d.get_services()}")
                    d2 = await case.discovery(base, reg.url, cache=cache)
                    expect(d2.get_services() == want, f"the cache served {d2.get_services()}")
                    watch2 = d2.watch()
                    try:
                        await reg.start()
                        # a change after the registry returned reaches the same watch, and the
                        # watch of the discovery that started from the cache (a registry that
                        # lost its data meanwhile gets the entry back from the plugin)
                        server.register(Mul(), "weight=4")
                        changed = [KVPair(address, "weight=4")]
                        await _next(watch, lambda p: p == changed, "a change after the registry returned")
                        await _next(watch2, lambda p: p == changed, "the change, by the discovery started from cache")
                    finally:
                        await watch2.aclose()  # type: ignore[attr-defined]
                        await d2.aclose()
                except BaseException:
                    await watch.aclose()  # type: ignore[attr-defined]
                    await d.aclose()
                    raise
            # the server left gracefully with the registry back: the watch sees it go
            try:
                await _next(watch, lambda p: p == [], "the entry removed after the outage")
            finally:
                await watch.aclose()  # type: ignore[attr-defined]
                await d.aclose()


async def check_unreachable_without_cache(case: RegistryCase) -> None:
    """Starting a discovery against a registry nobody serves, with no cache, is a clear error; so is
    starting a plugin."""
    scheme = case.url.split("://", 1)[0]
    url = f"{scheme}://127.0.0.1:{free_port()}"
    with tempfile.TemporaryDirectory() as tmp:
        try:
            await within(
                registry_discovery(url, "Mul", cache=os.path.join(tmp, "none.json"), connect_timeout=2, **case.options),
                "the start-up error",
            )
        except RegistryUnavailableError as exc:
            expect(url in str(exc) and "cache" in str(exc), f"the error does not say what failed: {exc}")
        else:
            raise AssertionError("a discovery started with neither registry nor cache")
        plugin = registry_plugin(url, connect_timeout=2, **case.options)
        try:
            await within(plugin.start("tcp@127.0.0.1:8972"), "the plugin's start-up error")
        except RegistryUnavailableError as exc:
            expect(url.split("://")[1] in str(exc), f"the plugin's error does not name the registry: {exc}")
        else:
            raise AssertionError("a plugin started without its registry")
        finally:
            await plugin.aclose()


CHECKS: dict[str, Callable[[RegistryCase], Awaitable[None]]] = {
    "register_discover": check_register_discover,
    "watch_add_change_remove": check_watch_add_change_remove,
    "graceful_shutdown_removes": check_graceful_shutdown_removes,
    "killed_server_expires": check_killed_server_expires,
    "cache_through_outage": check_cache_through_outage,
    "unreachable_without_cache": check_unreachable_without_cache,
}


async def _child(url: str, base_path: str, interval: float, options: dict[str, Any]) -> None:
    server = Server()
    plugin = registry_plugin(url, base_path=base_path, update_interval=interval, **options)
    server.add_plugin(plugin)
    server.register(Mul())
    address = await server.start("tcp@127.0.0.1:0")
    await plugin.start(address)
    print("ready", address, flush=True)
    await asyncio.Event().wait()  # until SIGKILL


if __name__ == "__main__":  # pragma: no cover - run as the killed child of check_killed_server_expires
    import ast

    asyncio.run(_child(sys.argv[1], sys.argv[2], float(sys.argv[3]), ast.literal_eval(sys.argv[4]) if len(sys.argv) > 4 else {}))
