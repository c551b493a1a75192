"""Gateway calls served at once, without a task (Dispatcher.serve_now), and the ones that still need
one: the context, deadlines, what declines the inline path, and one write for pipelined answers."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from test_gateway import MUL, Http, gw, request  # noqa: F401 - gw is the both-parsers fixture

from rpcx import Context, current_context
from rpcx.gateway import Gateway
from rpcx.gateway.fasthttp import FastHttpConnection
from rpcx.protocol.constants import SERVICE_ERROR, MessageStatusType
from rpcx.protocol.message import Message


class Probe:
    """Sync and async methods that show which context and task they ran in."""

    def __init__(self) -> None:
        self.tasks: list[Any] = []

    def With(self, ctx: Context, data: bytes) -> bytes:
        self.tasks.append(asyncio.current_task())
        ctx.response_metadata["got"] = ctx.metadata.get("k", "")
        return data + b"|with"

    def Without(self, data: bytes) -> bytes:
        self.tasks.append(asyncio.current_task())
        ctx = current_context()  # no ctx parameter: the context is still there
        ctx.response_metadata["deadline"] = "yes" if ctx.deadline is not None else "no"
        return data + b"|without"

    def Boom(self, data: bytes) -> bytes:
        raise ValueError("boom\nsecond line")

    async def Slow(self, data: bytes) -> bytes:
        self.tasks.append(asyncio.current_task())
        await asyncio.sleep(float(data))
        return b"slept"


def call(method: str, body: bytes, meta: str = "") -> bytes:
    headers = {"X-RPCX-SerializeType": "0", "X-RPCX-ServicePath": "Probe", "X-RPCX-ServiceMethod": method}
    if meta:
        headers["X-RPCX-Meta"] = meta
    return request(headers=headers, body=body)


async def test_sync_methods_are_served_without_a_task_and_see_their_context(gw) -> None:  # noqa: F811
    srv, addr = await gw()
    probe = Probe()
    srv.register(probe)
    h = await Http.open(addr)
    await h.send(call("With", b"a", meta="k=v"))
    status, headers, body = await h.answer()
    assert (status, body, headers["x-rpcx-meta"]) == (200, b"a|with", "got=v")
    await h.send(call("Without", b"b", meta="__ServerTimeout=5000"))
    status, headers, body = await h.answer()
    assert (status, body, headers["x-rpcx-meta"]) == (200, b"b|without", "deadline=yes")
    await h.send(call("Without", b"c"))
    assert (await h.answer())[1]["x-rpcx-meta"] == "deadline=no"
    assert probe.tasks == [None, None, None]  # run inline in the read, no task per request
    await h.close()


async def test_a_failing_sync_method_is_answered_inline_with_its_error(gw) -> None:  # noqa: F811
    srv, addr = await gw()
    srv.register(Probe())
    h = await Http.open(addr)
    await h.send(call("Boom", b""))
    status, headers, body = await h.answer()
    assert (status, headers["x-rpcx-messagestatustype"], headers["x-rpcx-errormessage"]) == (
        500, "Error", "boom second line")
    await h.send(request(headers=MUL, body=b'{"A":2,"B":3}'))  # the connection carries on
    assert (await h.answer())[2] == b'{"C":6}'
    await h.close()


async def test_async_methods_get_a_task_and_the_deadline_applies(gw) -> None:  # noqa: F811
    srv, addr = await gw()
    probe = Probe()
    srv.register(probe)
    h = await Http.open(addr)
    await h.send(call("Slow", b"0"))
    assert (await h.answer())[:1] == (200,)
    # asyncio.timeout needs a current task: the deadline from __ServerTimeout must cut the call
    await h.send(call("Slow", b"30", meta="__ServerTimeout=50"))
    status, headers, _ = await h.answer()
    assert (status, headers["x-rpcx-errormessage"]) == (500, "context deadline exceeded")
    assert all(t is not None for t in probe.tasks) and len(probe.tasks) == 2
    # a sync call after them on the same connection is inline again
    await h.send(call("With", b"x"))
    assert (await h.answer())[2] == b"x|with"
    assert probe.tasks[-1] is None
    await h.close()


async def test_jsonrpc_single_calls_inline_and_batches_in_a_task(gw) -> None:  # noqa: F811
    srv, addr = await gw()
    h = await Http.open(addr)
    rpc = {"X-JSONRPC-2.0": "true"}
    await h.send(request(headers=rpc, body=b'{"jsonrpc":"2.0","method":"Arith.Mul","params":{"A":3,"B":4},"id":1}'))
    assert (await h.answer())[2] == b'{"jsonrpc":"2.0","result":{"C":12},"id":1}'
    await h.send(request(headers=rpc, body=b'[{"jsonrpc":"2.0","method":"Arith.Mul","params":{"A":3,"B":5},"id":2},'
                                           b'{"jsonrpc":"2.0","method":"Nope.X","id":3}]'))
    out = json.loads((await h.answer())[2])
    assert out[0] == {"jsonrpc": "2.0", "result": {"C": 15}, "id": 2}
    assert out[1]["error"]["message"] == "rpcx: can't find service Nope" and out[1]["id"] == 3
    await h.close()


async def test_serve_now_serves_what_needs_no_waiting_and_declines_the_rest(server_factory) -> None:
    srv, _ = await server_factory(register=False)
    probe = Probe()
    srv.register(probe)
    srv.count_calls = True

    def req(method: str, payload: bytes = b"1", **kw: Any) -> Message:
        return Message(service_path="Probe", service_method=method, payload=payload, **kw)

    handled = srv.serve_now(req("With"))
    assert handled is not None and bytes(handled.reply.payload) == b"1|with" and handled.refused is None
    unknown = srv.serve_now(Message(service_path="Nope", service_method="X"))
    assert unknown.reply.status == MessageStatusType.ERROR
    assert unknown.reply.metadata[SERVICE_ERROR] == "rpcx: can't find service Nope"
    served = srv.calls_served
    # declined, and nothing ran: an async method, a oneway call
    assert srv.serve_now(req("Slow")) is None and srv.serve_now(req("With", oneway=True)) is None
    assert (srv.calls_served, len(probe.tasks)) == (served, 1)
    # the full path serves them (handle_message)
    assert bytes((await srv.handle_message(req("Slow", b"0"))).reply.payload) == b"slept"
    # auth turns the inline path off: every call then runs in a task, through auth
    srv.auth = lambda ctx, token: token == "t"
    assert srv.serve_now(req("With")) is None
    refused = await srv.handle_message(req("With"))
    assert refused.refused == "auth"
    ok = await srv.handle_message(req("With", metadata={"__AUTH": "t"}))
    assert bytes(ok.reply.payload) == b"1|with"


async def test_a_request_no_frame_could_carry_is_refused(server_factory) -> None:
    srv, _ = await server_factory()
    with pytest.raises(Exception, match="does not fit a frame"):
        await srv.handle_message(Message(service_path="Arith", service_method="Mul", seq=1 << 64))


class _Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: Any) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 1) if name == "peername" else default

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def test_pipelined_requests_in_one_read_get_one_write(server_factory) -> None:
    srv, _ = await server_factory()
    gateway = Gateway(srv.handle_message, http_invoke=True, jsonrpc=False, handle_now=srv.serve_now)
    conn = FastHttpConnection(None, gateway)
    t = _Transport()
    conn.connection_made(t)
    conn.data_received(b"".join(request(headers=MUL, body=json.dumps({"A": i, "B": 3}).encode()) for i in range(5)))
    assert len(t.writes) == 1 and t.writes[0].count(b"HTTP/1.1 200 OK\r\n") == 5
    bodies = [part.rsplit(b"\r\n\r\n", 1)[-1] for part in t.writes[0].split(b"HTTP/1.1 ")[1:]]
    assert bodies == [b'{"C":%d}' % (3 * i) for i in range(5)]
    # and a request cut in two reads is answered once it is whole, still inline
    whole = request(headers=MUL, body=b'{"A":7,"B":8}')
    conn.data_received(whole[:30])
    assert len(t.writes) == 1 and conn._timer is not None  # incomplete: the slowloris timer runs
    conn.data_received(whole[30:])
    assert len(t.writes) == 2 and t.writes[1].endswith(b'{"C":56}') and conn._timer is None
    conn.connection_lost(None)
