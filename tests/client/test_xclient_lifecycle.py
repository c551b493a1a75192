"""``XClient``'s lifecycle: discovery is watched from the first call to ``aclose()``, and no task is
left without an owner (closing connections, the watch, Failbackup losers)."""

from __future__ import annotations

import asyncio
import gc
import logging
from typing import Any, AsyncIterator

import pytest
from conftest import dead_address
from arith_service import Args, Reply

from rpcx import FailMode, KVPair, MultipleServersDiscovery, Option, RpcxError, SelectMode, XClient

WAIT = 10.0

pytestmark = pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")


def xclient_tasks() -> list[asyncio.Task[Any]]:
    """Tasks still running code of the client package."""
    def where(t: asyncio.Task[Any]) -> str:
        code = getattr(t.get_coro(), "cr_code", None)
        return code.co_filename if code is not None else ""

    return [t for t in asyncio.all_tasks() if not t.done() and "rpcx/client/" in where(t).replace("\\", "/")]


async def test_watch_starts_on_first_call_and_stops_on_aclose(server) -> None:
    d = MultipleServersDiscovery([KVPair(server)])
    xc = XClient("Arith", FailMode.FAILTRY, SelectMode.ROUND_ROBIN, d)
    assert d.watchers == 0  # not in __init__
    assert await xc.call("Mul", Args(2, 3), Reply, timeout=WAIT) == Reply(6)
    assert d.watchers == 1
    assert await xc.call("Mul", Args(2, 4), Reply, timeout=WAIT) == Reply(8)
    assert d.watchers == 1  # one watch per XClient, not per call
    await xc.aclose()
    assert d.watchers == 0
    await xc.aclose()  # idempotent
    assert d.watchers == 0


async def test_unused_xclient_never_watches(server) -> None:
    d = MultipleServersDiscovery([KVPair(server)])
    async with XClient("Arith", FailMode.FAILTRY, SelectMode.ROUND_ROBIN, d):
        pass
    assert d.watchers == 0


async def test_a_change_before_the_first_call_is_seen(server, server_factory) -> None:
    d = MultipleServersDiscovery([KVPair(dead_address())])
    async with XClient("Arith", FailMode.FAILFAST, SelectMode.ROUND_ROBIN, d) as xc:
        d.update([KVPair(server)])  # no watcher yet
        assert await xc.call("Mul", Args(2, 3), Reply, timeout=WAIT) == Reply(6)
        assert list(xc.servers) == [server]


async def test_concurrent_acloses_both_finish(server) -> None:
    d = MultipleServersDiscovery([KVPair(server)])
    xc = XClient("Arith", FailMode.FAILTRY, SelectMode.ROUND_ROBIN, d)
    await xc.call("Mul", Args(2, 3), Reply, timeout=WAIT)
    await asyncio.wait_for(asyncio.gather(xc.aclose(), xc.aclose()), WAIT)
    assert d.watchers == 0 and xc._tasks == set() and xc._clients == {}


class GeneratorDiscovery:
    """A discovery whose watch is an async generator, as a registry's usually is."""

    def __init__(self, pairs: list[KVPair]) -> None:
        self.pairs = pairs
        self.started = 0
        self.finished = 0
        self.queue: asyncio.Queue[list[KVPair]] = asyncio.Queue()

    def get_services(self) -> list[KVPair]:
        return list(self.pairs)

    async def _watch(self) -> AsyncIterator[list[KVPair]]:
        self.started += 1
        try:
            while True:
                yield await self.queue.get()
        finally:
            self.finished += 1

    def watch(self) -> AsyncIterator[list[KVPair]]:
        return self._watch()

    def clone(self, service_path: str) -> "GeneratorDiscovery":
        return self

    async def aclose(self) -> None:
        pass


async def test_an_async_generator_watch_is_closed(server, server_factory) -> None:
    _, other = await server_factory()
    d = GeneratorDiscovery([KVPair(server)])
    xc = XClient("Arith", FailMode.FAILTRY, SelectMode.ROUND_ROBIN, d)  # type: ignore[arg-type]
    await xc.call("Mul", Args(2, 3), Reply, timeout=WAIT)
    d.queue.put_nowait([KVPair(other)])
    for _ in range(500):
        if list(xc.servers) == [other]:
            break
        await asyncio.sleep(0.01)
    assert list(xc.servers) == [other]
    await xc.aclose()
    assert (d.started, d.finished) == (1, 1)


async def test_aclose_leaves_no_task_behind(server_factory, caplog: pytest.LogCaptureFixture) -> None:
    """Connection errors (closing tasks), a drained server (drain task), a Failbackup loser and
    the watch: after aclose() none is pending, and none is destroyed while pending."""
    gate = asyncio.Event()

    class Svc:
        async def slow(self, args: Args) -> Reply:
            await gate.wait()
            return Reply(1)

        def mul(self, args: Args) -> Reply:
            return Reply(args.A * args.B)

    addrs = []
    for _ in range(2):
        srv, addr = await server_factory(register=False)
        srv.register(Svc(), name="Arith")
        addrs.append(addr)
    dead = dead_address()
    caplog.set_level(logging.ERROR, logger="asyncio")
    d = MultipleServersDiscovery([KVPair(a) for a in addrs] + [KVPair(dead)])
    xc = XClient("Arith", FailMode.FAILBACKUP, SelectMode.ROUND_ROBIN, d, Option(backup_latency=0.01))
    slow = asyncio.create_task(xc.call("Slow", Args(), Reply, timeout=WAIT))  # first and backup both wait
    for _ in range(500):
        if all(xc._clients.get(a) is not None and xc._clients[a].pending for a in addrs):
            break
        await asyncio.sleep(0.01)
    d.update([KVPair(addrs[1])])  # addrs[0] leaves with a call in flight: its connection drains
    for _ in range(500):
        if xc._draining:
            break
        await asyncio.sleep(0.01)
    assert xc._draining
    assert xclient_tasks()  # the drain, the watch, the shared dial are running: the check below can fail
    await xc.aclose()
    assert xc._tasks == set() and not xc._draining and xc._dialing == {}
    assert xclient_tasks() == []
    assert d.watchers == 0
    gate.set()
    with pytest.raises(RpcxError):
        await asyncio.wait_for(slow, WAIT)  # its connections were closed under it
    del xc, slow
    gc.collect()
    await asyncio.sleep(0)
    assert not [r for r in caplog.records if "destroyed but it is pending" in r.getMessage()]


async def test_multiple_servers_watch_closes_cleanly() -> None:
    d = MultipleServersDiscovery([KVPair("tcp@127.0.0.1:1")])
    never_iterated = d.watch()
    assert d.watchers == 1
    await never_iterated.aclose()  # type: ignore[attr-defined]
    assert d.watchers == 0
    w = d.watch()
    d.update([KVPair("tcp@127.0.0.1:2")])
    assert [p.key for p in await w.__anext__()] == ["tcp@127.0.0.1:2"]
    reader = asyncio.create_task(w.__anext__())
    await asyncio.sleep(0)  # the reader now waits for the next update
    await w.aclose()  # type: ignore[attr-defined]
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(reader, WAIT)
    assert d.watchers == 0
    d.update([])  # no watcher left to queue for
