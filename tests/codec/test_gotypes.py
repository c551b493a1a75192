"""The Go type rules of docs/types.md, under both codecs: widths, nil vs empty, time, errors."""

from __future__ import annotations

import json
import re

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Optional

import msgpack
import pytest

from rpcx.codec import Duration, FieldTypeError, Float32, Int8, Int32, Time, Uint8, Uint64
from rpcx.codec.json import JSONCodec
from rpcx.codec.msgpack import MsgpackCodec
from rpcx.errors import CodecError

UTC = timezone.utc


@dataclass
class SearchArgs:
    Query: str = ""
    SleepMs: int = 0


@dataclass
class Widths:
    I8: Int8 = 0
    U8: Uint8 = 0
    I32: Int32 = 0
    U64: Uint64 = 0
    F32: Float32 = 0.0


@dataclass
class Item:
    SKU: str = ""
    Price: float = 0.0
    Tags: Optional[list[str]] = None
    Attrs: Optional[dict[str, int]] = None
    Image: Optional[bytes] = None
    Updated: datetime = datetime(1, 1, 1, tzinfo=UTC)
    Parent: Optional[Item] = None


@dataclass
class Plain:
    Tags: list[str] = field(default_factory=list)
    Image: bytes = b""


@dataclass
class Times:
    At: datetime = datetime(1, 1, 1, tzinfo=UTC)
    Wait: timedelta = timedelta(0)
    WaitNs: Duration = 0


@dataclass
class Arrays:
    Arr: tuple[int, int, int] = (0, 0, 0)
    ByInt: dict[int, str] = field(default_factory=dict)


CODECS = [JSONCodec(), MsgpackCodec()]


@pytest.fixture(params=CODECS, ids=lambda c: c.name)
def codec(request: pytest.FixtureRequest) -> Any:
    return request.param


def test_float_in_int_field_has_gos_message() -> None:
    with pytest.raises(FieldTypeError) as err:
        JSONCodec().decode(b'{"SleepMs":5.0}', SearchArgs)
    assert str(err.value) == "json: cannot unmarshal number 5.0 into Go struct field SearchArgs.SleepMs of type int"
    e = err.value
    assert (e.struct, e.field, e.value, e.go_type, e.python_type) == ("SearchArgs", "SleepMs", "number 5.0", "int", "int")
    with pytest.raises(FieldTypeError, match=r"^msgpack: cannot unmarshal number 5\.0 into Go struct field SearchArgs\.SleepMs of type int$"):
        MsgpackCodec().decode(msgpack.packb({"SleepMs": 5.0}), SearchArgs)


@pytest.mark.parametrize(("name", "value", "go"), [
    ("I8", 128, "int8"), ("I8", -129, "int8"), ("U8", 256, "uint8"), ("U8", -1, "uint8"),
    ("I32", 2**31, "int32"), ("U64", 2**64, "uint64"), ("U64", -1, "uint64"), ("F32", 3.5e38, "float32"),
])
def test_out_of_range_refused_both_ways(codec: Any, name: str, value: Any, go: str) -> None:
    with pytest.raises(FieldTypeError, match=rf"^{codec.name}: cannot marshal \w+ {re.escape(repr(value))} as Go struct field Widths\.{name} of type {go}$"):
        codec.encode(Widths(**{name: value}))
    wire = json.dumps({name: value}).encode() if codec.name == "json" else msgpack.packb({name: value}) if abs(value) < 2**64 else None
    if wire is not None:
        with pytest.raises(FieldTypeError, match=rf"into Go struct field Widths\.{name} of type {go}$"):
            codec.decode(wire, Widths)


def test_widths_at_their_limits_cross(codec: Any) -> None:
    w = Widths(I8=-128, U8=255, I32=2**31 - 1, U64=2**64 - 1, F32=3.4028234663852886e38)
    assert codec.decode(codec.encode(w), Widths) == w


def test_plain_int_is_int64() -> None:
    with pytest.raises(FieldTypeError, match=r"cannot marshal int 9223372036854775808 as Go struct field SearchArgs\.SleepMs of type int"):
        MsgpackCodec().encode(SearchArgs(SleepMs=2**63))


def test_str_in_bytes_field_refused(codec: Any) -> None:
    with pytest.raises(FieldTypeError, match=r"cannot marshal str as Go struct field Item\.Image of type \[\]uint8$"):
        codec.encode(Item(Image="aGk="))  # type: ignore[arg-type]


