"""Serialize type 1 against Go's encoding/json (docs/wire-format.md §7)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from rpcx.codec.json import JSONCodec
from rpcx.errors import CodecError

from .models import Args, Color, Inner, NoDefaults, Outer, Renamed, Reply, UReply


@pytest.fixture
def codec() -> JSONCodec:
    return JSONCodec()


def test_identity(codec: JSONCodec) -> None:
    assert codec.serialize_type == 1
    assert codec.name == "json"


def test_compact_go_field_names_no_newline(codec: JSONCodec) -> None:
    assert codec.encode(Args(10, 20)) == b'{"A":10,"B":20}'
    assert codec.encode(Reply(200)) == b'{"C":200}'
    assert codec.encode({"A": 10, "B": 20}) == b'{"A":10,"B":20}'
    assert not codec.encode([1, {"x": None}]).endswith(b"\n")
    assert codec.encode([1, {"x": None}]) == b'[1,{"x":null}]'


def test_decode_what_go_sends(codec: JSONCodec) -> None:
    # the payloads of the golden json_mul request/response
    assert codec.decode(b'{"A":10,"B":20}', Args) == Args(10, 20)
    assert codec.decode(b'{"C":200}', Reply) == Reply(200)
    # Go's TestMessage payload: whitespace and tabs, but a trailing comma is not JSON
    with pytest.raises(CodecError):
        codec.decode(b'{\n\t\t"A": 1,\n\t\t"B": 2,\n\t}\n\t', Args)
    assert codec.decode(b'{\n\t\t"A": 1,\n\t\t"B": 2\n\t}\n\t', Args) == Args(1, 2)


def test_case_insensitive_decode(codec: JSONCodec) -> None:
    assert codec.decode(b'{"a":1}', Args) == Args(A=1)
    assert codec.decode(b'{"a":1,"b":2}', Args) == Args(1, 2)
    assert codec.decode(b'{"NAME":"n","tags":["t"]}', Inner) == Inner("n", ["t"])
    assert codec.decode(b'{"UID":5}', Renamed) == Renamed(5)


def test_duplicate_keys_last_wins_like_go(codec: JSONCodec) -> None:
    assert codec.decode(b'{"a":1,"A":2}', Args) == Args(2)
    assert codec.decode(b'{"A":2,"a":1}', Args) == Args(1)


def test_unknown_keys_ignored(codec: JSONCodec) -> None:
    assert codec.decode(b'{"A":1,"Extra":{"deep":[1,2]},"B":2}', Args) == Args(1, 2)


def test_bytes_are_base64(codec: JSONCodec) -> None:
    wire = codec.encode(Outer(ID=1, Data=b"\x00\x01\xff"))
    assert json.loads(wire)["Data"] == "AAH/"
    assert codec.encode(b"hi") == b'"aGk="'
    assert codec.decode(wire, Outer).Data == b"\x00\x01\xff"
    assert codec.decode(b'{"Data":null}', Outer).Data == b""


@pytest.mark.parametrize("value", [2**53 + 1, 2**63 - 1, -(2**63), 2**64 - 1, 12345678901234567891])
def test_big_integers_are_exact(codec: JSONCodec, value: int) -> None:
    # plain int is Go's int64; values past it need a uint64 field, as in Go
    cls = Reply if value < 2**63 else UReply
    wire = codec.encode(cls(value))
    assert wire == b'{"C":' + str(value).encode() + b"}"
    assert codec.decode(wire, cls).C == value
    assert codec.decode(wire)["C"] == value


def test_number_into_int_must_be_an_integer_literal(codec: JSONCodec) -> None:
    # Go: json: cannot unmarshal number 1.5 into Go struct field Args.A of type int
    for bad in (b'{"A":1.5}', b'{"A":1.0}', b'{"A":1e3}', b'{"A":"1"}', b'{"A":true}', b'{"A":[1]}'):
        with pytest.raises(CodecError):
            codec.decode(bad, Args)


def test_int_into_float_field(codec: JSONCodec) -> None:
    assert codec.decode(b'{"Scores":{"a":1,"b":2.5}}', Outer).Scores == {"a": 1.0, "b": 2.5}


def test_null_leaves_zero_values_like_go(codec: JSONCodec) -> None:
    got = codec.decode(b'{"I":null,"F":null,"S":null,"T":null,"D":null,"L":null,"M":null,"O":null}', NoDefaults)
    assert got == NoDefaults(0, 0.0, "", False, b"", [], {}, None)
    assert codec.decode(b"null", Args) == Args()


def test_missing_keys_give_defaults_and_zero_values(codec: JSONCodec) -> None:
    assert codec.decode(b"{}", NoDefaults) == NoDefaults(0, 0.0, "", False, b"", [], {}, None)
    assert codec.decode(b'{"B":3}', Args) == Args(0, 3)


def test_nested_list_dict_optional_round_trip(codec: JSONCodec) -> None:
    value = Outer(
        ID=2**60,
        Data=b"\xfe",
        Child=Inner("c", ["x"]),
        MaybeChild=None,
        Children=[Inner("a"), Inner("b")],
        ByName={"k": Inner("v", ["w"])},
        Scores={"s": -0.25},
        Maybe=4,
        Union=None,
        Color=Color.BLUE,
    )
    wire = codec.encode(value)
    tree = json.loads(wire)
    assert tree["MaybeChild"] is None
    assert tree["Color"] == 2
    assert tree["Child"] == {"Name": "c", "Tags": ["x"]}
    assert codec.decode(wire, Outer) == value


def test_unicode_is_utf8_not_escaped(codec: JSONCodec) -> None:
    assert codec.encode({"s": "héllo ✓"}) == '{"s":"héllo ✓"}'.encode()
    assert codec.decode('{"Name":"héllo ✓"}'.encode(), Inner).Name == "héllo ✓"


def test_invalid_utf8_is_replaced_like_go(codec: JSONCodec) -> None:
    assert codec.decode(b'{"Name":"a\xffb"}', Inner).Name == "a\ufffdb"


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_floats_are_refused_like_go(codec: JSONCodec, value: float) -> None:
    # Go: json: unsupported value: NaN. Writing NaN would give a payload Go cannot parse.
    with pytest.raises(CodecError):
        codec.encode({"x": value})


@pytest.mark.parametrize("wire", [b"{'A':1}", b"nul", b"\xff", b"}"])
def test_invalid_json_is_codec_error(codec: JSONCodec, wire: bytes) -> None:
    with pytest.raises(CodecError, match="json"):
        codec.decode(wire, Args)


@pytest.mark.parametrize("wire", [b"{", b'{"A":1', b'{"A":1,', b'{"A":"x'])
def test_cut_short_is_gos_unexpected_eof(codec: JSONCodec, wire: bytes) -> None:
    # what rpcx v1.9.4's JSONCodec.Decode returns for these (checked against Go)
    with pytest.raises(CodecError, match="^unexpected EOF$"):
        codec.decode(wire, Args)


def test_trailing_data_ignored_like_gos_decoder(codec: JSONCodec) -> None:
    assert codec.decode(b'{"A":1}x', Args) == Args(1, 0)


def test_type_mismatch_is_codec_error(codec: JSONCodec) -> None:
    # encoding/json has no array form for structs (that is a msgpack-only convenience)
    for arr in (b"[1,2]", b"[1,2,3]"):
        with pytest.raises(CodecError):
            codec.decode(arr, Args)
    with pytest.raises(CodecError):
        codec.decode(b'"text"', Args)
    with pytest.raises(CodecError):
        codec.decode(b'{"Name":5}', Inner)
    with pytest.raises(CodecError):
        codec.decode(b'{"Tags":"notalist"}', Inner)


def test_encode_unsupported_is_codec_error(codec: JSONCodec) -> None:
    with pytest.raises(CodecError):
        codec.encode(object())


def test_decode_without_type_gives_plain_tree(codec: JSONCodec) -> None:
    tree: Any = codec.decode(b'{"A":[1,{"b":null}],"c":"d"}')
    assert tree == {"A": [1, {"b": None}], "c": "d"}
    assert codec.decode(b'{"A":1}', dict) == {"A": 1}


def test_round_trip_plain_values(codec: JSONCodec) -> None:
    for v in [None, True, 0, -7, 1.5, "", "x", [], {}, {"a": [1, 2, {"b": "c"}]}]:
        assert codec.decode(codec.encode(v)) == v


def test_base64_is_go_std_encoding(codec: JSONCodec) -> None:
    assert codec.decode(b'{"Data":"AAH/\\r\\n"}', Outer).Data == b"\x00\x01\xff"  # Go skips CR/LF
    for bad in (b'{"Data":"!!!!"}', b'{"Data":"AAH_"}', b'{"Data":"AAH"}'):
        with pytest.raises(CodecError):  # not silently decoded to something else
            codec.decode(bad, Outer)
