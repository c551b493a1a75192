"""Serialize type 3 against what Go's vmihailenco/msgpack v5 writes and accepts (docs/wire-format.md §7)."""

from __future__ import annotations

from typing import Any

import pytest

msgpack = pytest.importorskip("msgpack")

from rpcx.codec.msgpack import MsgpackCodec  # noqa: E402
from rpcx.errors import CodecError  # noqa: E402

from .models import Args, Color, Inner, NoDefaults, Outer, Renamed, Reply, UReply  # noqa: E402

# What Go writes (docs/wire-format.md §7 and §16 B, and the golden capture)
GO_ARGS_INT = bytes.fromhex("82a1410aa14214")  # Args{A, B int}{10, 20}
GO_ARGS_INT64 = bytes.fromhex("82a141d3000000000000000aa142d30000000000000014")  # A, B int64
GO_REPLY_INT = bytes.fromhex("81a143ccc8")  # Reply{C int}{200}
GO_REPLY_INT64 = bytes.fromhex("81a143d300000000000000c8")  # Reply{C int64}{200}


@pytest.fixture
def codec() -> MsgpackCodec:
    return MsgpackCodec()


def test_identity(codec: MsgpackCodec) -> None:
    assert codec.serialize_type == 3
    assert codec.name == "msgpack"


def test_encode_args_like_go(codec: MsgpackCodec) -> None:
    assert codec.encode(Args(10, 20)) == GO_ARGS_INT
    assert codec.encode({"A": 10, "B": 20}) == GO_ARGS_INT
    assert codec.encode(Reply(200)) == GO_REPLY_INT


@pytest.mark.parametrize("wire", [GO_REPLY_INT, GO_REPLY_INT64], ids=["int", "int64"])
def test_decode_go_reply(codec: MsgpackCodec, wire: bytes) -> None:
    assert codec.decode(wire, Reply) == Reply(C=200)
    assert codec.decode(wire) == {"C": 200}
    assert codec.decode(wire, dict) == {"C": 200}


@pytest.mark.parametrize("wire", [GO_ARGS_INT, GO_ARGS_INT64], ids=["int", "int64"])
def test_decode_go_args(codec: MsgpackCodec, wire: bytes) -> None:
    assert codec.decode(wire, Args) == Args(10, 20)
    assert codec.decode(wire) == {"A": 10, "B": 20}


@pytest.mark.parametrize(
    "value",
    [0, 1, 127, 128, 255, 256, -1, -32, -33, -128, -129, 2**31, -(2**31) - 1, 2**63 - 1, -(2**63), 2**64 - 1],
)
def test_integers_every_width(codec: MsgpackCodec, value: int) -> None:
    # Go's int64 form (d3 + 8 bytes) and whatever width we chose both land on the same value
    cls = Reply if value < 2**63 else UReply
    assert codec.decode(codec.encode(cls(value)), cls) == cls(value)
    if -(2**63) <= value < 2**63:
        d3 = b"\x81\xa1C\xd3" + value.to_bytes(8, "big", signed=True)
        assert codec.decode(d3, Reply) == Reply(value)


def test_int_width_is_compact(codec: MsgpackCodec) -> None:
    assert codec.encode(10) == b"\x0a"
    assert codec.encode(200) == b"\xcc\xc8"
    assert codec.encode(-1) == b"\xff"
    assert codec.encode(2**64 - 1) == b"\xcf" + b"\xff" * 8


def test_float_is_float64_like_go(codec: MsgpackCodec) -> None:
    assert codec.encode(1.5) == b"\xcb\x3f\xf8" + bytes(6)
    assert codec.decode(b"\xca\x3f\xc0\x00\x00") == 1.5  # Go float32


def test_int_into_float_field_is_accepted(codec: MsgpackCodec) -> None:
    from dataclasses import dataclass

    @dataclass
    class F:
        X: float = 0.0

    assert codec.decode(b"\x81\xa1X\x05", F) == F(5.0)


def test_float_into_int_field_is_refused_like_go(codec: MsgpackCodec) -> None:
    # vmihailenco: "msgpack: invalid code=cb decoding int64"
    with pytest.raises(CodecError):
        codec.decode(codec.encode({"C": 2.0}), Reply)


def test_bytes_are_bin(codec: MsgpackCodec) -> None:
    wire = codec.encode(Outer(ID=1, Data=b"\x00\x01\xff"))
    tree = msgpack.unpackb(wire, raw=False)
    assert tree["Data"] == b"\x00\x01\xff"
    assert b"\xc4\x03\x00\x01\xff" in wire
    assert codec.encode(b"ab") == b"\xc4\x02ab"
    assert codec.encode(bytearray(b"ab")) == b"\xc4\x02ab"
    assert codec.encode("ab") == b"\xa2ab"  # str stays str


def test_bin_and_str_decode_into_bytes_and_str(codec: MsgpackCodec) -> None:
    # vmihailenco decodes str into []byte and bin into string
    assert codec.decode(b"\x81\xa4Data\xa2hi", Outer).Data == b"hi"
    assert codec.decode(b"\x81\xa4Name\xc4\x02hi", Inner).Name == "hi"


def test_go_nil_slice_and_nil_values(codec: MsgpackCodec) -> None:
    # Go writes nil []byte, nil slices, nil maps and nil pointers as c0
    wire = b"\x85\xa4Data\xc0\xa8Children\xc0\xa6ByName\xc0\xaaMaybeChild\xc0\xa2ID\xc0"
    assert codec.decode(wire, Outer) == Outer()


def test_exact_case_sensitive_keys(codec: MsgpackCodec) -> None:
    assert codec.decode(b"\x82\xa1a\x0a\xa1b\x14", Args) == Args(0, 0)
    assert codec.decode(b"\x82\xa1a\x0a\xa1B\x14", Args) == Args(0, 20)


