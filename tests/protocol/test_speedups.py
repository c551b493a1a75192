"""The C functions of rpcx._speedups against their pure-Python twins, on good and hostile bytes.

The twins define the behaviour; the C versions must agree with them byte for byte. ``make test``
sets RPCX_REQUIRE_SPEEDUPS=1, so a C extension that failed to build fails the suite there instead
of the run silently testing only the twins.
"""

from __future__ import annotations

import importlib
import os
import struct
from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rpcx import _accel
from rpcx.protocol import Message, encode, make_response
from rpcx.protocol.decoder import py_split_frames
from rpcx.protocol.message import py_encode_plain_response, py_peek_route

from ._frames import VECTOR_A, VECTOR_B_REQUEST, VECTOR_C_REQUEST, VECTOR_D, meta_pairs, raw_frame


def _load() -> ModuleType | None:
    try:
        return importlib.import_module("rpcx._speedups")
    except ImportError:
        return None


C = _load()
needs_c = pytest.mark.skipif(C is None, reason="rpcx._speedups is not built (no C compiler at install time)")


def test_extension_is_built_where_required() -> None:
    if os.environ.get("RPCX_REQUIRE_SPEEDUPS"):
        assert C is not None, "rpcx._speedups failed to build; the suite would test only the Python twins"
    if os.environ.get("RPCX_PURE_PYTHON"):
        assert _accel.speedups is None
    else:
        assert _accel.speedups is C


FRAMES = [
    VECTOR_A,
    VECTOR_B_REQUEST,
    VECTOR_C_REQUEST,
    VECTOR_D,
    encode(Message(service_path="Arith", service_method="Mul", seq=2**64 - 1, payload=b"x" * 3000)),
    raw_frame(path=b"abc", path_len=200),
    raw_frame(method=b"abc", method_len=200),
    raw_frame(meta=meta_pairs((b"a", b"b")), meta_len=200),
    raw_frame(payload=b"abc", payload_len=4),
    raw_frame(payload=b"abc", payload_len=2),
    raw_frame(path=b"p", path_len=2**32 - 1),
    raw_frame(total=15)[:31],
    b"\x08" + bytes(15),
    b"",
]


@needs_c
@pytest.mark.parametrize("frame", FRAMES)
def test_peek_route_twins_agree(frame: bytes) -> None:
    assert C is not None
    assert C.peek_route(frame) == py_peek_route(frame)
    assert C.peek_route(bytearray(frame)) == py_peek_route(bytearray(frame))


@needs_c
@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=0, max_size=80))
def test_peek_route_twins_agree_on_noise(noise: bytes) -> None:
    assert C is not None
    frame = b"\x08" + noise
    assert C.peek_route(frame) == py_peek_route(frame)


@needs_c
@settings(max_examples=300, deadline=None)
@given(
    st.integers(0, 255), st.integers(0, 255), st.integers(0, 255), st.integers(0, 2**64 - 1),
    st.binary(max_size=40), st.binary(max_size=2000),
)  # fmt: skip
def test_encode_plain_response_twins_agree(version: int, flags: int, ser: int, seq: int, route: bytes, payload: bytes) -> None:
    assert C is not None
    want = py_encode_plain_response(version, flags, ser, seq, route, payload)
    assert C.encode_plain_response(version, flags, ser, seq, route, payload) == want
    assert C.encode_plain_response(version, flags, ser, seq, route, memoryview(payload)) == want


@needs_c
def test_encode_plain_response_matches_make_response() -> None:
    assert C is not None
    req = Message(version=1, oneway=True, status=1, serialize_type=3, seq=2**64 - 1, service_path="Arith",
                  service_method="Mul", payload=b"args")  # fmt: skip
    version, flags, ser, seq, route, _mdl, _poff = C.peek_route(encode(req))
    assert C.encode_plain_response(version, flags, ser, seq, route, b"reply") == encode(make_response(req, b"reply"))


@needs_c
@pytest.mark.parametrize("bad", [(256, 0, 0, 0), (0, 0, -1, 0), (0, 0, 0, 2**64), (0, 0, 0, -1)])
def test_encode_plain_response_refuses_out_of_range_fields(bad: tuple[int, int, int, int]) -> None:
    assert C is not None
    with pytest.raises((OverflowError, struct.error)):
        py_encode_plain_response(*bad, b"", b"")
    with pytest.raises(OverflowError):
        C.encode_plain_response(*bad, b"", b"")


@needs_c
def test_encode_plain_response_keeps_only_the_flag_bits_a_reply_keeps() -> None:
    assert C is not None
    for flags in (-1, 0xFF, 0x1C, 0x63):
        assert C.encode_plain_response(0, flags, 0, 1, b"r", b"") == py_encode_plain_response(0, flags, 0, 1, b"r", b"")


def _frame(i: int) -> bytes:
    return encode(Message(service_path="S", service_method="M", seq=i, payload=b"p" * i))


STREAMS = [
    b"",
    _frame(1),
    _frame(1) + _frame(2) + _frame(30),
    _frame(1) + _frame(2)[:7],
    _frame(1)[:16],
    _frame(1) + b"GET / HTTP/1.1\r\n",
    _frame(3) + b"\x08\x00\x00\x00" + bytes(8) + b"\xff\xff\xff\xff",
    b"\x09" + _frame(1),
]


@needs_c
@pytest.mark.parametrize("max_len", [0, 10, 1 << 20])
@pytest.mark.parametrize("stream", STREAMS)
def test_split_frames_twins_agree(stream: bytes, max_len: int) -> None:
    assert C is not None
    for src in (stream, bytearray(stream)):
        assert C.split_frames(src, max_len) == py_split_frames(src, max_len)


@needs_c
def test_split_frames_hands_back_a_whole_read_uncopied() -> None:
    assert C is not None
    f = _frame(5)
    for impl in (C.split_frames, py_split_frames):
        frames, used, kind, _ = impl(f, 0)
        assert frames[0] is f and used == len(f) and kind == 0
        # a bytearray (the decoder's buffer) is always copied: it is about to change
        ba = bytearray(f)
        assert type(impl(ba, 0)[0][0]) is bytes


@needs_c
@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 40), max_size=6), st.integers(0, 60), st.binary(max_size=3))
def test_split_frames_twins_agree_on_random_streams(sizes: list[int], cut: int, tail: bytes) -> None:
    assert C is not None
    stream = b"".join(_frame(i) for i in sizes)
    stream = stream[: max(len(stream) - cut, 0)] + tail
    assert C.split_frames(stream, 64) == py_split_frames(stream, 64)
