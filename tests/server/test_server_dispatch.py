"""Dispatch on a real socket: Go's exact reply bytes, errors, sync/async methods, metadata,
``__ServerTimeout``, heartbeats and oneway requests."""

from __future__ import annotations

import asyncio
import time

import pytest
from arith_service import FAIL_TEXT, Args, Reply

from rpcx import Client, Context, ServiceError, current_context
from rpcx.protocol import Message, MessageStatusType, MessageType, SerializeType, encode
from server_frames import FOO_BAR_ERROR, HEARTBEAT, HEARTBEAT_ECHO, MUL_REQUEST, MUL_RESPONSE, req

#: generous bound for "this must happen": a hang check on a loaded machine, not a speed check
WAIT = 10.0


async def test_go_mul_request_gets_go_bytes(server, raw) -> None:
    p = await raw(server)
    await p.send(MUL_REQUEST)
    res = await p.recv()
    assert encode(res) == MUL_RESPONSE


async def test_unknown_service_reply_is_go_bytes(server, raw) -> None:
    p = await raw(server)
    await p.send(req("Foo", "Bar", seq=1))
    res = await p.recv()
    assert res.message_type == MessageType.RESPONSE
    assert res.status == MessageStatusType.ERROR
    assert res.metadata == {"__rpcx_error__": "rpcx: can't find service Foo"}
    assert res.payload == b""
    assert encode(res) == FOO_BAR_ERROR


async def test_unknown_method_reply(server, raw) -> None:
    p = await raw(server)
    await p.send(req("Arith", "Div", b"\x80", seq=77))
    res = await p.recv()
    assert (res.seq, res.service_path, res.service_method) == (77, "Arith", "Div")
    assert res.status == MessageStatusType.ERROR and res.is_response
    assert res.metadata == {"__rpcx_error__": "rpcx: can't find method Div"}
    assert res.payload == b""
    # the connection stays usable after a lookup error
    await p.send(MUL_REQUEST)
    assert encode(await p.recv()) == MUL_RESPONSE


async def test_unknown_codec_and_bad_payload_are_error_replies(server, raw) -> None:
    p = await raw(server)
    await p.send(req("Arith", "Mul", b"\x82\xa1A", serialize_type=9, seq=3))
    res = await p.recv()
    assert res.error == "can not find codec for 9" and res.payload == b""
    await p.send(req("Arith", "Mul", b"\xc1\xc1", seq=4))  # 0xc1 is never valid msgpack
    res = await p.recv()
    assert res.seq == 4 and res.error is not None and res.error.startswith("msgpack")


async def test_service_error_over_client_and_raw(server, raw) -> None:
    async with await Client.connect(server) as c:
        with pytest.raises(ServiceError) as ei:
            await c.call("Arith", "Fail", Args(1, 2), Reply)
        assert str(ei.value) == FAIL_TEXT
        assert await c.call("Arith", "Mul", Args(3, 4), Reply) == Reply(12)
    p = await raw(server)
    await p.send(req("Arith", "Fail", b"\x80", seq=9))
    res = await p.recv()
    assert res.status == MessageStatusType.ERROR
    assert res.metadata["__rpcx_error__"] == FAIL_TEXT


async def test_sync_async_and_thread_handlers(server_factory) -> None:
    class Svc:
        def sync(self, args: Args) -> Reply:
            return Reply(args.A + 1)

        async def aio(self, args: Args) -> Reply:
            await asyncio.sleep(0.01)
            return Reply(args.A + 2)

        def who(self) -> str:
            return current_context().service_method

    for mode in ("inline", "thread"):
        srv, addr = await server_factory(register=False, sync_handlers=mode)
        srv.register(Svc())
        async with await Client.connect(addr) as c:
            assert await c.call("Svc", "Sync", Args(1), Reply) == Reply(2)
            assert await c.call("Svc", "Aio", Args(1), Reply) == Reply(3)
            assert await c.call("Svc", "Who", None) == "Who"