def test_unknown_keys_are_skipped(codec: MsgpackCodec) -> None:
    wire = codec.encode({"X": [1, 2, {"deep": b"x"}], "A": 10, "Zzz": None, "B": 20})
    assert codec.decode(wire, Args) == Args(10, 20)


def test_array_of_field_count_length(codec: MsgpackCodec) -> None:
    assert codec.decode(b"\x92\x0a\x14", Args) == Args(10, 20)
    with pytest.raises(CodecError):
        codec.decode(b"\x93\x0a\x14\x01", Args)
    with pytest.raises(CodecError):
        codec.decode(b"\x91\x0a", Args)


def test_missing_keys_give_defaults_and_zero_values(codec: MsgpackCodec) -> None:
    assert codec.decode(b"\x81\xa1B\x07", Args) == Args(0, 7)
    assert codec.decode(b"\x80", NoDefaults) == NoDefaults(0, 0.0, "", False, b"", [], {}, None)
    assert codec.decode(b"\xc0", Args) == Args()


def test_nested_list_dict_optional_round_trip(codec: MsgpackCodec) -> None:
    value = Outer(
        ID=-5,
        Data=b"\x00" * 3,
        Child=Inner("c", ["x", "y"]),
        MaybeChild=Inner("m"),
        Children=[Inner("a"), Inner("b", ["t"])],
        ByName={"k": Inner("v")},
        Scores={"s": 0.5},
        Maybe=0,
        Union=9,
        Color=Color.BLUE,
    )
    back = codec.decode(codec.encode(value), Outer)
    assert back == value
    assert isinstance(back.Children[1], Inner)
    assert isinstance(back.ByName["k"], Inner)
    assert back.Color is Color.BLUE


def test_nested_from_go_shaped_map(codec: MsgpackCodec) -> None:
    tree = {"ID": 3, "Child": {"Name": "n", "Tags": ["a"]}, "Children": [{"Name": "x"}], "ByName": {"q": {}},
            "MaybeChild": None, "Maybe": None}
    got = codec.decode(msgpack.packb(tree, use_bin_type=True), Outer)
    assert got == Outer(ID=3, Child=Inner("n", ["a"]), Children=[Inner("x")], ByName={"q": Inner()})


def test_optional_none_is_nil(codec: MsgpackCodec) -> None:
    tree = msgpack.unpackb(codec.encode(Outer()), raw=False)
    assert tree["MaybeChild"] is None and tree["Maybe"] is None
    assert list(tree) == ["ID", "Data", "Child", "MaybeChild", "Children", "ByName", "Scores", "Maybe", "Union",
                          "Color"]


def test_renamed_field(codec: MsgpackCodec) -> None:
    wire = codec.encode(Renamed(7, "n"))
    assert msgpack.unpackb(wire, raw=False) == {"uid": 7, "Name": "n"}
    assert codec.decode(wire, Renamed) == Renamed(7, "n")
    assert codec.decode(codec.encode({"UserID": 7}), Renamed) == Renamed(0, "")


def test_type_mismatch_is_codec_error(codec: MsgpackCodec) -> None:
    with pytest.raises(CodecError):
        codec.decode(codec.encode({"A": "ten"}), Args)
    with pytest.raises(CodecError):
        codec.decode(codec.encode({"Tags": 5}), Inner)
    with pytest.raises(CodecError):
        codec.decode(codec.encode({"Tags": "abc"}), Inner)  # not split into ["a", "b", "c"]
    with pytest.raises(CodecError):
        codec.decode(codec.encode([1, 2, 3]), Inner)
    with pytest.raises(CodecError):
        codec.decode(codec.encode({"A": True}), Args)


def test_non_utf8_string_survives(codec: MsgpackCodec) -> None:
    # a Go string is any bytes; msgpack str with invalid UTF-8 must not make the whole payload fail
    wire = b"\x81\xa4Name\xa3a\xff\xfe"
    got = codec.decode(wire, Inner)
    assert got.Name.encode("utf-8", "surrogateescape") == b"a\xff\xfe"
    assert codec.encode(got) == b"\x82\xa4Name\xa3a\xff\xfe\xa4Tags\x90"


@pytest.mark.parametrize(
    "wire",
    [
        b"\xc1",  # never-used code
        b"\x92\x01",  # truncated array
        b"\x82\xa1A\x01",  # truncated map
        b"\x0a\x0b",  # trailing data
        b"\x81\x91\x01\x02",  # map key that is an array
    ],
    ids=["c1", "short-array", "short-map", "extra", "unhashable-key"],
)
def test_garbage_is_codec_error(codec: MsgpackCodec, wire: bytes) -> None:
    # a value cut short is Go's "EOF" (vmihailenco/msgpack's text, checked against Go)
    with pytest.raises(CodecError, match="^EOF$" if wire in (b"\x92\x01", b"\x82\xa1A\x01") else "msgpack"):
        codec.decode(wire, Args)


def test_encode_unsupported_is_codec_error(codec: MsgpackCodec) -> None:
    with pytest.raises(CodecError):
        codec.encode(object())
    with pytest.raises(CodecError):
        codec.encode(2**64)
    # the packer is usable after a failure
    assert codec.encode(Args(10, 20)) == GO_ARGS_INT


def test_plain_types_round_trip(codec: MsgpackCodec) -> None:
    values: list[Any] = [None, True, False, 0, -1, 1.25, "", "héllo", b"", b"\x00", [], [1, "a"], {}, {"k": [1]}]
    for v in values:
        assert codec.decode(codec.encode(v)) == v
    assert codec.decode(codec.encode((1, 2))) == [1, 2]
    assert codec.decode(codec.encode({1: "int key"})) == {1: "int key"}
