"""handle_plain, the server's per-call hot path: its contract, for the Python definition and the C
twin alike (rpcx/_speedups.c), outside any server or socket."""

from __future__ import annotations

import asyncio
import importlib
import sys
from typing import Any, Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rpcx.errors import ProtocolError
from rpcx.protocol import Message, encode, make_response, parse_frame
from rpcx.protocol.decoder import FrameDecoder
from rpcx.protocol.message import encode_route
from rpcx.server import Server
from rpcx.server.connection import ServerConnection
from rpcx.server.context import PyHotCall, _HotCall, current_context, hot_call
from rpcx.server.hotpath import MAX_READ_FRAMES, py_handle_plain, py_serve_read


def _accel_c() -> Any:
    try:
        return importlib.import_module("rpcx._speedups")
    except ImportError:
        return None


def _twins(name: str, python: Any) -> list[Any]:
    """The Python definition of ``name`` and its C twin (skipped, named, when not built)."""
    impls = [pytest.param(python, id="python")]
    c = _accel_c()
    if c is not None:
        impls.append(pytest.param(getattr(c, name), id="c"))
    else:
        impls.append(pytest.param(None, id="c", marks=pytest.mark.skip(reason="rpcx._speedups is not built")))
    return impls


impl = pytest.mark.parametrize("handle_plain", _twins("handle_plain", py_handle_plain))

ROUTE = encode_route("Arith", "Mul")
JSON = 2 << 4


class Conn:
    peer = ("127.0.0.1", 1)


def request(**kw: Any) -> bytes:
    fields: dict[str, Any] = dict(service_path="Arith", service_method="Mul", seq=77, serialize_type=2, payload=b"ab")
    fields.update(kw)
    return encode(Message(**fields))


def table(func: Callable[..., Any], dec: Any = bytes.upper, enc: Any = bytes, codec: Any = None,
          make_ctx: Any = None) -> dict[bytes, dict[int, Any]]:
    return {ROUTE: {JSON: (func, dec, enc, codec, make_ctx)}}


@impl
def test_reply_is_what_make_response_would_build(handle_plain: Any) -> None:
    req = request(metadata={"__ServerTimeout": "5000", "k": "v"}, version=3)
    out = handle_plain(req, table(lambda a: a + b"!"), _HotCall(), Conn())
    assert type(out) is bytes
    assert out == encode(make_response(parse_frame(req), b"AB!"))


@impl
def test_method_without_arguments(handle_plain: Any) -> None:
    out = handle_plain(request(), table(lambda: b"none", dec=None), _HotCall(), Conn())
    assert parse_frame(out).payload == b"none"


@impl
@pytest.mark.parametrize(
    "frame",
    [
        request(oneway=True),
        request(heartbeat=True),
        request(compress_type=1, payload=b"x" * 10),
        request(service_method="Add"),
        request(serialize_type=3),
        encode(make_response(parse_frame(request()), b"r")),
        request()[:-1],
        bytearray(request()),
    ],
    ids=["oneway", "heartbeat", "compressed", "other-method", "other-codec", "response", "short", "bytearray"],
)
def test_frames_for_the_full_path_run_nothing(handle_plain: Any, frame: bytes) -> None:
    ran = []
    assert handle_plain(frame, table(ran.append), _HotCall(), Conn()) is None
    assert ran == []


@impl
def test_method_error_is_returned_not_raised(handle_plain: Any) -> None:
    hot = _HotCall()
    boom = ValueError("boom")

    def fail(arg: bytes) -> bytes:
        raise boom

    out = handle_plain(request(), table(fail), hot, Conn())
    assert out == (boom, True)  # raised once the method was called: Go sends the zero reply too
    assert boom.__traceback__ is not None
    assert hot.frame is None


@impl
def test_decoder_error_is_returned(handle_plain: Any) -> None:
    def bad_dec(b: bytes) -> bytes:
        raise TypeError("cannot decode")

    out = handle_plain(request(), table(lambda a: a, dec=bad_dec), _HotCall(), Conn())
    assert type(out) is tuple and isinstance(out[0], TypeError) and out[1] is False


@impl
def test_encoder_falls_back_to_the_codec(handle_plain: Any) -> None:
    class Codec:
        def encode(self, v: Any) -> bytes:
            return b"generic:" + repr(v).encode()

    def picky(v: Any) -> bytes:
        raise TypeError("not mine")

    out = handle_plain(request(), table(lambda a: 5, enc=picky, codec=Codec()), _HotCall(), Conn())
    assert parse_frame(out).payload == b"generic:5"


