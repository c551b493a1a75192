"""Serialize type 2: plain proto3 binary, as gogo/google protobuf in Go write it."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

pytest.importorskip("google.protobuf")

from rpcx.codec.protobuf import ProtobufCodec  # noqa: E402
from rpcx.errors import CodecError  # noqa: E402

from .models import Args as PyArgs  # noqa: E402
from .pbmsgs import build  # noqa: E402

ArgsPb, ReplyPb = build()


@pytest.fixture
def codec() -> ProtobufCodec:
    return ProtobufCodec()


def test_identity(codec: ProtobufCodec) -> None:
    assert codec.serialize_type == 2
    assert codec.name == "protobuf"


def test_encode_is_proto3_binary(codec: ProtobufCodec) -> None:
    # field 1 varint 10, field 2 varint 20: what Go's proto.Marshal writes for Args{A:10,B:20}
    assert codec.encode(ArgsPb(A=10, B=20)) == bytes.fromhex("080a1014")
    assert codec.encode(ReplyPb(C=200)) == bytes.fromhex("08c801")
    assert codec.encode(ReplyPb()) == b""  # proto3 zero values are not written


def test_decode_go_bytes(codec: ProtobufCodec) -> None:
    reply = codec.decode(bytes.fromhex("08c801"), ReplyPb)
    assert isinstance(reply, ReplyPb)
    assert reply.C == 200
    args = codec.decode(bytes.fromhex("080a1014"), ArgsPb)
    assert (args.A, args.B) == (10, 20)
    assert codec.decode(b"", ReplyPb).C == 0


def test_negative_int64_is_ten_byte_varint(codec: ProtobufCodec) -> None:
    wire = codec.encode(ArgsPb(A=-3, B=2**63 - 1))
    assert wire[:11] == b"\x08" + b"\xfd" + b"\xff" * 8 + b"\x01"
    back = codec.decode(wire, ArgsPb)
    assert (back.A, back.B) == (-3, 2**63 - 1)


def test_unknown_fields_are_kept_not_fatal(codec: ProtobufCodec) -> None:
    # Args bytes read as Reply: field 1 is C, field 2 is unknown and skipped
    reply = codec.decode(bytes.fromhex("080a1014"), ReplyPb)
    assert reply.C == 10


def test_decode_without_type_returns_bytes(codec: ProtobufCodec) -> None:
    assert codec.decode(b"\x08\x01") == b"\x08\x01"
    assert codec.decode(b"\x08\x01", bytes) == b"\x08\x01"


def test_encode_passes_encoded_bytes_through(codec: ProtobufCodec) -> None:
    assert codec.encode(b"\x08\x01") == b"\x08\x01"
    assert codec.encode(bytearray(b"\x08\x01")) == b"\x08\x01"


@pytest.mark.parametrize("target", [dict, PyArgs, int, str])
def test_decode_into_non_message_has_go_error_text(codec: ProtobufCodec, target: type) -> None:
    with pytest.raises(CodecError) as info:
        codec.decode(b"\x08\x01", target)
    # Go: fmt.Errorf("%T is not a proto.Unmarshaler  or pb.Message", i) -- two spaces, verbatim
    assert str(info.value) == f"{target.__name__} is not a proto.Unmarshaler  or pb.Message"


def test_decode_into_an_instance_is_refused(codec: ProtobufCodec) -> None:
    with pytest.raises(CodecError, match="is not a proto.Unmarshaler  or pb.Message"):
        codec.decode(b"\x08\x01", ArgsPb())


@pytest.mark.parametrize("obj", [{"A": 1}, PyArgs(1, 2), 5, "text", None])
def test_encode_non_message_has_go_error_text(codec: ProtobufCodec, obj: object) -> None:
    with pytest.raises(CodecError) as info:
        codec.encode(obj)
    assert str(info.value) == f"{type(obj).__name__} is not a proto.Marshaler or pb.Message"


@pytest.mark.parametrize(
    "wire", [b"\x08", b"\x0a\x05ab", b"\xff\xff\xff"], ids=["short-varint", "short-len", "bad-tag"]
)
def test_bad_bytes_are_codec_error(codec: ProtobufCodec, wire: bytes) -> None:
    with pytest.raises(CodecError, match="proto"):
        codec.decode(wire, ArgsPb)


# -- a dataclass bound to a message with __protobuf__ ---------------------------------------------


@dataclass
class BoundArgs:
    A: int = 0
    B: int = 0
    __protobuf__ = ArgsPb


@dataclass
class BoundReply:
    C: int = 0
    __protobuf__ = ReplyPb


@dataclass
class BoundWrong:
    C: int = 0
    Extra: str = ""
    __protobuf__ = ReplyPb


def test_bound_dataclass_round_trip(codec: ProtobufCodec) -> None:
    assert codec.encode(BoundArgs(10, 20)) == bytes.fromhex("080a1014")
    assert codec.decode(bytes.fromhex("08c801"), BoundReply) == BoundReply(200)


def test_bound_dataclass_that_does_not_match_is_codec_error(codec: ProtobufCodec) -> None:
    with pytest.raises(CodecError):
        codec.encode(BoundWrong(1, "x"))
    with pytest.raises(CodecError):
        codec.decode(bytes.fromhex("08c801"), BoundWrong)
