"""Losing one of three servers mid-load loses no call (FAILOVER, ROUND_ROBIN, 32 concurrent callers).

The servers are ``examples/arith/server.py`` subprocesses on loopback port 0, so one can be stopped
by PID, either with SIGKILL (its connections reset, its port refuses) or with SIGTERM (graceful
``shutdown``: stop reading, finish calls in flight, close). Calls that were in flight on the stopped
server fail with a connection error and are retried elsewhere; a server that refuses a dial is held
out of selection, so no call spends all its attempts on it. The mixed variants put the Go rpcx
server (tests/interop/goserver, real rpcx v1.9.4) between two Python ones and kill one or the other.
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
from conftest import start_server_process

from rpcx import FailMode, KVPair, MultipleServersDiscovery, Option, SelectMode, XClient
from rpcx.client import Backoff, Outcome, RoundRobinSelector

WAIT = 10.0
ARITH_SERVER = Path(__file__).resolve().parents[2] / "examples" / "arith" / "server.py"

TOTAL = 30_000
CALLERS = 32
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
async def mixed_servers() -> AsyncIterator[list[tuple[asyncio.subprocess.Process, str]]]:
    """Python, Go, Python."""
    procs: list[tuple[asyncio.subprocess.Process, str]] = []
    try:
        for kind in ("python", "go", "python"):
            procs.append(await start_server_process(kind))
        yield procs
    finally:
        for proc, _ in procs:
            if proc.returncode is None:
                proc.kill()  # by PID: this process is ours
            await asyncio.wait_for(proc.wait(), WAIT)


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


async def run_load(xc: XClient, stop: "asyncio.Future[None]", total: int = TOTAL) -> tuple[int, Counter[str]]:
    """Make ``total`` calls from CALLERS tasks; resolve ``stop`` after a third of them completed.

    Returns the number of completed calls and the errors by type (a lost call is an error).
    """
    issued = 0
    done = 0
    lost: Counter[str] = Counter()
    stopped = asyncio.Event()

    async def caller() -> None:
        nonlocal issued, done
        while issued < total:
            i = issued
            issued += 1
            try:
                reply = await xc.call("Mul", Args(i, 3), Reply, timeout=WAIT)
                assert reply == Reply(3 * i)
            except Exception as exc:  # noqa: BLE001 - every failure is a lost call, counted by type
                lost[f"{type(exc).__name__}: {exc}"] += 1
            done += 1
            if done == total // 3:
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


@pytest.mark.parametrize("victim", ["go", "python"])
async def test_sigkill_with_a_go_server_in_the_mix_loses_no_call(mixed_servers, victim: str) -> None:
    d = MultipleServersDiscovery([KVPair(addr) for _, addr in mixed_servers])
    proc, victim_addr = mixed_servers[1 if victim == "go" else 2]
    survivors = {addr for _, addr in mixed_servers} - {victim_addr}
    seen = CountingKeys()
    async with XClient("Arith", FailMode.FAILOVER, SelectMode.ROUND_ROBIN, d) as xc:
        xc.set_selector(seen)
        stop: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        stop.add_done_callback(lambda _: proc.kill())  # by PID; discovery still lists it
        done, lost = await run_load(xc, stop, total=TOTAL // 3)
    assert await asyncio.wait_for(proc.wait(), WAIT) == -signal.SIGKILL
    assert done == TOTAL // 3 and sum(lost.values()) == 0, lost
    # every server served before the kill, the survivors (the Go one too when a Python one died) after it
    assert {k for k, o in seen.outcomes if o is Outcome.SUCCESS} == survivors | {victim_addr}
    assert seen.outcomes[victim_addr, Outcome.CONNECTION_ERROR] + seen.outcomes[victim_addr, Outcome.DIAL_ERROR] > 0
    assert all(seen.after_kill[k] > 0 for k in survivors), seen.after_kill


class CountingKeys(RoundRobinSelector):
    """Round-robin that counts (server, outcome) and the successes after the first failure."""

    def __init__(self) -> None:
        super().__init__()
        self.outcomes: Counter[tuple[str, Outcome]] = Counter()
        self.after_kill: Counter[str] = Counter()
        self.failed = False

    def report(self, key: str, outcome: Outcome, latency: float) -> None:
        self.outcomes[key, outcome] += 1
        if outcome in (Outcome.CONNECTION_ERROR, Outcome.DIAL_ERROR):
            self.failed = True
        elif self.failed and outcome is Outcome.SUCCESS:
            self.after_kill[key] += 1


class CountingRoundRobin(RoundRobinSelector):
    def __init__(self) -> None:
        super().__init__()
        self.outcomes: Counter[Outcome] = Counter()

    def report(self, key: str, outcome: Outcome, latency: float) -> None:
        self.outcomes[outcome] += 1


async def test_a_killed_server_is_dialled_only_until_it_refuses_once(arith_servers) -> None:
    """With a back-off longer than the run, the killed server costs at most one refused attempt
    per caller (those that chose it before the first refusal came back); without the hold-out, round-robin
    sends every third retry to it (thousands of refused attempts in this run)."""
    d = MultipleServersDiscovery([KVPair(addr) for _, addr in arith_servers])
    victim, _ = arith_servers[1]
    long = Backoff(initial=RUN_LIMIT * 2, maximum=RUN_LIMIT * 2)
    async with XClient("Arith", FailMode.FAILOVER, SelectMode.ROUND_ROBIN, d, Option(dial_backoff=long)) as xc:
        selector = CountingRoundRobin()
        xc.set_selector(selector)
        stop: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        stop.add_done_callback(lambda _: victim.kill())  # by PID
        done, lost = await run_load(xc, stop, total=TOTAL // 3)
        assert xc.held_out == {arith_servers[1][1]}
    assert done == TOTAL // 3 and sum(lost.values()) == 0, lost
    assert 1 <= selector.outcomes[Outcome.DIAL_ERROR] <= CALLERS, selector.outcomes
    assert selector.outcomes[Outcome.SUCCESS] == TOTAL // 3