@impl
def test_codec_fallback_error_is_returned(handle_plain: Any) -> None:
    class Codec:
        def encode(self, v: Any) -> bytes:
            raise RuntimeError("no")

    def picky(v: Any) -> bytes:
        raise TypeError("not mine")

    out = handle_plain(request(), table(lambda a: 5, enc=picky, codec=Codec()), _HotCall(), Conn())
    assert type(out) is tuple and isinstance(out[0], RuntimeError) and out[1] is True


@impl
def test_base_exceptions_propagate_and_the_call_ends(handle_plain: Any) -> None:
    hot = _HotCall()

    def stop(arg: bytes) -> bytes:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        handle_plain(request(), table(stop), hot, Conn())
    assert hot.frame is None


@impl
def test_current_context_inside_and_reply_metadata(handle_plain: Any) -> None:
    conn = Conn()
    seen = {}

    def handler(arg: bytes) -> bytes:
        ctx = current_context()
        seen["md"] = ctx.metadata
        seen["conn"] = ctx.connection
        ctx.response_metadata["echo"] = ctx.metadata["k"]
        return arg

    out = handle_plain(request(metadata={"k": "v"}), table(handler), hot_call(), conn)
    assert seen == {"md": {"k": "v"}, "conn": conn}
    ctx, payload = out
    assert ctx.reply_metadata == {"echo": "v"} and payload == b"AB"
    assert hot_call().frame is None
    with pytest.raises(LookupError):
        current_context()


@impl
def test_context_asked_but_no_reply_metadata_gives_the_plain_reply(handle_plain: Any) -> None:
    def handler(arg: bytes) -> bytes:
        return current_context().metadata["k"].encode()

    out = handle_plain(request(metadata={"k": "v"}), table(handler), hot_call(), Conn())
    assert parse_frame(out).payload == b"v"


@impl
def test_payload_that_is_not_bytes_is_handed_back(handle_plain: Any) -> None:
    out = handle_plain(request(), table(lambda a: 12, enc=lambda v: v), _HotCall(), Conn())
    assert out == (None, 12)


@impl
def test_bytes_like_payloads(handle_plain: Any) -> None:
    for enc in (bytearray, memoryview):
        out = handle_plain(request(), table(lambda a: a, enc=enc), _HotCall(), Conn())
        assert parse_frame(out).payload == b"AB"


@impl
def test_route_table_may_change_during_the_call(handle_plain: Any) -> None:
    fast = table(lambda a: (fast.clear(), a)[1])
    out = handle_plain(request(), fast, _HotCall(), Conn())
    assert parse_frame(out).payload == b"AB" and fast == {}


# -- serve_read: a whole socket read of plain requests ----------------------------------------------


read_impl = pytest.mark.parametrize("serve_read", _twins("serve_read", py_serve_read))


class Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.late: list[bytes] = []  # written after close(): a real transport may drop these
        self.closed = False

    def write(self, data: Any) -> None:
        (self.late if self.closed else self.writes).append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 1) if name == "peername" else default

    def is_closing(self) -> bool:
        return self.closed


def connection() -> tuple[ServerConnection, Transport]:
    """A server connection on a test transport (inside a running loop)."""
    conn = ServerConnection(Server())
    t = Transport()
    conn.connection_made(t)
    return conn, t


async def _aconnection() -> tuple[ServerConnection, Transport]:
    return connection()


def finisher(log: list[Any]) -> Callable[..., None]:
    return lambda conn, frame, r: log.append((parse_frame(frame).seq, r))


def seqs(writes: list[bytes]) -> list[int]:
    d = FrameDecoder()
    return [m.seq for w in writes for m in d.feed(w)]


def with_routes(routes: dict[bytes, Any]) -> tuple[ServerConnection, Transport]:
    """A connection of a server whose fast-path route table is ``routes``."""
    conn, t = connection()
    conn.server._routes.update(routes)
    return conn, t


