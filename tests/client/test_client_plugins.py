"""Client plugins on XClient's attempt point and dial path, against real loopback servers."""

from __future__ import annotations

import asyncio

import pytest
from arith_service import Args, Reply

from rpcx import FailMode, KVPair, MultipleServersDiscovery, Option, SelectMode, ServiceError, XClient
from rpcx.client import Call, Outcome
from rpcx.client.plugins import ClientPluginContainer

WAIT = 10.0


class Log:
    def __init__(self, name: str, events: list) -> None:
        self.name = name
        self.events = events

    def pre_call(self, call: Call, key: str) -> None:
        self.events.append((self.name, "pre", call.service_method, key))

    async def post_call(self, call: Call, key: str, outcome: Outcome, value) -> None:
        await asyncio.sleep(0)
        self.events.append((self.name, "post", outcome, value))

    def client_connected(self, key, client) -> None:
        self.events.append((self.name, "connected", key))

    def conn_create_failed(self, key, exc) -> None:
        self.events.append((self.name, "dial failed", key))

    def client_connection_close(self, key, client) -> None:
        self.events.append((self.name, "close", key))


def xclient(*addrs: str, mode: FailMode = FailMode.FAILFAST, **opt) -> XClient:
    return XClient("Arith", mode, SelectMode.ROUND_ROBIN, MultipleServersDiscovery([KVPair(a) for a in addrs]),
                   Option(**opt))


async def test_hooks_run_in_order_around_each_attempt(server) -> None:
    events: list = []
    async with xclient(server) as xc:
        xc.plugins.add(Log("a", events))
        xc.plugins.add(Log("b", events))
        assert await xc.call("Mul", Args(3, 4), Reply, timeout=WAIT) == Reply(12)
        with pytest.raises(ServiceError):
            await xc.call("Fail", Args(), Reply, timeout=WAIT)
    assert events[:6] == [
        ("a", "pre", "Mul", server), ("b", "pre", "Mul", server),
        ("a", "connected", server), ("b", "connected", server),
        ("a", "post", Outcome.SUCCESS, Reply(12)), ("b", "post", Outcome.SUCCESS, Reply(12)),
    ]
    assert [e[:3] for e in events[6:10]] == [("a", "pre", "Fail"), ("b", "pre", "Fail"),
                                            ("a", "post", Outcome.SERVICE_ERROR), ("b", "post", Outcome.SERVICE_ERROR)]
    assert events[10:] == [("a", "close", server), ("b", "close", server)]  # aclose closed the connection


async def test_pre_call_error_fails_the_call_unsent_and_is_not_retried(server) -> None:
    sent: list = []

    class Deny:
        async def pre_call(self, call: Call, key: str) -> None:
            raise PermissionError(f"{call.service_method} is not allowed")

        def post_call(self, call, key, outcome, value) -> None:
            sent.append(outcome)

    async with xclient(server, mode=FailMode.FAILOVER) as xc:
        xc.plugins.add(Deny())
        with pytest.raises(PermissionError, match="Mul is not allowed"):
            await xc.call("Mul", Args(3, 4), Reply, timeout=WAIT)
        assert sent == []  # nothing was attempted
        xc.plugins.remove(xc.plugins.plugins[0])
        assert await xc.call("Mul", Args(3, 4), Reply, timeout=WAIT) == Reply(12)


async def test_dial_hooks_and_a_connection_lost(server_factory) -> None:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    dead = f"tcp@127.0.0.1:{s.getsockname()[1]}"
    s.close()
    srv, live = await server_factory()
    events: list = []
    async with xclient(dead, live, mode=FailMode.FAILOVER, dial_backoff=None) as xc:
        xc.plugins.add(Log("p", events))
        for _ in range(2):
            assert await xc.call("Mul", Args(2, 2), Reply, timeout=WAIT) == Reply(4)
        assert ("p", "dial failed", dead) in events and ("p", "connected", live) in events
        events.clear()
        await srv.close()  # the live server goes away under the client
        with pytest.raises(ConnectionError):
            await xc.call("Mul", Args(2, 2), Reply, timeout=WAIT)
        assert ("p", "close", live) in events  # the failed connection was dropped and reported


async def test_client_connected_error_fails_the_dial(server) -> None:
    class Refuse:
        def client_connected(self, key, client) -> None:
            raise ConnectionRefusedError("not this one")

    async with xclient(server) as xc:
        xc.plugins.add(Refuse())
        with pytest.raises(ConnectionRefusedError, match="not this one"):
            await xc.call("Mul", Args(1, 1), Reply, timeout=WAIT)


async def test_wrap_select_can_redirect_and_wraps_a_new_selector_too(server_factory) -> None:
    _, a = await server_factory()
    _, b = await server_factory()
    seen: list = []

    class Pin:
        def wrap_select(self, select):
            def pinned(call: Call):
                seen.append(select(call))  # what the selector would have chosen
                return b
            return pinned

    class Where:
        keys: list = []

        def post_call(self, call, key, outcome, value) -> None:
            Where.keys.append(key)

    async with xclient(a, b) as xc:
        xc.plugins.add(Where())
        xc.plugins.add(Pin())
        for _ in range(4):
            await xc.call("Mul", Args(1, 1), Reply, timeout=WAIT)
        assert seen == [a, b, a, b] and Where.keys == [b] * 4
        xc.set_selector(type("OnlyA", (), {"select": lambda self, call: a, "update_server": lambda self, s: None})())
        await xc.call("Mul", Args(1, 1), Reply, timeout=WAIT)
        assert seen[-1] == a and Where.keys[-1] == b


def test_async_hooks_only_where_awaited() -> None:
    class Bad:
        async def client_connected(self, key, client) -> None:
            pass

    with pytest.raises(TypeError, match="must be a plain function"):
        ClientPluginContainer().add(Bad())
