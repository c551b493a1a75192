"""The per-server circuit breaker against real server processes under load: it opens when a server
is SIGKILLed, sheds the load meant for it (no dial, no lost call under Failover), and closes again
once the server is back and the cool-down has passed.

Three ``examples/arith/server.py`` processes on loopback; the breaker's clock is injected, so the
cool-down passes when the test says so (no sleeping, no timing asserts). The dial hold-out is off
(``dial_backoff=None``) so that shedding is the breaker's alone. In the ``go`` variant the middle
server, the one killed and restarted, is the Go rpcx server (tests/interop/goserver).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import AsyncIterator

import pytest
from arith_service import Args, Reply
from conftest import start_server_process

from rpcx import FailMode, KVPair, MultipleServersDiscovery, Option, SelectMode, XClient
from rpcx.client import Outcome, RoundRobinSelector
from rpcx.client.breaker import BreakerState, CircuitBreaker

WAIT = 10.0
CALLERS = 16
FAILURES = 3
COOLDOWN = 30.0


@pytest.fixture
async def procs() -> AsyncIterator[list[asyncio.subprocess.Process]]:
    started: list[asyncio.subprocess.Process] = []
    yield started
    for proc in started:
        if proc.returncode is None:
            proc.kill()  # by PID: this process is ours
        await asyncio.wait_for(proc.wait(), WAIT)


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


class Outcomes(RoundRobinSelector):
    """Round-robin that counts every attempt's outcome per server (XClient reports each one)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: Counter[tuple[str, Outcome]] = Counter()

    def report(self, key: str, outcome: Outcome, latency: float) -> None:
        self.seen[key, outcome] += 1


async def load(xc: XClient, total: int) -> Counter[str]:
    """``total`` calls from CALLERS tasks; the failures by type (none is expected)."""
    issued = 0
    lost: Counter[str] = Counter()

    async def caller() -> None:
        nonlocal issued
        while issued < total:
            i = issued
            issued += 1
            try:
                assert await xc.call("Mul", Args(i, 3), Reply, timeout=WAIT) == Reply(3 * i)
            except Exception as exc:  # noqa: BLE001 - every failure is a lost call, counted by type
                lost[f"{type(exc).__name__}: {exc}"] += 1

    async with asyncio.timeout(120):
        await asyncio.gather(*(caller() for _ in range(CALLERS)))
    return lost


@pytest.mark.parametrize("victim_kind", ["python", "go"])
async def test_breaker_opens_on_a_killed_server_sheds_its_load_and_recovers(procs, victim_kind: str) -> None:
    addrs = []
    for kind in ("python", victim_kind, "python"):
        proc, addr = await start_server_process(kind)
        procs.append(proc)
        addrs.append(addr)
    victim_proc, victim = procs[1], addrs[1]
    clock = Clock()
    opt = Option(dial_backoff=None, breaker=lambda: CircuitBreaker(failures=FAILURES, cooldown=COOLDOWN, clock=clock))
    dials: Counter[str] = Counter()

    class DialLog:
        def conn_create_failed(self, key: str, exc: BaseException) -> None:
            dials[key] += 1

    async with XClient("Arith", FailMode.FAILOVER, SelectMode.ROUND_ROBIN,
                       MultipleServersDiscovery([KVPair(a) for a in addrs]), opt) as xc:
        outcomes = Outcomes()
        xc.set_selector(outcomes)
        xc.plugins.add(DialLog())
        assert await load(xc, 300) == Counter()
        assert outcomes.seen[victim, Outcome.SUCCESS] > 0
        assert set(xc.breaker_state().values()) == {BreakerState.CLOSED}

        victim_proc.kill()  # by PID; discovery still lists it
        assert await asyncio.wait_for(victim_proc.wait(), WAIT) == -9
        outcomes.seen.clear()
        assert await load(xc, 3000) == Counter()  # Failover: not one call lost
        assert xc.breaker_state()[victim] is BreakerState.OPEN
        # shed: round-robin kept choosing the victim, and after the breaker opened those attempts
        # went nowhere (no dial); only the attempts already under way when it opened dialled it
        shed = outcomes.seen[victim, Outcome.BREAKER_OPEN]
        assert shed > 3000 // 3 // 2, outcomes.seen
        assert dials[victim] <= CALLERS + FAILURES, dials
        assert outcomes.seen[victim, Outcome.SUCCESS] == 0

        # the server comes back on the same address; still open until the cool-down has passed
        proc, again = await start_server_process(victim_kind, victim)
        procs.append(proc)
        assert again == victim
        assert await load(xc, 300) == Counter()
        assert xc.breaker_state()[victim] is BreakerState.OPEN and outcomes.seen[victim, Outcome.SUCCESS] == 0
        clock.now = COOLDOWN
        assert xc.breaker_state()[victim] is BreakerState.HALF_OPEN
        outcomes.seen.clear()
        assert await load(xc, 300) == Counter()
        assert xc.breaker_state() == dict.fromkeys(addrs, BreakerState.CLOSED)
        assert outcomes.seen[victim, Outcome.SUCCESS] > 0  # it serves its share again