@read_impl
async def test_a_read_of_plain_requests_is_served_in_order(serve_read: Any) -> None:
    conn, t = connection()
    ran: list[bytes] = []
    fast = table(lambda a: (ran.append(a), a)[1])
    data = b"".join(request(seq=i, payload=bytes([65 + i])) for i in range(5))
    out = serve_read(data, fast, hot_call(), conn, finisher([]), 0)
    assert ran == [b"A", b"B", b"C", b"D", b"E"]
    assert seqs([out]) == [0, 1, 2, 3, 4] and [m.payload for m in FrameDecoder().feed(out)] == ran
    assert t.writes == [] and hot_call().frame is None  # the caller writes


async def test_the_connection_writes_a_served_read_at_once() -> None:
    ran: list[bytes] = []
    conn, t = with_routes(table(lambda a: (ran.append(a), a)[1]))
    conn.data_received(b"".join(request(seq=i, payload=bytes([65 + i])) for i in range(5)))
    assert len(ran) == 5 and len(t.writes) == 1 and seqs(t.writes) == [0, 1, 2, 3, 4]


@read_impl
@pytest.mark.parametrize(
    "tail",
    [
        request(seq=9)[:20],
        request(seq=9, heartbeat=True),
        request(seq=9, oneway=True),
        request(seq=9, service_method="Add"),
        b"GET / HTTP/1.1\r\n",
        encode(Message(service_path="A", service_method="B", payload=b"x" * 100)),
    ],
    ids=["partial", "heartbeat", "oneway", "unknown-route", "garbage", "over-max-len"],
)
async def test_a_read_with_anything_else_runs_nothing(serve_read: Any, tail: bytes) -> None:
    conn, t = connection()
    ran: list[bytes] = []
    data = request(seq=1) + tail
    assert serve_read(data, table(lambda a: (ran.append(a), a)[1]), hot_call(), conn, finisher([]), 90) is None
    assert ran == [] and t.writes == []


@read_impl
async def test_too_many_frames_in_one_read_take_the_general_path(serve_read: Any) -> None:
    conn, _t = connection()
    one = request()
    fast = table(lambda a: a)
    out = serve_read(one * MAX_READ_FRAMES, fast, hot_call(), conn, finisher([]), 0)
    assert len(seqs([out])) == MAX_READ_FRAMES
    assert serve_read(one * (MAX_READ_FRAMES + 1), fast, hot_call(), conn, finisher([]), 0) is None


async def test_a_connection_holding_part_of_a_frame_takes_the_general_path() -> None:
    ran: list[bytes] = []
    conn, t = with_routes(table(lambda a: (ran.append(a), a)[1]))
    conn.data_received(request()[:10])
    conn.data_received(request()[10:])
    # the general path dispatched it: no service "Arith" is registered on this server, and the
    # fast-path table is not consulted before the service table
    assert ran == [] and [m.error for w in t.writes for m in FrameDecoder().feed(w)] == [
        "rpcx: can't find service Arith"]


@read_impl
async def test_errors_and_metadata_replies_go_to_finish_in_order(serve_read: Any) -> None:
    conn, t = connection()
    done: list[Any] = []

    def handler(a: bytes) -> bytes:
        if a == b"B":
            raise ValueError("bad B")
        if a == b"C":
            current_context().response_metadata["x"] = "y"
        return a

    data = b"".join(request(seq=i, payload=p) for i, p in enumerate([b"a", b"b", b"c"]))
    out = serve_read(data, table(handler), hot_call(), conn, finisher(done), 0)
    assert [d[0] for d in done] == [1, 2]
    assert isinstance(done[0][1][0], ValueError) and done[0][1][1] is True
    assert done[1][1][0].reply_metadata == {"x": "y"} and done[1][1][1] == b"C"
    assert seqs([out]) == [0]


@read_impl
async def test_a_method_that_closes_the_connection_stops_the_read(serve_read: Any, monkeypatch) -> None:
    monkeypatch.setattr("rpcx.server.connection.serve_read", serve_read)
    ran: list[bytes] = []

    def handler(a: bytes) -> bytes:
        ran.append(a)
        if a == b"B":
            current_context().connection.close()
        return a

    conn, t = with_routes(table(handler))
    conn.data_received(b"".join(request(seq=i, payload=p) for i, p in enumerate([b"a", b"b", b"c"])))
    assert ran == [b"A", b"B"]
    # the replies answered before the close went out before it; the third request never ran
    assert seqs(t.writes) == [0, 1] and t.closed and t.late == []


