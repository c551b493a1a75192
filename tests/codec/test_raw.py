"""Serialize type 0: the payload is the bytes, untouched (Go's ByteCodec: []byte or *[]byte only)."""

from __future__ import annotations

from typing import Any

import pytest

from rpcx.codec.raw import RawCodec
from rpcx.errors import CodecError


@pytest.fixture
def codec() -> RawCodec:
    return RawCodec()


def test_identity(codec: RawCodec) -> None:
    assert codec.serialize_type == 0
    assert codec.name == "raw"


def test_bytes_pass_through_untouched(codec: RawCodec) -> None:
    data = bytes(range(256))
    assert codec.encode(data) is data
    assert codec.decode(data) is data
    assert codec.decode(data, bytes) is data
    assert codec.decode(data, Any) is data


@pytest.mark.parametrize("kind", [bytearray, memoryview])
def test_bytes_like_become_bytes(codec: RawCodec, kind: type) -> None:
    out = codec.encode(kind(b"\x00ab"))
    assert type(out) is bytes and out == b"\x00ab"


def test_none_is_empty_payload(codec: RawCodec) -> None:
    assert codec.encode(None) == b""


def test_decode_into_bytearray_and_str(codec: RawCodec) -> None:
    got = codec.decode(b"ab", bytearray)
    assert type(got) is bytearray and got == bytearray(b"ab")
    assert codec.decode("héllo".encode(), str) == "héllo"


@pytest.mark.parametrize("obj", ["text", 1, 1.5, [1], {"a": 1}])
def test_encode_non_bytes_is_refused(codec: RawCodec, obj: object) -> None:
    # Go's ByteCodec refuses anything but []byte; sending str(obj) would be a silent fallback
    with pytest.raises(CodecError, match="is not bytes"):
        codec.encode(obj)


@pytest.mark.parametrize("into", [int, dict, list])
def test_decode_into_other_types_is_refused(codec: RawCodec, into: type) -> None:
    with pytest.raises(CodecError):
        codec.decode(b"12", into)
