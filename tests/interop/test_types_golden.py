"""The time, nil/empty, escaping and empty-payload frames Go wrote (tests/golden/, by gengolden):
our codecs read Go's payloads into the Python twins of its values and write the same bytes back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rpcx.codec.json import JSONCodec
from rpcx.codec.msgpack import MsgpackCodec
from rpcx.errors import CodecError
from arith_service import Args

from .types_service import WHEN, Item, sample_items

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "frames.json"
FRAMES = {f["name"]: f for f in json.loads(GOLDEN.read_text())}
CODECS: dict[str, Any] = {"msgpack": MsgpackCodec, "json": JSONCodec}


def _payload(name: str) -> bytes:
    return bytes.fromhex(FRAMES[name]["payload_hex"])


@pytest.mark.parametrize("codec", list(CODECS))
@pytest.mark.parametrize("case", ["time", "nil", "empty"])
def test_go_item_reads_and_writes_back_byte_for_byte(codec: str, case: str) -> None:
    c = CODECS[codec]()
    for direction in ("request", "response"):
        wire = _payload(f"{codec}_item_{case}_{direction}")
        item = c.decode(wire, Item)
        assert item == sample_items()[case]
        assert c.encode(item) == wire


def test_nil_and_empty_stay_apart() -> None:
    for codec in CODECS.values():
        c = codec()
        nil = c.decode(_payload(f"{codec.name}_item_nil_request"), Item)
        empty = c.decode(_payload(f"{codec.name}_item_empty_request"), Item)
        assert (nil.Tags, nil.Attrs, nil.Image) == (None, None, None)
        assert (empty.Tags, empty.Attrs, empty.Image) == ([], {}, b"")


def test_time_keeps_go_nanoseconds() -> None:
    for codec in CODECS.values():
        item = codec().decode(_payload(f"{codec.name}_item_time_request"), Item)
        assert item.Updated == WHEN
        assert item.Updated.nanosecond == 123456789  # type: ignore[attr-defined]


def test_json_escapes_like_go() -> None:
    wire = _payload("json_escape_request")
    item = JSONCodec().decode(wire, Item)
    assert (item.SKU, item.Name) == ("<a&b>", "line\u2028sep\u2029")
    assert JSONCodec().encode(item) == wire


@pytest.mark.parametrize("codec", list(CODECS))
def test_empty_payload_is_go_eof(codec: str) -> None:
    assert _payload(f"{codec}_empty_payload_request") == b""
    go_error = FRAMES[f"{codec}_empty_payload_response"]["metadata"]["__rpcx_error__"]
    with pytest.raises(CodecError) as err:
        CODECS[codec]().decode(b"", Args)
    assert str(err.value) == go_error == "EOF"
