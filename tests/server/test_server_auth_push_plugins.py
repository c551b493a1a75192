"""Auth, server push and plugin hooks, on real sockets."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from arith_service import Args, Arith, Reply
from server_frames import HEARTBEAT, HEARTBEAT_ECHO, MUL_REQUEST, MUL_RESPONSE, req

from rpcx import Client, Context, RpcxError, ServiceError, XClient, Peer2PeerDiscovery, FailMode
from rpcx.errors import ConnectionClosedError
from rpcx.protocol import Message, MessageStatusType, MessageType, SerializeType, encode

#: generous bound for "this must happen": a hang check on a loaded machine, not a speed check
WAIT = 10.0


def check_token(ctx: Context, token: str) -> None:
    if token != "Bearer good":
        raise PermissionError(f"bad token {token!r}")


async def test_auth_right_token_passes(server_factory) -> None:
    _, addr = await server_factory(auth=check_token)
    async with await Client.connect(addr) as c:
        for _ in range(3):
            r = await c.call("Arith", "Mul", Args(2, 3), Reply, metadata={"__AUTH": "Bearer good"})
            assert r == Reply(6)
        assert not c.closed


@pytest.mark.parametrize("metadata", [{}, {"__AUTH": "Bearer bad"}])
async def test_auth_failure_replies_then_closes(server_factory, raw, metadata: dict[str, str]) -> None:
    _, addr = await server_factory(auth=check_token)
    p = await raw(addr)
    await p.send(req("Arith", "Mul", bytes.fromhex("82a1410aa14214"), seq=3, metadata=metadata))
    frames = await p.wait_closed_by_server()
    assert len(frames) == 1
    res = frames[0]
    assert res.seq == 3 and res.status == MessageStatusType.ERROR and res.payload == b""
    assert res.metadata == {"__rpcx_error__": f"bad token {metadata.get('__AUTH', '')!r}"}


async def test_auth_failure_seen_by_client(server_factory) -> None:
    async def async_auth(ctx: Context, token: str) -> bool:
        await asyncio.sleep(0)
        return token == "t"

    _, addr = await server_factory(auth=async_auth)
    c = await Client.connect(addr)
    with pytest.raises(ServiceError, match="^auth failed$"):
        await c.call("Arith", "Mul", Args(2, 3), Reply)
    await asyncio.wait_for(c.wait_closed(), WAIT)
    assert c.closed
    with pytest.raises(ConnectionClosedError):
        await c.call("Arith", "Mul", Args(2, 3), Reply, metadata={"__AUTH": "t"})
    xc = XClient("Arith", FailMode.FAILFAST, discovery=Peer2PeerDiscovery(addr))
    xc.auth("t")
    try:
        assert await xc.call("Mul", Args(4, 5), Reply, timeout=WAIT) == Reply(20)
    finally:
        await xc.aclose()


async def test_oneway_auth_failure_closes_silently(server_factory, raw) -> None:
    _, addr = await server_factory(auth=check_token)
    p = await raw(addr)
    await p.send(req("Arith", "Mul", bytes.fromhex("82a1410aa14214"), oneway=True))
    assert await p.wait_closed_by_server() == []


async def test_heartbeat_skips_auth(server_factory, raw) -> None:
    _, addr = await server_factory(auth=check_token)
    p = await raw(addr)
    for _ in range(3):
        await p.send(HEARTBEAT)
        assert encode(await p.recv()) == HEARTBEAT_ECHO
    # oneway heartbeats are answered too, and none of them closed the connection
    await p.send(HEARTBEAT[:2] + b"\x60" + HEARTBEAT[3:])
    assert (await p.recv()).heartbeat
    await p.expect_silence(0.2)


async def test_heartbeat_skips_auth_then_call(server_factory, raw) -> None:
    _, addr = await server_factory(auth=check_token)
    p = await raw(addr)
    await p.send(HEARTBEAT)
    assert encode(await p.recv()) == HEARTBEAT_ECHO
    good = req("Arith", "Mul", bytes.fromhex("82a1410aa14214"), seq=0, metadata={"__AUTH": "Bearer good"})
    await p.send(good)
    res = await p.recv()
    assert res.error is None and res.payload == bytes.fromhex("81a143ccc8")
    await p.send(req("Arith", "Mul", bytes.fromhex("82a1410aa14214"), seq=1))
    frames = await p.wait_closed_by_server()
    assert [f.error for f in frames] == ["bad token ''"]


async def test_push_reaches_on_push_before_reply(server) -> None:
    pushes: list[Message] = []
    events: list[str] = []

    def on_push(msg: Message) -> None:
        pushes.append(msg)
        events.append("push")

    async with await Client.connect(server, on_push=on_push) as c:
        out = await c.call(
            "Arith", "Echo", b"hello", bytes, metadata={"push": "p1", "k": "v"},
            serialize_type=SerializeType.NONE,
        )
        events.append("reply")
        assert out == b"hello"
        assert events == ["push", "reply"]
        (m,) = pushes
        assert m.message_type == MessageType.REQUEST and m.oneway and not m.heartbeat
        assert m.serialize_type == SerializeType.NONE
        assert (m.service_path, m.service_method, m.metadata, m.payload) == ("Arith", "Push", {"push": "p1"}, b"hello")
        assert m.seq >= 1  # the server's own push counter starts at 1


async def test_push_async_handler_and_seq_counter(server) -> None:
    got: asyncio.Queue[Message] = asyncio.Queue()

    async def on_push(msg: Message) -> None:
        await asyncio.sleep(0)
        got.put_nowait(msg)

    async with await Client.connect(server, on_push=on_push) as c:
        for i in range(3):
            await c.call("Arith", "Echo", b"x%d" % i, bytes, metadata={"push": str(i)}, serialize_type=0)
        msgs = [await asyncio.wait_for(got.get(), WAIT) for _ in range(3)]
    assert [m.payload for m in msgs] == [b"x0", b"x1", b"x2"]
    seqs = [m.seq for m in msgs]
    assert seqs == sorted(seqs) and len(set(seqs)) == 3


async def test_push_bytes_on_raw_socket(server, raw) -> None:
    p = await raw(server)
    await p.send(req("Arith", "Echo", b"data", seq=4, serialize_type=0, metadata={"push": "v"}))
    push = await p.recv()
    reply = await p.recv()
    flags = encode(push)[2]
    assert flags == 0x20  # Request + oneway, no compression, normal status
    assert encode(push)[3] == 0x00  # raw serialize
    assert reply.seq == 4 and reply.is_response and reply.payload == b"data"


async def test_send_message_to_closed_connection_raises(server_factory) -> None:
    conns: list[Any] = []

    class Svc:
        def grab(self, ctx: Context) -> None:
            conns.append(ctx.connection)

    srv, addr = await server_factory(register=False)
    srv.register(Svc())
    async with await Client.connect(addr) as c:
        await c.call("Svc", "Grab", None)
        assert srv.active_connections == conns
    for _ in range(100):
        if conns[0].closed:
            break
        await asyncio.sleep(0.05)
    with pytest.raises(RpcxError, match="connection is shut down"):
        await srv.send_message(conns[0], "A", "B", None, b"")


class Recorder:
    """Implements every hook and records the order in which they fire."""

    def __init__(self) -> None:
        self.events: list[str] = []

    def register(self, name: str, obj: Any, metadata: str) -> None:
        self.events.append(f"register {name} {metadata}")

    def unregister(self, name: str) -> None:
        self.events.append(f"unregister {name}")

    def register_function(self, service: str, fname: str, fn: Any, metadata: str) -> None:
        self.events.append(f"register_function {service} {fname}")

    def post_conn_accept(self, conn: Any) -> bool:
        self.events.append("post_conn_accept")
        return True

    def post_conn_close(self, conn: Any) -> None:
        self.events.append("post_conn_close")

    def post_read_request(self, req: Message) -> None:
        self.events.append(f"post_read_request {req.service_method}")

    def pre_handle_request(self, ctx: Context, req: Message) -> None:
        self.events.append("pre_handle_request")

    def pre_call(self, ctx: Context, service: str, method: str, args: Any) -> Any:
        self.events.append(f"pre_call {service}.{method} {args}")
        return args

    def post_call(self, ctx: Context, service: str, method: str, args: Any, reply: Any, err: Any) -> Any:
        self.events.append(f"post_call {reply} {err}")
        return reply

    def pre_write_response(self, req: Message, res: Message, err: Any) -> None:
        self.events.append(f"pre_write_response {err}")

    def post_write_response(self, req: Message, res: Message, err: Any) -> None:
        self.events.append(f"post_write_response {err}")

    def pre_write_request(self, msg: Message) -> None:
        self.events.append(f"pre_write_request {msg.service_method}")

    def post_write_request(self, msg: Message, err: Any) -> None:
        self.events.append(f"post_write_request {err}")

    def heartbeat_request(self, req: Message) -> None:
        self.events.append(f"heartbeat_request {req.seq}")


async def test_plugin_hooks_fire_in_order(server_factory) -> None:
    rec = Recorder()
    srv, addr = await server_factory(register=False)
    srv.add_plugin(rec)
    srv.register(Arith(), "group=a")

    def triple(args: Args) -> Reply:
        return Reply(args.A * 3)

    srv.register_function("Fn", triple)
    assert rec.events == ["register Arith group=a", "register_function Fn triple"]
    rec.events.clear()

    c = await Client.connect(addr)
    assert await c.call("Arith", "Mul", Args(2, 3), Reply) == Reply(6)
    await c.heartbeat(timeout=WAIT)
    await c.call("Arith", "Echo", b"z", bytes, serialize_type=0, metadata={"push": "1"})
    await c.aclose()
    for _ in range(100):
        if "post_conn_close" in rec.events:
            break
        await asyncio.sleep(0.05)
    assert rec.events == [
        "post_conn_accept",
        "post_read_request Mul",
        "pre_handle_request",
        "pre_call Arith.Mul Args(A=2, B=3)",
        "post_call Reply(C=6) None",
        "pre_write_response None",
        "post_write_response None",
        "heartbeat_request 1",
        "post_read_request Echo",
        "pre_handle_request",
        "pre_call Arith.Echo b'z'",
        "pre_write_request Push",
        "post_write_request None",
        "post_call b'z' None",
        "pre_write_response None",
        "post_write_response None",
        "post_conn_close",
    ]
    rec.events.clear()
    await srv.shutdown()
    assert sorted(rec.events) == ["unregister Arith", "unregister Fn"]


async def test_post_conn_accept_false_closes(server_factory, raw) -> None:
    closed: list[str] = []

    class Refuse:
        def post_conn_accept(self, conn: Any) -> bool:
            return False

        def post_conn_close(self, conn: Any) -> bool:
            closed.append("refuse")
            return True

    srv, addr = await server_factory()
    srv.add_plugin(Refuse())
    p = await raw(addr)
    await p.send(MUL_REQUEST)
    assert await p.wait_closed_by_server() == []
    assert srv.active_connections == []
    await asyncio.sleep(0.05)
    assert closed == []  # as Go: a refused connection was never accepted, so it is not reported closed


async def test_post_conn_close_false_stops_the_chain(server_factory) -> None:
    closed: list[str] = []

    class First:
        def post_conn_close(self, conn: Any) -> bool:
            closed.append("first")
            return False

    class Second:
        def post_conn_close(self, conn: Any) -> None:
            closed.append("second")

    srv, addr = await server_factory()
    srv.add_plugin(First())
    srv.add_plugin(Second())
    async with await Client.connect(addr) as c:
        await c.call("Arith", "Mul", Args(1, 1), Reply)
    for _ in range(200):
        if closed:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)
    assert closed == ["first"]


async def test_pre_call_replaces_args_and_post_call_replaces_reply(server_factory) -> None:
    class Rewrite:
        def pre_call(self, ctx: Context, service: str, method: str, args: Any) -> Any:
            if method == "Mul":
                return Args(args.A + 1, args.B)
            return args

        async def post_call(self, ctx: Context, service: str, method: str, args: Any, reply: Any, err: Any) -> Any:
            if method == "Add":
                return Reply(reply.C * 100)
            return reply

    srv, addr = await server_factory()
    srv.add_plugin(Rewrite())
    async with await Client.connect(addr) as c:
        assert await c.call("Arith", "Mul", Args(2, 3), Reply) == Reply(9)
        assert await c.call("Arith", "Add", Args(2, 3), Reply) == Reply(500)


async def test_pre_call_error_and_post_call_error(server_factory) -> None:
    class Guard:
        def pre_call(self, ctx: Context, service: str, method: str, args: Any) -> Any:
            if method == "Mul":
                raise PermissionError("mul is forbidden")
            return args

        def post_call(self, ctx: Context, service: str, method: str, args: Any, reply: Any, err: Any) -> Any:
            if method == "Add":
                raise ValueError("post_call refused")
            return reply

    srv, addr = await server_factory()
    srv.add_plugin(Guard())
    async with await Client.connect(addr) as c:
        with pytest.raises(ServiceError, match="^mul is forbidden$"):
            await c.call("Arith", "Mul", Args(2, 3), Reply)
        with pytest.raises(ServiceError, match="^post_call refused$"):
            await c.call("Arith", "Add", Args(2, 3), Reply)
        # the method's own error wins over a post_call error
        with pytest.raises(ServiceError, match="^arith failed on purpose$"):
            await c.call("Arith", "Fail", Args(2, 3), Reply)


async def test_post_read_request_error_replies_and_closes(server_factory, raw) -> None:
    class Limit:
        def post_read_request(self, req: Message) -> None:
            if req.service_method == "Add":
                raise RuntimeError("request reached rate limit")

    srv, addr = await server_factory()
    srv.add_plugin(Limit())
    p = await raw(addr)
    await p.send(MUL_REQUEST)
    assert encode(await p.recv()) == MUL_RESPONSE
    await p.send(req("Arith", "Add", bytes.fromhex("82a1410aa14214"), seq=2))
    frames = await p.wait_closed_by_server()
    assert [(f.seq, f.error) for f in frames] == [(2, "request reached rate limit")]


async def test_heartbeat_plugin_with_raw_heartbeat(server_factory, raw) -> None:
    rec = Recorder()
    srv, addr = await server_factory()
    srv.add_plugin(rec)
    p = await raw(addr)
    await p.send(HEARTBEAT)
    assert encode(await p.recv()) == HEARTBEAT_ECHO
    assert rec.events == ["post_conn_accept", "heartbeat_request 5"]


async def test_async_hook_where_only_sync_is_supported_is_refused() -> None:
    """Hooks the server calls synchronously must not silently turn into never-awaited coroutines."""
    from rpcx import Server

    class AsyncAccept:
        async def post_conn_accept(self, conn: Any) -> bool:
            return False

    with pytest.raises(TypeError, match="post_conn_accept"):
        Server().add_plugin(AsyncAccept())