@read_impl
async def test_a_base_exception_still_writes_what_was_answered(serve_read: Any) -> None:
    conn, t = connection()

    def handler(a: bytes) -> bytes:
        if a == b"B":
            raise KeyboardInterrupt
        return a

    data = b"".join(request(seq=i, payload=p) for i, p in enumerate([b"a", b"b", b"c"]))
    with pytest.raises(KeyboardInterrupt):
        serve_read(data, table(handler), hot_call(), conn, finisher([]), 0)
    assert seqs(t.writes) == [0] and hot_call().frame is None


_PIECES = {
    "plain": lambda i: request(seq=i, payload=bytes([97 + i % 26])),
    "error": lambda i: request(seq=i, payload=b"!"),
    "heartbeat": lambda i: request(seq=i, heartbeat=True),
    "other-route": lambda i: request(seq=i, service_path="Nope"),
    "cut": lambda i: request(seq=i)[: 5 + i % 20],
    "garbage": lambda i: bytes([i % 256]) * 3,
}


@pytest.mark.skipif(_accel_c() is None, reason="rpcx._speedups is not built")
@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(sorted(_PIECES)), min_size=1, max_size=8))
def test_serve_read_twins_agree_on_mixed_reads(kinds: list[str]) -> None:
    data = b"".join(_PIECES[k](i) for i, k in enumerate(kinds))

    def handler(a: bytes) -> bytes:
        if a == b"!":
            raise ValueError("bang")
        return a

    outcomes = []
    loop = asyncio.new_event_loop()
    try:
        for serve_read in (py_serve_read, _accel_c().serve_read):  # type: ignore[union-attr]
            conn, t = loop.run_until_complete(_aconnection())
            done: list[Any] = []
            out = serve_read(data, table(handler), hot_call(), conn, finisher(done), 0)
            outcomes.append((out, t.writes, [(s, type(r[0]).__name__, r[1]) for s, r in done]))
    finally:
        loop.close()
    assert outcomes[0] == outcomes[1]
    assert (outcomes[0][0] is not None) == all(k in ("plain", "error") for k in kinds)


@pytest.mark.skipif(_accel_c() is None, reason="rpcx._speedups is not built")
@pytest.mark.parametrize("hot_type", ["python", "c"])
@pytest.mark.parametrize("handle_plain", _twins("handle_plain", py_handle_plain))
def test_either_dispatch_works_with_either_hot_call_type(handle_plain: Any, hot_type: str) -> None:
    hot = PyHotCall() if hot_type == "python" else _accel_c().HotCall()
    conn = Conn()
    seen = {}

    def handler(a: bytes) -> bytes:
        seen["during"] = (hot.frame is not None, hot.connection is conn, hot.ctx is None)
        return a

    out = handle_plain(request(), table(handler), hot, conn)
    assert parse_frame(out).payload == b"AB"
    assert seen["during"] == (True, True, True)
    assert hot.frame is None and hot.ctx is None


@pytest.mark.skipif(_accel_c() is None, reason="rpcx._speedups is not built")
def test_c_hot_call_type_behaves_like_the_slotted_class() -> None:
    c_hot, py_hot = _accel_c().HotCall(), PyHotCall()
    for h in (c_hot, py_hot):
        assert (h.frame, h.connection, h.ctx) == (None, None, None)
        h.frame = b"x"
        h.ctx = h  # a cycle through the object: the garbage collector must be able to clear it
        assert h.frame == b"x" and h.ctx is h
        with pytest.raises(AttributeError):
            h.other = 1
    with pytest.raises(TypeError):
        _accel_c().HotCall(1)


