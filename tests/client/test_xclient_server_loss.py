"""Losing one of three servers mid-load loses no call (FAILOVER, ROUND_ROBIN, 32 concurrent callers).

The servers are ``examples/arith/server.py`` subprocesses on loopback port 0, so one can be stopped
by PID, either with SIGKILL (its connections reset, its port refuses) or with SIGTERM (graceful
``shutdown``: stop reading, finish calls in flight, close). Calls that were in flight on the stopped
server fail with a connection error and are retried elsewhere; a server that refuses a dial is held
out of selection, so no call spends all its attempts on it.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections import Counter
from pathlib import Path
from typing import AsyncIterator

import pytest
from arith_service import Args, Reply

from rpcx import FailMode, KVPair, MultipleServersDiscovery, SelectMode, XClient

WAIT = 10.0
ARITH_SERVER = Path(__file__).resolve().parents[2] / "examples" / "arith" / "server.py"

TOTAL = 30_000
CALLERS = 32
#: the server is stopped once this many calls have completed
STOP_AFTER = TOTAL // 3
#: the whole run is bounded in time as well as in count (a hang check, not a speed check)
RUN_LIMIT = 120.0


async def start_arith() -> tuple[asyncio.subprocess.Process, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(ARITH_SERVER), "tcp@127.0.0.1:0",
        stdout=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), WAIT)).decode()
    assert line.startswith("serving "), line
    return proc, line.split()[1]


@pytest.fixture
async def arith_servers() -> AsyncIterator[list[tuple[asyncio.subprocess.Process, str]]]:
    procs: list[tuple[asyncio.subprocess.Process, str]] = []
    try:
        for _ in range(3):
            procs.append(await start_arith())
        yield procs
    finally:
        for proc, _ in procs:
            if proc.returncode is None:
                proc.kill()  # by PID: this process is ours
            await asyncio.wait_for(proc.wait(), WAIT)


async def run_load(xc: XClient, stop: "asyncio.Future[None]") -> tuple[int, Counter[str]]:
    """Make TOTAL calls from CALLERS tasks; resolve ``stop``'s trigger after STOP_AFTER completions.

    Returns the number of completed calls and the errors by type (a lost call is an error).
    """
    issued = 0
    done = 0
    lost: Counter[str] = Counter()
    stopped = asyncio.Event()

    async def caller() -> None:
        nonlocal issued, done
        while issued < TOTAL:
            i = issued
            issued += 1
            try:
                reply = await xc.call("Mul", Args(i, 3), Reply, timeout=WAIT)
                assert reply == Reply(3 * i)
            except Exception as exc:  # noqa: BLE001 - every failure is a lost call, counted by type
                lost[f"{type(exc).__name__}: {exc}"] += 1
            done += 1
            if done == STOP_AFTER:
                stop.set_result(None)
                stopped.set()

    async with asyncio.timeout(RUN_LIMIT):
        await asyncio.gather(*(caller() for _ in range(CALLERS)))
    assert stopped.is_set()
    return done, lost


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["sigkill", "sigterm"])
async def test_stopping_a_server_mid_load_loses_no_call(arith_servers, sig: signal.Signals) -> None:
    d = MultipleServersDiscovery([KVPair(addr) for _, addr in arith_servers])
    victim, _ = arith_servers[1]
    async with XClient("Arith", FailMode.FAILOVER, SelectMode.ROUND_ROBIN, d) as xc:
        stop: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def stopper() -> None:
            await stop
            victim.send_signal(sig)  # by PID; discovery still lists it, as when a registry lags

        stopper_task = asyncio.create_task(stopper())
        done, lost = await run_load(xc, stop)
        await stopper_task
    assert await asyncio.wait_for(victim.wait(), WAIT) == (-sig if sig == signal.SIGKILL else 0)
    assert done == TOTAL
    assert sum(lost.values()) == 0, lost