async def test_generic_exception_text_and_server_error_func(server_factory) -> None:
    class Svc:
        def boom(self) -> None:
            raise ValueError("bad value 7")

        def empty(self) -> None:
            raise KeyError()

    seen: list[BaseException] = []
    srv, addr = await server_factory(register=False, handle_service_error=seen.append)
    srv.register(Svc())
    srv2, addr2 = await server_factory(register=False, server_error_func=lambda e: f'{{"code":1,"msg":"{e}"}}')
    srv2.register(Svc())
    async with await Client.connect(addr) as c, await Client.connect(addr2) as c2:
        with pytest.raises(ServiceError, match="^bad value 7$"):
            await c.call("Svc", "Boom", None)
        with pytest.raises(ServiceError, match="^KeyError$"):
            await c.call("Svc", "Empty", None)
        with pytest.raises(ServiceError, match='^{"code":1,"msg":"bad value 7"}$'):
            await c2.call("Svc", "Boom", None)
    assert [type(e) for e in seen] == [ValueError, KeyError]


async def test_metadata_in_and_out(server) -> None:
    async with await Client.connect(server) as c:
        res_md: dict[str, str] = {}
        out = await c.call(
            "Arith", "Echo", b"\x00payload\xff", bytes,
            metadata={"k": "v\u00e9", "other": "x"}, response_metadata=res_md, serialize_type=SerializeType.NONE,
        )
        assert out == b"\x00payload\xff"
        assert res_md == {"k": "v\u00e9"}  # request metadata is not echoed, only what the handler set


async def test_response_metadata_sent_with_error(server_factory) -> None:
    class Svc:
        def fail(self, ctx: Context) -> None:
            ctx.response_metadata["trace"] = "abc"
            raise RuntimeError("nope")

    srv, addr = await server_factory(register=False)
    srv.register(Svc())
    async with await Client.connect(addr) as c:
        md: dict[str, str] = {}
        with pytest.raises(ServiceError, match="nope"):
            await c.call("Svc", "Fail", None, response_metadata=md)
        assert md == {"trace": "abc", "__rpcx_error__": "nope"}


async def test_server_timeout_sets_deadline_and_overrun_is_cancelled(server_factory) -> None:
    seen: dict[str, object] = {}
    finished = asyncio.Event()

    class Svc:
        def check(self, ctx: Context) -> float | None:
            seen["remaining"] = ctx.time_remaining()
            seen["deadline"] = ctx.deadline
            return 0.0

        async def slow(self, ctx: Context) -> str:
            try:
                await asyncio.sleep(30)
            finally:
                finished.set()
            return "too late"

        def none(self, ctx: Context) -> bool:
            return ctx.deadline is None

    srv, addr = await server_factory(register=False)
    srv.register(Svc())
    async with await Client.connect(addr) as c:
        before = time.monotonic()
        await c.call("Svc", "Check", None, metadata={"__ServerTimeout": "5000"})
        assert isinstance(seen["deadline"], float)
        assert seen["deadline"] >= before  # type: ignore[operator]
        assert 0 < seen["remaining"] <= 5.0  # type: ignore[operator]
        assert await c.call("Svc", "None", None) is True
        assert await c.call("Svc", "None", None, metadata={"__ServerTimeout": "soon"}) is True
        with pytest.raises(ServiceError, match="^context deadline exceeded$"):
            await c.call("Svc", "Slow", None, metadata={"__ServerTimeout": "100"}, timeout=WAIT)
        # the handler was cancelled, not left running
        await asyncio.wait_for(finished.wait(), WAIT)
        # a negative value (Go #561) is an already expired deadline
        finished.clear()
        with pytest.raises(ServiceError, match="^context deadline exceeded$"):
            await c.call("Svc", "Slow", None, metadata={"__ServerTimeout": "-5"}, timeout=WAIT)


async def test_handler_own_timeout_is_not_reported_as_deadline(server_factory) -> None:
    class Svc:
        async def inner(self, ctx: Context) -> None:
            async with asyncio.timeout(0.01):
                await asyncio.sleep(5)

    srv, addr = await server_factory(register=False)
    srv.register(Svc())
    async with await Client.connect(addr) as c:
        with pytest.raises(ServiceError) as ei:
            await c.call("Svc", "Inner", None, metadata={"__ServerTimeout": "60000"}, timeout=WAIT)
        assert str(ei.value) != "context deadline exceeded"


async def test_heartbeat_echo_is_go_bytes_also_oneway(server, raw) -> None:
    p = await raw(server)
    await p.send(HEARTBEAT)
    res = await p.recv()
    assert encode(res) == HEARTBEAT_ECHO
    oneway_hb = HEARTBEAT[:2] + b"\x60" + HEARTBEAT[3:]
    await p.send(oneway_hb)
    res = await p.recv()
    assert encode(res) == HEARTBEAT[:2] + b"\xe0" + HEARTBEAT[3:]
    # heartbeats with a path, metadata and a payload come back whole
    hb = Message(heartbeat=True, seq=8, service_path="x", service_method="y", metadata={"a": "b"}, payload=b"zz")
    await p.send(hb)
    assert (await p.recv()) == hb.replace(message_type=MessageType.RESPONSE)