def test_nested_field_path_like_go(codec: Any) -> None:
    bad = {"Parent": {"Price": "cheap"}}
    wire = JSONCodec().encode(bad) if codec.name == "json" else msgpack.packb(bad)
    with pytest.raises(FieldTypeError) as err:
        codec.decode(wire, Item)
    assert (err.value.struct, err.value.field, err.value.go_type) == ("Item", "Parent.Price", "float64")
    with pytest.raises(FieldTypeError, match=r"Go struct field Item\.Parent\.SKU of type string"):
        codec.encode(Item(Parent=Item(SKU=5)))  # type: ignore[arg-type]


def test_nil_and_empty_stay_apart(codec: Any) -> None:
    nil, empty = Item(), Item(Tags=[], Attrs={}, Image=b"")
    assert codec.decode(codec.encode(nil), Item) == nil
    assert codec.decode(codec.encode(empty), Item) == empty
    assert codec.encode(nil) != codec.encode(empty)


def test_nil_into_non_optional_gives_the_zero_value(codec: Any) -> None:
    wire = codec.encode({"Tags": None, "Image": None})
    assert codec.decode(wire, Plain) == Plain([], b"")
    with pytest.raises(FieldTypeError):
        codec.encode(Plain(Tags=None))  # type: ignore[arg-type]


def test_time_round_trips_with_nanoseconds(codec: Any) -> None:
    t = Time.from_unix_nano(1709212455123456789)
    assert isinstance(t, Time) and t.nanosecond == 123456789
    back = codec.decode(codec.encode(Times(At=t)), Times)
    assert back.At == t and back.At.nanosecond == 123456789  # type: ignore[attr-defined]


def test_time_forms_are_gos() -> None:
    t = datetime(2024, 2, 29, 13, 14, 15, 120000, tzinfo=UTC)
    assert JSONCodec().encode(t) == b'"2024-02-29T13:14:15.12Z"'
    plus2 = datetime(2024, 2, 29, 15, 14, 15, tzinfo=timezone(timedelta(hours=2)))
    assert JSONCodec().encode(plus2) == b'"2024-02-29T15:14:15+02:00"'
    assert JSONCodec().decode(b'"2024-02-29T15:14:15+02:00"', datetime) == plus2
    # msgpack: the timestamp extension, 8-byte form as vmihailenco writes it
    assert MsgpackCodec().encode(t) == msgpack.packb(msgpack.Timestamp.from_unix_nano(1709212455120000000))
    assert MsgpackCodec().encode(t)[:2] == b"\xd7\xff"
    assert JSONCodec().decode(b"null", Times).At == datetime(1, 1, 1, tzinfo=UTC)  # Go's zero time


def test_untyped_msgpack_time_is_datetime_and_echoes() -> None:
    c = MsgpackCodec()
    wire = msgpack.packb({"At": msgpack.Timestamp(1709212455, 5)})
    tree = c.decode(wire)
    assert isinstance(tree["At"], datetime)
    assert c.encode(tree) == wire
    assert c.encode(msgpack.Timestamp(1709212455, 5)) == msgpack.packb(msgpack.Timestamp(1709212455, 5))


def test_naive_datetime_refused(codec: Any) -> None:
    with pytest.raises(FieldTypeError, match="naive datetime"):
        codec.encode(Times(At=datetime(2024, 1, 1)))


def test_bad_time_text_refused() -> None:
    with pytest.raises(FieldTypeError, match=r"cannot unmarshal string '2024-13' \(not RFC 3339\) into Go struct field Times\.At of type time\.Time"):
        JSONCodec().decode(b'{"At":"2024-13"}', Times)


def test_duration_is_int64_nanoseconds(codec: Any) -> None:
    v = Times(Wait=timedelta(seconds=1, microseconds=5), WaitNs=1)
    wire = codec.encode(v)
    assert codec.decode(wire) == {"At": codec.decode(wire)["At"], "Wait": 1_000_005_000, "WaitNs": 1}
    assert codec.decode(wire, Times) == v
    with pytest.raises(FieldTypeError, match="hint the field rpcx.codec.Duration"):
        codec.decode(codec.encode({"Wait": 1}), Times)


def test_float32_is_written_as_float32_for_go() -> None:
    wire = MsgpackCodec().encode(Widths(F32=1.5))
    assert b"\xca\x3f\xc0\x00\x00" in wire and b"\xcb" not in wire
    # a float64 from another peer is rounded to what Go's float32 would hold
    assert MsgpackCodec().decode(msgpack.packb({"F32": 1.1}), Widths).F32 == pytest.approx(1.100000023841858, abs=0)


