"""The per-server circuit breaker: on its own with an injected clock, and wired into XClient's
attempt point against real loopback servers (dial failures and call timeouts both count)."""

from __future__ import annotations

import asyncio

import pytest
from arith_service import Args, Reply
from conftest import dead_address

from rpcx import FailMode, KVPair, MultipleServersDiscovery, Option, SelectMode, XClient
from rpcx.client import Outcome
from rpcx.client.breaker import BreakerOpenError, BreakerState, CircuitBreaker

WAIT = 10.0


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_consecutive_failures_open_and_a_success_resets_the_count() -> None:
    clock = Clock()
    b = CircuitBreaker(failures=3, cooldown=10, clock=clock)
    for o in (Outcome.DIAL_ERROR, Outcome.CONNECTION_ERROR, Outcome.SUCCESS, Outcome.TIMEOUT, Outcome.TIMEOUT):
        assert b.allow()
        b.record(o)
    assert b.state is BreakerState.CLOSED  # the success broke the run
    b.record(Outcome.DIAL_ERROR)
    assert b.state is BreakerState.OPEN and not b.allow()


def test_service_errors_are_answers_and_other_outcomes_count_as_neither() -> None:
    b = CircuitBreaker(failures=2, clock=Clock())
    for o in (Outcome.DIAL_ERROR, Outcome.SERVICE_ERROR, Outcome.DIAL_ERROR, Outcome.CANCELLED,
              Outcome.CODEC_ERROR, Outcome.ERROR):
        b.record(o)
    assert b.state is BreakerState.CLOSED


def test_error_rate_over_the_window_opens() -> None:
    clock = Clock()
    b = CircuitBreaker(failures=100, window=10, error_rate=0.5, min_calls=10, clock=clock)
    for i in range(9):  # alternate: 5 failures of 9, but fewer calls than min_calls
        b.record(Outcome.TIMEOUT if i % 2 == 0 else Outcome.SUCCESS)
    assert b.state is BreakerState.CLOSED
    clock.now = 20.0  # the window has moved past them
    for i in range(9):
        b.record(Outcome.SUCCESS if i % 3 else Outcome.TIMEOUT)  # 3 of 9 failed
    assert b.state is BreakerState.CLOSED
    b.record(Outcome.TIMEOUT)
    b.record(Outcome.TIMEOUT)  # 5 of 11 within the window: under half
    assert b.state is BreakerState.CLOSED
    b.record(Outcome.TIMEOUT)  # 6 of 12: half
    assert b.state is BreakerState.OPEN


def test_half_open_lets_one_trial_through() -> None:
    clock = Clock()
    b = CircuitBreaker(failures=1, cooldown=5, clock=clock)
    b.record(Outcome.DIAL_ERROR)
    clock.now = 4.9
    assert not b.allow()
    clock.now = 5.0
    assert b.state is BreakerState.HALF_OPEN
    assert b.allow() and not b.allow()  # one trial at a time
    b.record(Outcome.CANCELLED)  # the trial told nothing: the next attempt is the trial
    assert b.allow()
    b.record(Outcome.TIMEOUT)  # the trial failed: open for another cool-down
    assert b.state is BreakerState.OPEN and not b.allow()
    clock.now = 10.0
    assert b.allow()
    b.record(Outcome.SUCCESS)
    assert b.state is BreakerState.CLOSED and b.allow() and b.allow()


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        CircuitBreaker(failures=0)
    with pytest.raises(ValueError):
        CircuitBreaker(error_rate=1.5)


async def test_breaker_opens_on_dial_failures_sheds_load_and_recovers(server_factory) -> None:
    clock = Clock()
    _, live = await server_factory()
    dead = dead_address()
    disc = MultipleServersDiscovery([KVPair(dead), KVPair(live)])
    opt = Option(dial_backoff=None, breaker=lambda: CircuitBreaker(failures=3, cooldown=30, clock=clock))
    dials: list[str] = []

    class DialLog:
        def conn_create_failed(self, key, exc) -> None:
            dials.append(key)

    async with XClient("Arith", FailMode.FAILFAST, SelectMode.ROUND_ROBIN, disc, opt) as xc:
        xc.plugins.add(DialLog())
        assert xc.breaker_state() == {dead: BreakerState.CLOSED, live: BreakerState.CLOSED}
        errors = []
        for _ in range(20):  # round-robin: every other call goes to the dead server
            try:
                assert await xc.call("Mul", Args(2, 3), Reply, timeout=WAIT) == Reply(6)
            except Exception as exc:  # noqa: BLE001
                errors.append(exc)
        assert len(errors) == 10
        assert dials == [dead] * 3  # three failed dials opened it; the rest were shed unsent
        assert all(isinstance(e, BreakerOpenError) and str(e) == "breaker open" for e in errors[3:])
        assert xc.breaker_state() == {dead: BreakerState.OPEN, live: BreakerState.CLOSED}

    # Failover: an open breaker is retryable, another server answers; nothing is lost
    async with XClient("Arith", FailMode.FAILOVER, SelectMode.ROUND_ROBIN, disc, opt) as xc:
        replies = await asyncio.gather(*(xc.call("Mul", Args(i, 2), Reply, timeout=WAIT) for i in range(100)))
        assert [r.C for r in replies] == [2 * i for i in range(100)]
        assert xc.breaker_state()[dead] is BreakerState.OPEN

        # the server comes up; after the cool-down one trial call closes the breaker
        await server_factory(address=dead)
        clock.now = 30.0
        assert xc.breaker_state()[dead] is BreakerState.HALF_OPEN
        for i in range(4):
            assert await xc.call("Mul", Args(i, 5), Reply, timeout=WAIT) == Reply(5 * i)
        assert xc.breaker_state() == {dead: BreakerState.CLOSED, live: BreakerState.CLOSED}


async def test_call_timeouts_count_too() -> None:
    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await reader.read(65536):  # accepts, reads, never answers
            pass
        writer.close()

    mute = await asyncio.start_server(swallow, "127.0.0.1", 0)
    addr = f"tcp@127.0.0.1:{mute.sockets[0].getsockname()[1]}"
    opt = Option(breaker=lambda: CircuitBreaker(failures=2, cooldown=60))
    try:
        async with XClient("Arith", FailMode.FAILFAST, SelectMode.RANDOM,
                           MultipleServersDiscovery([KVPair(addr)]), opt) as xc:
            for _ in range(2):
                with pytest.raises(TimeoutError):
                    await xc.call("Mul", Args(1, 1), Reply, timeout=0.05)
            assert xc.breaker_state() == {addr: BreakerState.OPEN}  # Go's breaker would not count these
            with pytest.raises(BreakerOpenError, match="^breaker open$"):
                await xc.call("Mul", Args(1, 1), Reply, timeout=WAIT)
    finally:
        mute.close()
        await mute.wait_closed()


async def test_no_breaker_by_default(server_factory) -> None:
    dead = dead_address()
    async with XClient("Arith", FailMode.FAILFAST, SelectMode.RANDOM, MultipleServersDiscovery([KVPair(dead)]),
                       Option(dial_backoff=None)) as xc:
        for _ in range(6):
            with pytest.raises(ConnectionError):
                await xc.call("Mul", Args(1, 1), Reply, timeout=WAIT)
        assert xc.breaker_state() == {dead: BreakerState.CLOSED}
