"""Retries and circuit breaking per cluster: a dial or connection error moves the call to another
server (Go's Failover rule), an open breaker keeps calls away from its server."""

from __future__ import annotations

import asyncio
import os
import sys

import pytest

from rpcx import Client, ServiceError
from rpcx.client import Option
from rpcx.protocol.constants import SerializeType
from rpcx.proxy import ConfigError, parse_config

sys.path.insert(0, os.path.dirname(os.path.dirname(__file__)))
from conftest import WAIT, dead_address  # noqa: E402

from .conftest import EchoUpstream, Recorder  # noqa: E402

RAW = Option(serialize_type=SerializeType.NONE)


async def test_retry_moves_a_call_off_an_unreachable_server(proxy_factory, echo_upstream) -> None:
    dead = dead_address()
    _, paddr = await proxy_factory({"clusters": {"c": {"servers": [dead, echo_upstream.address], "retries": 1}},
                                    "default": {"cluster": "c"}})
    async with await Client.connect(paddr, RAW) as c:
        assert await asyncio.gather(*(c.call("S", "M", str(i).encode()) for i in range(20))) == \
            [str(i).encode() for i in range(20)]
    assert len(echo_upstream.frames) == 20


async def test_without_retries_the_dial_error_is_the_answer(proxy_factory, echo_upstream) -> None:
    dead = dead_address()
    _, paddr = await proxy_factory({"clusters": {"c": {"servers": [dead, echo_upstream.address]}},
                                    "default": {"cluster": "c"}})
    async with await Client.connect(paddr, RAW) as c:
        results = await asyncio.gather(*(c.call("S", "M", b"x") for _ in range(10)), return_exceptions=True)
    failed = [r for r in results if isinstance(r, ServiceError)]
    assert len(failed) == 5 and all(f"cannot connect to upstream {dead}" in str(e) for e in failed)


async def test_retry_after_the_upstream_closed_with_the_call_sent(proxy_factory) -> None:
    a, b = EchoUpstream(), EchoUpstream()
    await a.start()
    await b.start()
    rec = Recorder()
    try:
        _, paddr = await proxy_factory({"clusters": {"c": {"servers": [a.address, b.address], "retries": 1,
                                                           "connections_per_server": 1}},
                                        "default": {"cluster": "c"}}, observers=[rec])
        a.hold = True
        async with await Client.connect(paddr, RAW) as c:
            first = asyncio.ensure_future(c.call("S", "M", b"one"))  # round robin: to a, held
            async with asyncio.timeout(WAIT):
                while not a.frames:
                    await asyncio.sleep(0.01)
            a.abort_all()
            assert await asyncio.wait_for(first, WAIT) == b"one"  # retried on b
        assert [r.upstream for r in rec.records] == [b.address]
    finally:
        await a.aclose()
        await b.aclose()


async def test_breaker_keeps_calls_away_from_a_failing_server(proxy_factory, echo_upstream) -> None:
    dead = dead_address()
    _, paddr = await proxy_factory({"clusters": {"c": {"servers": [dead, echo_upstream.address],
                                                       "breaker": {"failures": 1, "cooldown": "60s"}}},
                                    "default": {"cluster": "c"}})
    failures = 0
    async with await Client.connect(paddr, RAW) as c:
        for i in range(20):
            try:
                assert await c.call("S", "M", b"x") == b"x"
            except ServiceError as exc:
                assert f"cannot connect to upstream {dead}" in str(exc)
                failures += 1
    assert failures == 1 and len(echo_upstream.frames) == 19


async def test_all_breakers_open_is_a_clear_error(proxy_factory) -> None:
    dead = dead_address()
    _, paddr = await proxy_factory({"clusters": {"c": {"servers": [dead], "breaker": {"failures": 1,
                                                                                      "cooldown": "60s"}}},
                                    "default": {"cluster": "c"}})
    async with await Client.connect(paddr, RAW) as c:
        with pytest.raises(ServiceError, match="cannot connect"):
            await c.call("S", "M", b"x")
        with pytest.raises(ServiceError, match=r"^rpcx proxy: cluster c has no server available"):
            await c.call("S", "M", b"x")


@pytest.mark.parametrize("cluster, where", [
    ({"retries": -1}, "clusters.c.retries"),
    ({"breaker": {"failures": 0}}, "clusters.c.breaker.failures"),
    ({"breaker": {"cooldwn": 1}}, "clusters.c.breaker.cooldwn"),
    ({"breaker": {"error_rate": 2}}, "clusters.c.breaker.error_rate"),
])
def test_resilience_config_mistakes(cluster: dict, where: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({"listen": "tcp@127.0.0.1:0", "clusters": {"c": {"servers": ["tcp@127.0.0.1:1"], **cluster}},
                      "default": {"cluster": "c"}})
    assert info.value.where == where


async def test_rate_limit_per_route(proxy_factory, echo_upstream) -> None:
    rec = Recorder()
    _, paddr = await proxy_factory({"clusters": {"c": {"servers": [echo_upstream.address]}}, "routes": [
        {"name": "limited", "match": {"method": "Slow"}, "cluster": "c", "rate_limit": {"rate": 0.001, "burst": 5}},
    ], "default": {"cluster": "c"}}, observers=[rec])
    async with await Client.connect(paddr, RAW) as c:
        results = await asyncio.gather(*(c.call("S", "Slow", b"x") for _ in range(20)), return_exceptions=True)
        assert await asyncio.gather(*(c.call("S", "Other", b"y") for _ in range(20))) == [b"y"] * 20
    refused = [r for r in results if isinstance(r, ServiceError)]
    assert len(refused) == 15 and all(str(e) == "request reached rate limit" for e in refused)
    assert len(echo_upstream.frames) == 25


async def test_max_clients(proxy_factory, echo_upstream, raw) -> None:
    proxy, paddr = await proxy_factory({"max_clients": 2, "clusters": {"c": {"servers": [echo_upstream.address]}},
                                        "default": {"cluster": "c"}})
    a = await Client.connect(paddr, RAW)
    b = await Client.connect(paddr, RAW)
    assert await a.call("S", "M", b"1") == b"1" and await b.call("S", "M", b"2") == b"2"
    extra = await raw(paddr)
    await extra.wait_closed_by_server()
    assert proxy.clients_refused == 1
    await a.aclose()
    async with asyncio.timeout(WAIT):
        while proxy.clients > 1:
            await asyncio.sleep(0.01)
    async with await Client.connect(paddr, RAW) as c:
        assert await c.call("S", "M", b"3") == b"3"
    await b.aclose()