@pytest.mark.skipif(_accel_c() is None, reason="rpcx._speedups is not built")
@pytest.mark.parametrize("outcome", ["reply", "error", "metadata", "fallback-encode", "not-plain"])
async def test_c_hot_path_keeps_no_references(outcome: str) -> None:
    """Reference counts of everything the C functions touch are unchanged after many calls, on
    every outcome: a leaked reference per call would grow the server's memory without bound."""
    c = _accel_c()
    conn, _t = connection()
    hot = c.HotCall()
    err = ValueError("x")

    def handler(a: bytes) -> bytes:
        if outcome == "error":
            raise err
        if outcome == "metadata":
            current_context().response_metadata["k"] = "v"
        return a

    class Codec:
        def encode(self, v: Any) -> bytes:
            return bytes(v)

    def picky(v: Any) -> bytes:
        raise TypeError("no")

    enc = picky if outcome == "fallback-encode" else bytes
    entry = (handler, bytes.upper, enc, Codec(), None)
    fast = {ROUTE: {JSON: entry}}
    frame = request(oneway=True) if outcome == "not-plain" else request()
    data = frame * 3
    watched = [frame, data, entry, handler, conn, hot, err, fast, fast[ROUTE]]

    def finish(conn: Any, frame: bytes, r: Any) -> None:
        assert type(r) is tuple and len(r) == 2

    def settle() -> list[int]:
        # what a call leaves behind on purpose: the slots name the last call until the next one
        hot.ctx = None
        hot.connection = conn
        err.__traceback__ = None
        return [sys.getrefcount(o) for o in watched]

    for _ in range(50):  # warm up: caches, the first context
        c.handle_plain(frame, fast, hot, conn)
        c.serve_read(data, fast, hot, conn, finish, 0)
    before = settle()
    for _ in range(500):
        c.handle_plain(frame, fast, hot, conn)
        c.serve_read(data, fast, hot, conn, finish, 0)
    assert settle() == before


@pytest.mark.parametrize("pure", [False, True], ids=["accelerated", "python"])
async def test_a_codec_that_returns_no_bytes_gets_an_error_reply_not_a_broken_frame(pure: bool, monkeypatch) -> None:
    """A broken custom codec (encode returns str): the caller gets an rpcx error saying so, and the
    connection keeps serving."""
    from rpcx import Client
    from rpcx.codec.base import CodecRegistry
    from rpcx.errors import ServiceError
    from rpcx.server import hotpath

    if pure:
        monkeypatch.setattr("rpcx.server.connection.serve_read", hotpath.py_serve_read)
        monkeypatch.setattr("rpcx.server.dispatch.handle_plain", hotpath.py_handle_plain)

    class Sloppy:
        serialize_type = 9
        name = "sloppy"

        def encode(self, obj: Any) -> Any:
            return obj.decode() if isinstance(obj, bytes) else obj

        def decode(self, data: bytes, into: Any = None) -> Any:
            return data

    class Echo:
        def echo(self, data: bytes) -> bytes:
            return data

    class Honest(Sloppy):
        def encode(self, obj: Any) -> Any:
            return bytes(obj)

    codecs, client_codecs = CodecRegistry(), CodecRegistry()
    codecs.register(Sloppy())
    client_codecs.register(Honest())
    srv = Server(codecs=codecs)
    srv.register_name("E", Echo())
    addr = await srv.start("tcp@127.0.0.1:0")
    try:
        async with await Client.connect(addr, codecs=client_codecs) as c:
            for _ in range(3):  # the first call takes the full path and fills the route table
                with pytest.raises(ServiceError, match="cannot encode reply|bytes"):
                    await c.call("E", "Echo", b"hi", serialize_type=9, timeout=5)
            assert await c.call("E", "Echo", b"ok", serialize_type=0, timeout=5) == b"ok"
    finally:
        await srv.close()


@pytest.mark.skipif(_accel_c() is None, reason="rpcx._speedups is not built")
def test_deleting_a_hot_slot_from_python_cannot_crash_the_c_path() -> None:
    """Python code may try to delete the slots the C fast path reads; the type refuses, and a
    handler doing so mid-call gets an AttributeError back as its error reply, not a segfault."""
    c = _accel_c()
    hot = c.HotCall()
    for slot in ("frame", "connection", "ctx"):
        with pytest.raises(AttributeError, match="cannot be deleted"):
            delattr(hot, slot)

    def handler(a: bytes) -> bytes:
        del hot.ctx
        return a

    out = c.handle_plain(request(), table(handler), hot, Conn())
    assert isinstance(out[0], AttributeError) and out[1] is True
    assert hot.frame is None and hot.ctx is None


@impl
async def test_a_method_taking_ctx_is_served_with_a_lazy_context(handle_plain: Any) -> None:
    from rpcx.server.context import _FrameContext

    seen = {}

    def handler(ctx: Any, a: bytes) -> bytes:
        seen["md"] = ctx.metadata
        seen["same"] = current_context() is ctx
        ctx.response_metadata["x"] = "1"
        return a

    out = handle_plain(request(metadata={"k": "v"}), table(handler, make_ctx=_FrameContext), hot_call(), Conn())
    assert seen == {"md": {"k": "v"}, "same": True}
    assert out[0].reply_metadata == {"x": "1"} and out[1] == b"AB"
