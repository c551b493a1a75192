"""handle_plain, the server's per-call hot path: its contract, for the Python definition and the C
twin alike (rpcx/_speedups.c), outside any server or socket."""

from __future__ import annotations

import importlib
from typing import Any, Callable

import pytest

from rpcx.protocol import Message, encode, make_response, parse_frame
from rpcx.protocol.message import encode_route
from rpcx.server.context import _HotCall, _hot, current_context
from rpcx.server.hotpath import py_handle_plain


def _impls() -> list[Any]:
    impls = [pytest.param(py_handle_plain, id="python")]
    try:
        impls.append(pytest.param(importlib.import_module("rpcx._speedups").handle_plain, id="c"))
    except ImportError:
        impls.append(pytest.param(None, id="c", marks=pytest.mark.skip(reason="rpcx._speedups is not built")))
    return impls


impl = pytest.mark.parametrize("handle_plain", _impls())

ROUTE = encode_route("Arith", "Mul")
JSON = 2 << 4


class Conn:
    peer = ("127.0.0.1", 1)


def request(**kw: Any) -> bytes:
    fields: dict[str, Any] = dict(service_path="Arith", service_method="Mul", seq=77, serialize_type=2, payload=b"ab")
    fields.update(kw)
    return encode(Message(**fields))


def table(func: Callable[..., Any], dec: Any = bytes.upper, enc: Any = bytes, codec: Any = None) -> dict[bytes, dict[int, Any]]:
    return {ROUTE: {JSON: (func, dec, enc, codec)}}


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
    assert out == (boom,)
    assert boom.__traceback__ is not None
    assert hot.frame is None


@impl
def test_decoder_error_is_returned(handle_plain: Any) -> None:
    def bad_dec(b: bytes) -> bytes:
        raise TypeError("cannot decode")

    out = handle_plain(request(), table(lambda a: a, dec=bad_dec), _HotCall(), Conn())
    assert type(out) is tuple and isinstance(out[0], TypeError)


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
    assert type(out) is tuple and len(out) == 1 and isinstance(out[0], RuntimeError)


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

    out = handle_plain(request(metadata={"k": "v"}), table(handler), _hot, conn)
    assert seen == {"md": {"k": "v"}, "conn": conn}
    ctx, payload = out
    assert ctx._res_md == {"echo": "v"} and payload == b"AB"
    assert _hot.frame is None
    with pytest.raises(LookupError):
        current_context()


@impl
def test_context_asked_but_no_reply_metadata_gives_the_plain_reply(handle_plain: Any) -> None:
    def handler(arg: bytes) -> bytes:
        return current_context().metadata["k"].encode()

    out = handle_plain(request(metadata={"k": "v"}), table(handler), _hot, Conn())
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
