"""``Option.retry_interval``: Failtry and Failover wait it between attempts (Go's ``RetryInterval``);
never before the first attempt, and not after the last (Go also sleeps once more before returning
the error, which delays the error and changes nothing else). Observed by the waits the fail mode
asks for, not by the clock."""

from __future__ import annotations

import asyncio

import pytest
from arith_service import Args, Reply
from conftest import dead_address

from rpcx import FailMode, KVPair, MultipleServersDiscovery, Option, SelectMode, ServiceError, XClient

WAIT = 10.0
#: a value nothing else in the process sleeps for
INTERVAL = 0.0123


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    seen: list[float] = []
    real = asyncio.sleep

    async def sleep(delay: float, result: object = None) -> object:
        if delay == INTERVAL:
            seen.append(delay)
        return await real(delay, result)

    monkeypatch.setattr(asyncio, "sleep", sleep)
    return seen


@pytest.mark.parametrize("mode", [FailMode.FAILTRY, FailMode.FAILOVER])
async def test_the_interval_separates_the_attempts(mode: FailMode, waits: list[float]) -> None:
    d = MultipleServersDiscovery([KVPair(dead_address())])
    async with XClient("Arith", mode, SelectMode.RANDOM, d,
                       Option(retries=2, retry_interval=INTERVAL, dial_backoff=None)) as xc:
        with pytest.raises(ConnectionError):
            await xc.call("Mul", Args(1, 1), Reply, timeout=WAIT)
    assert waits == [INTERVAL, INTERVAL]  # three attempts, two waits


async def test_no_wait_without_a_retry(server: str, waits: list[float]) -> None:
    d = MultipleServersDiscovery([KVPair(server)])
    async with XClient("Arith", FailMode.FAILOVER, SelectMode.RANDOM, d, Option(retry_interval=INTERVAL)) as xc:
        assert await xc.call("Mul", Args(2, 3), Reply, timeout=WAIT) == Reply(6)
        with pytest.raises(ServiceError):  # an answer: not retried, so no wait
            await xc.call("Fail", Args(), Reply, timeout=WAIT)
    assert waits == []