async def test_oneway_runs_but_writes_nothing(server_factory, raw) -> None:
    ran = asyncio.Event()
    calls: list[int] = []

    class Svc:
        def note(self, args: Args) -> Reply:
            calls.append(args.A)
            ran.set()
            return Reply(args.A)

        async def anote(self, args: Args) -> Reply:
            calls.append(args.A)
            ran.set()
            return Reply(args.A)

        def bad(self) -> None:
            raise RuntimeError("not sent")

    srv, addr = await server_factory(register=False)
    srv.register(Svc())
    srv.register(Arith_())
    p = await raw(addr)
    payload = bytes.fromhex("82a1410aa14214")  # {"A": 10, "B": 20}
    for method in ("Note", "Anote"):
        ran.clear()
        await p.send(req("Svc", method, payload, seq=1, oneway=True))
        await asyncio.wait_for(ran.wait(), WAIT)
    # errors of oneway calls are not written either: unknown service, unknown method, a raising method
    await p.send(req("Nope", "Nope", seq=2, oneway=True))
    await p.send(req("Svc", "Nope", seq=3, oneway=True))
    await p.send(req("Svc", "Bad", seq=4, oneway=True))
    await p.expect_silence(0.3)
    # the next normal call's reply is the first frame to arrive
    await p.send(req("Svc", "Note", payload, seq=5))
    res = await p.recv()
    assert res.seq == 5 and res.error is None and res.payload == bytes.fromhex("81a1430a")
    assert calls == [10, 10, 10]
    assert not p.frames


class Arith_:
    """A second service on the same server, so oneway lookups are not all misses."""

    def ping(self) -> str:
        return "pong"


async def test_client_oneway_runs_the_method(server_factory) -> None:
    got: asyncio.Queue[int] = asyncio.Queue()

    class Svc:
        def note(self, args: Args) -> None:
            got.put_nowait(args.A)

    srv, addr = await server_factory(register=False)
    srv.register(Svc())
    async with await Client.connect(addr) as c:
        await c.oneway("Svc", "Note", Args(5))
        assert await asyncio.wait_for(got.get(), WAIT) == 5
        assert c.pending == 0
        assert await c.call("Svc", "Note", Args(6)) is None
        assert await asyncio.wait_for(got.get(), WAIT) == 6


async def test_pipelined_frames_in_one_write(server, raw) -> None:
    p = await raw(server)
    frames = [
        req("Arith", "Mul", bytes.fromhex("82a1410aa14214"), seq=i) if i % 2 else req("Foo", "Bar", seq=i)
        for i in range(1, 41)
    ]
    await p.send(b"".join(encode(f) for f in frames))
    got = {}
    for _ in frames:
        r = await p.recv()
        got[r.seq] = r
    assert set(got) == set(range(1, 41))
    for i, r in got.items():
        if i % 2:
            assert r.error is None and r.payload == bytes.fromhex("81a143ccc8")
        else:
            assert r.error == "rpcx: can't find service Foo"


async def test_current_context_on_every_call(server_factory) -> None:
    """Handlers without a ctx parameter reach their call through current_context(), call after call
    (the server serves repeated plain calls on a faster path; that path must keep this working)."""

    class Svc:
        def who(self, args: Args) -> str:
            ctx = current_context()
            if args.A:
                ctx.response_metadata["seen"] = str(ctx.seq)
            return f"{ctx.service_method}:{ctx.seq}"

        def boom(self, args: Args) -> None:
            current_context().response_metadata["why"] = "because"
            raise RuntimeError("boom")

    srv, addr = await server_factory(register=False)
    srv.register(Svc())
    async with await Client.connect(addr) as c:
        for i in range(5):
            md: dict[str, str] = {}
            assert await c.call("Svc", "Who", Args(i % 2), response_metadata=md) == f"Who:{i}"
            assert md == ({"seen": str(i)} if i % 2 else {})
        for _ in range(3):
            md = {}
            with pytest.raises(ServiceError, match="^boom$"):
                await c.call("Svc", "Boom", Args(), response_metadata=md)
            assert md == {"why": "because", "__rpcx_error__": "boom"}
    with pytest.raises(LookupError):
        current_context()


