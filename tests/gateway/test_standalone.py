"""The standalone gateway: HTTP invoke and JSON-RPC forwarded to rpcx servers found by discovery,
with the caller's deadline passed on as __ServerTimeout."""

from __future__ import annotations

import json
from typing import Any

import pytest
from test_gateway import MUL, RPC, Http, request

from rpcx import Context
from rpcx.client import KVPair, MultipleServersDiscovery, Peer2PeerDiscovery
from rpcx.gateway.standalone import StandaloneGateway


class Who:
    def __init__(self, name: str) -> None:
        self.name = name

    def ident(self, args: dict) -> dict:
        return {"name": self.name}

    async def budget(self, ctx: Context, args: dict) -> dict:
        return {"ms": int(ctx.metadata.get("__ServerTimeout", "-1")), "k": ctx.metadata.get("k", "")}


@pytest.fixture
async def gateway_over():
    made: list[StandaloneGateway] = []

    async def make(discovery: Any, **options: Any) -> tuple[StandaloneGateway, str]:
        gw = StandaloneGateway(discovery, **options)
        made.append(gw)
        return gw, await gw.start("tcp@127.0.0.1:0")

    yield make
    for gw in made:
        await gw.aclose()


async def test_forwards_http_invoke_and_jsonrpc_round_robin(server_factory, gateway_over) -> None:
    addrs = []
    for name in ("a", "b"):
        srv, addr = await server_factory()
        srv.register_name("Who", Who(name), methods=None)
        addrs.append(addr)
    _, gaddr = await gateway_over(MultipleServersDiscovery([KVPair(a) for a in addrs]))
    h = await Http.open(gaddr)
    await h.send(request(headers={**MUL, "X-RPCX-Meta": "x=1"}, body=b'{"A":6,"B":7}'))
    status, headers, body = await h.answer()
    assert (status, body, headers["x-rpcx-servicepath"]) == (200, b'{"C":42}', "Arith")
    names = set()
    for _ in range(4):
        await h.send(request(path="/Who", headers={"X-RPCX-SerializeType": "1", "X-RPCX-ServiceMethod": "Ident"},
                             body=b"{}"))
        names.add(json.loads((await h.answer())[2])["name"])
    assert names == {"a", "b"}
    await h.close()
    j = await Http.open(gaddr)
    await j.send(request(headers=RPC, body=b'{"jsonrpc":"2.0","method":"Arith.Mul","params":{"A":2,"B":5},"id":"q"}'))
    assert (await j.answer())[2] == b'{"jsonrpc":"2.0","result":{"C":10},"id":"q"}'
    await j.close()


async def test_errors_are_answered_as_on_the_rpcx_port(server_factory, gateway_over) -> None:
    _, addr = await server_factory()
    _, gaddr = await gateway_over(Peer2PeerDiscovery(addr))
    h = await Http.open(gaddr)
    await h.send(request(headers={**MUL, "X-RPCX-ServicePath": "Nope"}, body=b"{}"))
    status, headers, _ = await h.answer()
    assert (status, headers["x-rpcx-errormessage"]) == (500, "rpcx: can't find service Nope")
    await h.send(request(headers={k: v for k, v in MUL.items() if "Method" not in k}, body=b"{}"))
    status, headers, _ = await h.answer()
    assert (status, headers["x-rpcx-errormessage"]) == (200, "empty servicemethod")
    await h.close()


async def test_no_server_is_a_500_with_the_reason(gateway_over) -> None:
    _, gaddr = await gateway_over(MultipleServersDiscovery([]))
    h = await Http.open(gaddr)
    await h.send(request(headers=MUL, body=b'{"A":1,"B":1}'))
    status, headers, _ = await h.answer()
    assert status == 500 and headers["x-rpcx-errormessage"] == "can not found any server"
    await h.close()


async def test_the_callers_deadline_goes_on_as_server_timeout(server_factory, gateway_over) -> None:
    srv, addr = await server_factory()
    srv.register_name("Who", Who("a"))
    _, gaddr = await gateway_over(Peer2PeerDiscovery(addr), timeout=20.0)
    h = await Http.open(gaddr)
    call = {"X-RPCX-SerializeType": "1", "X-RPCX-ServicePath": "Who", "X-RPCX-ServiceMethod": "Budget"}
    await h.send(request(headers={**call, "X-RPCX-Meta": "__ServerTimeout=3000&k=v"}, body=b"{}"))
    got = json.loads((await h.answer())[2])
    assert 0 < got["ms"] <= 3000 and got["k"] == "v"
    await h.send(request(headers=call, body=b"{}"))  # no caller deadline: the gateway's own
    got = json.loads((await h.answer())[2])
    assert 3000 < got["ms"] <= 20000
    await h.close()


async def test_aclose_closes_connections_and_is_idempotent(server_factory) -> None:
    _, addr = await server_factory()
    gw = StandaloneGateway(Peer2PeerDiscovery(addr))
    gaddr = await gw.start("tcp@127.0.0.1:0")
    h = await Http.open(gaddr)
    await h.send(request(headers=MUL, body=b'{"A":1,"B":1}'))
    await h.answer()
    await gw.aclose()
    assert await h.closed_by_server() == b""
    await gw.aclose()


async def test_xclient_send_raw_fails_over_and_returns_error_replies(server_factory) -> None:
    from conftest import WAIT

    from rpcx import FailMode, SelectMode, XClient
    from rpcx.protocol import Message

    _, addr = await server_factory()
    dead = "tcp@127.0.0.1:1"  # nothing listens on port 1: a dial error, retried elsewhere
    xc = XClient("Arith", FailMode.FAILOVER, SelectMode.ROUND_ROBIN,
                 MultipleServersDiscovery([KVPair(dead), KVPair(addr)]))
    try:
        for _ in range(3):
            msg = Message(serialize_type=1, service_path="Arith", service_method="Mul", payload=b'{"A":3,"B":3}',
                          metadata={"k": "v"})
            reply = await xc.send_raw(msg, timeout=WAIT)
            assert (reply.payload, reply.status) == (b'{"C":9}', 0)
        bad = await xc.send_raw(Message(serialize_type=1, service_path="Arith", service_method="Nope", payload=b"{}"),
                                timeout=WAIT)
        assert bad.metadata["__rpcx_error__"] == "rpcx: can't find method Nope"
    finally:
        await xc.aclose()