def test_arrays_and_int_keys() -> None:
    j, m = JSONCodec(), MsgpackCodec()
    v = Arrays(Arr=(1, 2, 3), ByInt={10: "ten", 2: "two", 1: "one"})
    assert j.encode(v) == b'{"Arr":[1,2,3],"ByInt":{"1":"one","10":"ten","2":"two"}}'  # Go sorts map keys
    assert j.decode(j.encode(v), Arrays) == v
    assert m.decode(m.encode(v), Arrays) == v
    assert j.decode(b'{"Arr":[1,2,3,4]}', Arrays).Arr == (1, 2, 3)  # encoding/json drops extras
    assert j.decode(b'{"Arr":[1]}', Arrays).Arr == (1, 0, 0)
    with pytest.raises(FieldTypeError, match=r"array of 4 elements into Go struct field Arrays\.Arr of type \[3\]int"):
        m.decode(msgpack.packb({"Arr": [1, 2, 3, 4]}), Arrays)
    with pytest.raises(FieldTypeError, match=r"Arrays\.Arr of type \[3\]int"):
        j.encode(Arrays(Arr=(1, 2)))  # type: ignore[arg-type]


def test_go_json_escapes() -> None:
    assert JSONCodec().encode({"S": "<a href='x'>&\u2028\u2029é"}) == (
        b'{"S":"\\u003ca href=\'x\'\\u003e\\u0026\\u2028\\u2029\xc3\xa9"}'
    )


@pytest.mark.parametrize("into", [SearchArgs, Item, int, bytes])
def test_empty_payload_is_eof_like_go(codec: Any, into: Any) -> None:
    with pytest.raises(CodecError, match="^EOF$"):
        codec.decode(b"", into)
    assert codec.decode(b"") is None  # no type asked for: nothing to fill


def test_top_level_value_error() -> None:
    with pytest.raises(FieldTypeError, match=r"^json: cannot unmarshal string into Go value of type int$"):
        JSONCodec().decode(b'"x"', int)


@dataclass
class Tagged:
    """Go: ``SKU string `json:"sku"` `` and ``Qty int `json:"qty" msgpack:"q"` ``; ``Name`` named for both."""

    SKU: str = field(default="", metadata={"json": "sku"})
    Qty: int = field(default=0, metadata={"json": "qty", "msgpack": "q"})
    Title: str = field(default="", metadata={"rpcx": "Name"})


def test_wire_names_follow_go_tags_per_codec() -> None:
    v = Tagged("a", 2, "t")
    assert JSONCodec().encode(v) == b'{"sku":"a","qty":2,"Name":"t"}'
    assert msgpack.unpackb(MsgpackCodec().encode(v)) == {"SKU": "a", "q": 2, "Name": "t"}
    for c in CODECS:
        assert c.decode(c.encode(v), Tagged) == v


def test_first_value_only_like_gos_decoder(codec: Any) -> None:
    # rpcx's codecs use json.NewDecoder / msgpack.NewDecoder: one value is read, the rest left
    wire = codec.encode(SearchArgs("q", 1)) + (b" {" if codec.name == "json" else b"\xc1")
    assert codec.decode(wire, SearchArgs) == SearchArgs("q", 1)


@pytest.mark.parametrize("text", [b"NaN", b'{"Price": Infinity}', b"-Infinity"])
def test_json_nan_and_infinity_are_not_json(text: bytes) -> None:
    with pytest.raises(CodecError, match="invalid character"):
        JSONCodec().decode(text, Item)


def test_time_survives_copy_and_pickle() -> None:
    import copy
    import dataclasses
    import pickle

    t = Time.from_unix_nano(1709212455123456789)
    for back in (copy.copy(t), copy.deepcopy(t), pickle.loads(pickle.dumps(t)),
                 dataclasses.asdict(Times(At=t))["At"]):
        assert back == t and back.nanosecond == 123456789


def test_first_use_from_many_threads_at_once() -> None:
    # the compiled functions are built once per codec; threads racing on the first call must all
    # see finished ones (a half-built recursive dataclass would fail here)
    import threading

    for codec_cls in (JSONCodec, MsgpackCodec):
        c = codec_cls()
        value = Item(SKU="x", Tags=[], Parent=Item(SKU="p"))
        errors: list[BaseException] = []
        start = threading.Barrier(8)

        def work() -> None:
            try:
                start.wait()
                for _ in range(50):
                    assert c.decode(c.encode(value), Item) == value
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        assert errors == []