async def test_plain_calls_with_metadata_and_deadline_on_the_hot_path(server_factory) -> None:
    """Go clients with a context deadline send __ServerTimeout on every call; plain handlers still see
    the request metadata and the deadline through current_context(), call after call, and handlers
    that never look pay nothing for it."""

    class Svc:
        def peek(self, args: Args) -> dict:
            ctx = current_context()
            remaining = ctx.time_remaining()
            ctx.response_metadata["k"] = ctx.metadata.get("k", "")
            return {"timeout": ctx.metadata.get("__ServerTimeout"), "has_deadline": remaining is not None
                    and 0 < remaining <= 5.0}

        def plain(self, args: Args) -> Reply:
            return Reply(args.A + args.B)

    srv, addr = await server_factory(register=False)
    srv.register(Svc())
    async with await Client.connect(addr) as c:
        for i in range(4):
            md: dict[str, str] = {}
            got = await c.call("Svc", "Peek", Args(), metadata={"k": f"v{i}", "__ServerTimeout": "5000"},
                               response_metadata=md)
            assert got == {"timeout": "5000", "has_deadline": True}
            assert md == {"k": f"v{i}"}
            assert await c.call("Svc", "Plain", Args(i, 1), Reply, metadata={"__ServerTimeout": "5000"}) == Reply(i + 1)
    assert srv._routes, "plain methods are served from the raw-route cache after their first call"


async def test_protobuf_hot_path_specialised_codec_keeps_the_generic_rules(server_factory) -> None:
    """The hot path calls Cls.FromString / Cls.SerializeToString directly; a reply that does not fit
    the hint still goes through the codec's rules, and a bad payload still gets an error reply."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "codec"))
    from pbmsgs import build

    PbArgs, PbReply = build()

    class Calc:
        def mul(self, args: PbArgs) -> PbReply:  # type: ignore[valid-type]
            return PbReply(C=args.A * args.B)

        def raw_reply(self, args: PbArgs) -> PbReply:  # type: ignore[valid-type]
            return PbReply(C=args.A).SerializeToString()  # pre-encoded bytes: the codec accepts them

        def wrong(self, args: PbArgs) -> PbReply:  # type: ignore[valid-type]
            return {"C": 1}  # not a message: an error, as the generic codec says

    for fn in (Calc.mul, Calc.raw_reply, Calc.wrong):  # local classes: give the hints as objects
        fn.__annotations__ = {"args": PbArgs, "return": PbReply}
    srv, addr = await server_factory(register=False)
    srv.register(Calc())
    pb = SerializeType.PROTOBUF
    async with await Client.connect(addr) as c:
        for i in range(3):  # the first call fills the route cache, the next ones take the hot path
            assert (await c.call("Calc", "Mul", PbArgs(A=i, B=7), PbReply, serialize_type=pb)).C == 7 * i
            assert (await c.call("Calc", "RawReply", PbArgs(A=i + 1), PbReply, serialize_type=pb)).C == i + 1
            with pytest.raises(ServiceError, match="is not a proto.Marshaler or pb.Message"):
                await c.call("Calc", "Wrong", PbArgs(), PbReply, serialize_type=pb)
        bad = Message(service_path="Calc", service_method="Mul", serialize_type=pb, payload=b"\xff\xff\xff")
        res = await c.send_raw(bad, timeout=WAIT)
        assert res.status == MessageStatusType.ERROR and res.error
        assert (await c.call("Calc", "Mul", PbArgs(A=2, B=3), PbReply, serialize_type=pb)).C == 6


async def test_error_text_is_what_the_handler_wrote_and_failures_are_logged_once(server_factory, caplog) -> None:
    """``raise KeyError(f"item {sku!r} not found")`` reaches the caller as written (str(KeyError)
    would add quotes); a failing method is logged at WARNING with a traceback, once, not per call."""
    import logging

    from rpcx import ServiceError

    class Shop:
        def find(self, args: dict) -> dict:
            raise KeyError(f"item {args['sku']!r} not found")

    caplog.set_level(logging.WARNING, "rpcx.server")
    srv, addr = await server_factory(register=False)
    srv.register(Shop())
    async with await Client.connect(addr) as c:
        for _ in range(20):
            with pytest.raises(ServiceError) as err:
                await c.call("Shop", "Find", {"sku": "nope"}, dict)
            assert str(err.value) == "item 'nope' not found"
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "Shop.Find" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].exc_info is not None
    assert "item 'nope' not found" in warnings[0].getMessage()
