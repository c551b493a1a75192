"""Go rpcx's own client against a Python server with rpcx.plugins: a rate-limited call reaches Go
with Go's error text, an IP filter refuses Go's connection, and the alias plugin leaves Go's calls
of the real names alone (goclient cannot call an alias name)."""

from __future__ import annotations

import asyncio

from rpcx.plugins import Alias, IPFilter, RateLimit

from .conftest import run_go_client


async def go_client(go_bin, address: str):
    # in a thread: the server under test runs on this event loop
    return await asyncio.to_thread(run_go_client, go_bin, address)


async def test_rate_limited_call_gets_gos_error_in_go(server_factory, go_bin) -> None:
    srv, addr = await server_factory()
    srv.add_plugin(RateLimit(rate=0.001, burst=1, per="method"))
    first = await go_client(go_bin, addr)
    assert first.returncode == 0 and "10 * 20 = 200" in first.stdout, first.stderr
    second = await go_client(go_bin, addr)
    assert second.returncode != 0
    assert "request reached rate limit" in second.stdout + second.stderr


async def test_ip_filter_refuses_a_go_client(server_factory, go_bin) -> None:
    srv, addr = await server_factory()
    srv.add_plugin(IPFilter(deny=["127.0.0.0/8"]))
    out = await go_client(go_bin, addr)
    assert out.returncode != 0 and "10 * 20 = 200" not in out.stdout


async def test_alias_does_not_disturb_go_calls(server_factory, go_bin) -> None:
    srv, addr = await server_factory()
    alias = Alias()
    alias.alias("Calc", "Times", "Arith", "Mul")
    srv.add_plugin(alias)
    out = await go_client(go_bin, addr)
    assert out.returncode == 0 and "10 * 20 = 200" in out.stdout, out.stderr
