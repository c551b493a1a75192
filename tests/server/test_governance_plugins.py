"""The server plugins of rpcx.plugins on real sockets: IP filters and connection limits at accept
(fast path kept), rate limits and aliases per call (fast path off)."""

from __future__ import annotations

import asyncio

import pytest
from arith_service import Args, Reply
from server_frames import req

from rpcx import Client, ServiceError
from rpcx.errors import RpcxConnectionError
from rpcx.plugins import Alias, ConnectionLimit, IPFilter, RateLimit
from rpcx.protocol import MessageStatusType

WAIT = 10.0
MUL_ARGS = bytes.fromhex("82a1410aa14214")  # msgpack {"A": 10, "B": 20}


async def refused(addr: str) -> bool:
    """Whether a connection to ``addr`` is closed by the server before a call gets an answer."""
    try:
        c = await Client.connect(addr)
    except (RpcxConnectionError, OSError):
        return True
    try:
        await asyncio.wait_for(c.call("Arith", "Mul", Args(1, 1), Reply), WAIT)
    except (RpcxConnectionError, OSError):
        return True
    finally:
        await c.aclose()
    return False


@pytest.mark.parametrize("allow,deny,ok", [
    (["127.0.0.1/32"], [], True),
    (["10.0.0.0/8", "::1"], [], False),
    ([], ["127.0.0.0/8"], False),
    (["127.0.0.0/8"], ["127.0.0.1"], False),
    ([], ["10.0.0.0/8"], True),
])
async def test_ip_filter_at_accept_keeps_the_fast_path(server_factory, allow, deny, ok) -> None:
    srv, addr = await server_factory()
    srv.add_plugin(IPFilter(allow=allow, deny=deny))
    assert srv._fast_enabled  # a lifecycle-only plugin: calls still take the fast path
    assert await refused(addr) is (not ok)
    if ok:
        async with await Client.connect(addr) as c:
            assert await c.call("Arith", "Mul", Args(6, 7), Reply) == Reply(42)


def test_ip_filter_refuses_bad_networks_and_non_ip_peers_only_with_an_allow_list() -> None:
    with pytest.raises(ValueError, match="not an IP address or CIDR"):
        IPFilter(deny=["localhost"])
    assert IPFilter(deny=["10.0.0.0/8"]).permits("/tmp/rpcx.sock")
    assert not IPFilter(allow=["10.0.0.0/8"]).permits("/tmp/rpcx.sock")
    assert IPFilter(allow=["127.0.0.1"]).permits(("::ffff:127.0.0.1", 1, 0, 0))


async def test_connection_limit(server_factory) -> None:
    srv, addr = await server_factory()
    limit = ConnectionLimit(2)
    srv.add_plugin(limit)
    assert srv._fast_enabled
    a, b = await Client.connect(addr), await Client.connect(addr)
    for c in (a, b):
        assert await c.call("Arith", "Mul", Args(2, 2), Reply) == Reply(4)
    assert await refused(addr)  # a third one is closed at once
    await a.aclose()
    async with asyncio.timeout(WAIT):
        while limit.open > 1:  # the server sees the close
            await asyncio.sleep(0.01)
    c = await Client.connect(addr)
    assert await c.call("Arith", "Mul", Args(3, 3), Reply) == Reply(9)
    await b.aclose()
    await c.aclose()


async def test_rate_limit_per_method_replies_gos_error_and_keeps_the_connection(server_factory) -> None:
    srv, addr = await server_factory()
    srv.add_plugin(RateLimit(rate=0.001, burst=3, per="method"))
    assert not srv._fast_enabled  # a per-call hook: the full path
    async with await Client.connect(addr) as c:
        for i in range(3):
            assert await c.call("Arith", "Mul", Args(i, 2), Reply) == Reply(2 * i)
        with pytest.raises(ServiceError, match="^request reached rate limit$"):
            await c.call("Arith", "Mul", Args(1, 2), Reply)
        assert await c.call("Arith", "Add", Args(1, 2), Reply) == Reply(3)  # another method's bucket
        assert not c.closed


async def test_rate_limit_per_service_with_an_override(server_factory) -> None:
    srv, addr = await server_factory()
    srv.add_plugin(RateLimit(rate=0.001, burst=2, per="service", limits={"Arith.Add": (0.001, 5)}))
    async with await Client.connect(addr) as c:
        results = []
        for m in ("Mul", "Mul", "Mul", "Add", "Add", "Add", "Add", "Add", "Add"):
            try:
                await c.call("Arith", m, Args(1, 1), Reply)
                results.append(True)
            except ServiceError as exc:
                assert str(exc) == "request reached rate limit"
                results.append(False)
    assert results == [True, True, False, True, True, True, True, True, False]


async def test_alias_serves_the_real_method_and_answers_with_the_alias(server_factory, raw) -> None:
    srv, addr = await server_factory()
    alias = Alias()
    alias.alias("Calc", "Times", "Arith", "Mul")
    srv.add_plugin(alias)
    async with await Client.connect(addr) as c:
        assert await c.call("Calc", "Times", Args(5, 6), Reply) == Reply(30)
        assert await c.call("Arith", "Mul", Args(5, 6), Reply) == Reply(30)  # the real name still works
        with pytest.raises(ServiceError, match="Calc"):
            await c.call("Calc", "Plus", Args(5, 6), Reply)  # not an alias: not found
    p = await raw(addr)
    await p.send(req("Calc", "Times", MUL_ARGS, seq=9))
    res = await p.recv()
    assert res is not None and res.status == MessageStatusType.NORMAL and res.seq == 9
    assert (res.service_path, res.service_method) == ("Calc", "Times")
    assert "__aliasAppliedKey" not in res.metadata
