"""Failbackup against real server processes, one of them slow: the backup request finishes the
calls that would otherwise wait for the slow server.

Three ``python -m rpcx.testing.delay_server`` processes on loopback port 0: two answer at once, one
after SLOW seconds (far beyond the backup latency). The same concurrent calls run under Failfast
and under Failbackup; the assertions are on who answered and how many requests each server got,
never on durations (bench/failbackup_run.py measures the latencies; docs/performance.md has them).
"""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from typing import AsyncIterator

import pytest

from rpcx import FailMode, KVPair, MultipleServersDiscovery, Option, SelectMode, XClient
from rpcx.client import Call
from rpcx.testing.delay_server import Args, Reply

WAIT = 10.0
#: the slow server's delay: every call that goes only to it takes this long
SLOW = 1.5
#: far below SLOW, far above one loopback call on a loaded machine
BACKUP_LATENCY = 0.2
CALLS = 30


async def start(name: str, delay: float) -> tuple[asyncio.subprocess.Process, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "rpcx.testing.delay_server", "tcp@127.0.0.1:0", "--name", name, "--delay", str(delay),
        stdout=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), WAIT)).decode()
    assert line.startswith("serving "), line
    return proc, line.split()[1]


@pytest.fixture
async def servers() -> AsyncIterator[dict[str, str]]:
    """``{name: address}`` of the fast servers ``a`` and ``b`` and the ``slow`` one."""
    procs: list[asyncio.subprocess.Process] = []
    names: dict[str, str] = {}
    try:
        for name, delay in (("a", 0.0), ("slow", SLOW), ("b", 0.0)):
            proc, addr = await start(name, delay)
            procs.append(proc)
            names[name] = addr
        yield names
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.kill()  # by PID: this process is ours
            await asyncio.wait_for(proc.wait(), WAIT)


class Attempts:
    """Counts the requests sent to each server (one per attempt; the backup is an attempt)."""

    def __init__(self) -> None:
        self.by_key: Counter[str] = Counter()

    def pre_call(self, call: Call, key: str) -> None:
        self.by_key[key] += 1


async def run(servers: dict[str, str], mode: FailMode) -> tuple[Counter[str], Counter[str], dict[str, int]]:
    """CALLS concurrent calls; returns who answered them, the requests per server name, and the
    slow server's own count of calls received."""
    name_of = {addr: name for name, addr in servers.items()}
    d = MultipleServersDiscovery([KVPair(addr) for addr in servers.values()])
    attempts = Attempts()
    async with XClient("Arith", mode, SelectMode.RANDOM, d, Option(backup_latency=BACKUP_LATENCY)) as xc:
        xc.plugins.add(attempts)

        async def one(i: int) -> str:
            md: dict[str, str] = {}
            assert await xc.call("Mul", Args(i, 2), Reply, response_metadata=md, timeout=WAIT) == Reply(2 * i)
            return md["server"]

        answered = Counter(await asyncio.gather(*(one(i) for i in range(CALLS))))
    async with XClient("Arith", FailMode.FAILFAST, SelectMode.RANDOM,
                       MultipleServersDiscovery([KVPair(servers["slow"])])) as xc:
        slow_stats = await xc.call("Stats", None, timeout=WAIT)
    return answered, Counter({name_of[k]: n for k, n in attempts.by_key.items()}), slow_stats


async def test_failbackup_finishes_the_calls_the_slow_server_holds(servers: dict[str, str]) -> None:
    # Failfast: every call that selected the slow server waits for it (random selection sends it
    # about a third; 30 calls all missing it has a chance of (2/3)**30, about 5e-6)
    answered, sent, before = await run(servers, FailMode.FAILFAST)
    assert sum(answered.values()) == CALLS
    assert answered["slow"] == sent["slow"] > 0
    assert sum(sent.values()) == CALLS  # one request per call
    assert before == {"received": sent["slow"], "answered": sent["slow"]}

    # Failbackup against the same servers: a call whose first request went to the slow server got a
    # backup request to a fast one after BACKUP_LATENCY, and the fast answer finished it
    answered, sent, after = await run(servers, FailMode.FAILBACKUP)
    assert sum(answered.values()) == CALLS
    assert answered["slow"] == 0 and answered["a"] + answered["b"] == CALLS
    assert sent["slow"] > 0  # the slow server was chosen first for some calls ...
    assert sum(sent.values()) >= CALLS + sent["slow"]  # ... and each of those had a backup
    # the slow server did get those requests (its counts are since it started: the Failfast run's too)
    assert after["received"] - before["received"] == sent["slow"]
