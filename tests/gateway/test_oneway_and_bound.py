"""HTTP invoke with ``X-RPCX-Oneway`` runs the call as oneway (the method sees it, no reply is
encoded) and answers when it is done, as Go's gateway does; gateway calls wait at
``max_concurrent_calls`` as rpcx frames do."""

from __future__ import annotations

import asyncio
import json
import socket
import struct

import pytest
from conftest import WAIT
from test_gateway import Http, request

from rpcx import Client, Context, ServiceError
from rpcx.client import Peer2PeerDiscovery
from rpcx.gateway import enable_gateway
from rpcx.gateway.standalone import StandaloneGateway


class Probe:
    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.running = self.max_running = 0
        self.seen_oneway: list[bool] = []
        self.noted = asyncio.Event()

    async def wait(self, args: dict) -> dict:
        self.running += 1
        self.max_running = max(self.max_running, self.running)
        try:
            await self.gate.wait()
        finally:
            self.running -= 1
        return {"n": args["n"]}

    async def note(self, ctx: Context, args: dict) -> dict:
        self.seen_oneway.append(ctx.request.oneway)
        ctx.response_metadata["a"] = "1"
        self.noted.set()
        if args.get("fail"):
            raise ServiceError("note failed")
        return {"ok": True}


def invoke(method: str, body: dict, **headers: str) -> bytes:
    return request(headers={"X-RPCX-SerializeType": "1", "X-RPCX-ServicePath": "Probe",
                            "X-RPCX-ServiceMethod": method, **headers}, body=json.dumps(body).encode())


@pytest.fixture
async def probe_server(server_factory):
    probe = Probe()
    srv, addr = await server_factory(register=False, max_concurrent_calls=2)
    srv.register(probe)
    enable_gateway(srv)
    yield probe, srv, addr
    probe.gate.set()


async def test_oneway_runs_as_oneway_and_answers_once_done(probe_server) -> None:
    probe, _, addr = probe_server
    h = await Http.open(addr)
    await h.send(invoke("Note", {}, **{"X-RPCX-Oneway": "true"}))
    status, headers, body = await h.answer()
    # the method saw a oneway request; the answer is empty but carries its reply metadata
    assert (status, body, headers["x-rpcx-meta"], probe.seen_oneway) == (200, b"", "a=1", [True])
    await h.send(invoke("Note", {"fail": True}, **{"X-RPCX-Oneway": "1"}))
    status, headers, body = await h.answer()
    assert (status, headers["x-rpcx-messagestatustype"], headers["x-rpcx-errormessage"]) == (
        500, "Error", "note failed")
    await h.send(invoke("Note", {}))  # without the header: two-way, the reply's body
    status, _, body = await h.answer()
    assert (status, json.loads(body), probe.seen_oneway) == (200, {"ok": True}, [True, True, False])
    await h.send(invoke("Nope", {}, **{"X-RPCX-Oneway": "true"}))
    status, headers, _ = await h.answer()
    assert (status, headers["x-rpcx-errormessage"]) == (500, "rpcx: can't find method Nope")
    await h.close()


async def test_standalone_gateway_sends_oneway_without_waiting(probe_server) -> None:
    probe, _, addr = probe_server
    async with StandaloneGateway(Peer2PeerDiscovery(addr)) as gw:
        h = await Http.open(await gw.start("tcp@127.0.0.1:0"))
        await h.send(invoke("Note", {}, **{"X-RPCX-Oneway": "true"}))
        status, headers, body = await h.answer()
        assert (status, body, headers["x-rpcx-meta"]) == (200, b"", "")
        await asyncio.wait_for(probe.noted.wait(), WAIT)
        assert probe.seen_oneway == [True]
        await h.close()


async def test_gateway_calls_wait_at_max_concurrent_calls(probe_server) -> None:
    probe, srv, addr = probe_server
    conns = [await Http.open(addr) for _ in range(5)]
    client = await Client.connect(addr)
    try:
        for i, h in enumerate(conns):
            await h.send(invoke("Wait", {"n": i}))
        rpcx_calls = [asyncio.create_task(client.call("Probe", "Wait", {"n": 10 + i})) for i in range(2)]
        async with asyncio.timeout(WAIT):
            while probe.running < 2 or len(srv._slot_waiters) + sum(len(c.backlog) for c in srv.connections) < 5:
                await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)  # a third call would have started by now if the bound leaked
        assert probe.running == probe.max_running == 2
        probe.gate.set()
        answers = [await h.answer() for h in conns]
        assert [json.loads(body) for _, _, body in answers] == [{"n": i} for i in range(5)]
        assert await asyncio.wait_for(asyncio.gather(*rpcx_calls), WAIT) == [{"n": 10}, {"n": 11}]
        assert probe.max_running == 2 and srv._inflight == 0
    finally:
        await client.aclose()
        for h in conns:
            await h.close()


async def test_a_waiting_gateway_call_whose_client_left_frees_its_place(probe_server) -> None:
    probe, srv, addr = probe_server
    holders = [await Http.open(addr) for _ in range(2)]
    for i, h in enumerate(holders):
        await h.send(invoke("Wait", {"n": i}))
    gone = await Http.open(addr)
    await gone.send(invoke("Wait", {"n": 99}))
    async with asyncio.timeout(WAIT):
        while probe.running < 2 or not srv._slot_waiters:
            await asyncio.sleep(0.01)
    # the client resets its connection while its call waits for a slot: the call is dropped, not run
    sock = gone.writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    gone.writer.transport.abort()
    async with asyncio.timeout(WAIT):
        while any(not f.done() for f in srv._slot_waiters):
            await asyncio.sleep(0.01)
    probe.gate.set()
    for i, h in enumerate(holders):
        assert json.loads((await h.answer())[2]) == {"n": i}
        await h.close()
    late = await Http.open(addr)
    await late.send(invoke("Wait", {"n": 5}))
    assert json.loads((await late.answer())[2]) == {"n": 5}
    assert probe.max_running == 2 and srv._inflight == 0
    await late.close()
