"""The side-channel wire contract: Go's struct field names in both codecs, and the token table."""

from __future__ import annotations

import json

import msgpack
import pytest

from rpcx.client.sidechannel import Pacer
from rpcx.codec.base import default_codecs
from rpcx.protocol.constants import SerializeType
from rpcx.protocol.sidechannel import (
    TOKEN_SIZE,
    DownloadFileArgs,
    FileTransferArgs,
    FileTransferReply,
    StreamServiceArgs,
    StreamServiceReply,
    TokenTable,
)

CODECS = default_codecs()


def test_msgpack_uses_go_field_names() -> None:
    # vmihailenco/msgpack as rpcx uses it ignores json tags: the keys are Go's field names
    wire = CODECS.get(SerializeType.MSGPACK).encode(FileTransferArgs("a.bin", 5, {"k": "v"}))
    assert msgpack.unpackb(wire) == {"FileName": "a.bin", "FileSize": 5, "Meta": {"k": "v"}}
    wire = CODECS.get(SerializeType.MSGPACK).encode(FileTransferReply(b"\x01" * 32, "127.0.0.1:9"))
    assert msgpack.unpackb(wire) == {"Token": b"\x01" * 32, "Addr": "127.0.0.1:9"}


def test_json_uses_go_json_tags() -> None:
    wire = CODECS.get(SerializeType.JSON).encode(DownloadFileArgs("a.bin", {"k": "v"}))
    assert json.loads(wire) == {"file_name": "a.bin", "meta": {"k": "v"}}
    # []byte is base64 in encoding/json
    reply = CODECS.get(SerializeType.JSON).decode(b'{"token":"AQID","addr":"h:1"}', StreamServiceReply)
    assert reply == StreamServiceReply(b"\x01\x02\x03", "h:1")


@pytest.mark.parametrize("st", [SerializeType.MSGPACK, SerializeType.JSON])
def test_nil_meta_round_trips_as_none(st: int) -> None:
    codec = CODECS.get(st)
    assert codec.decode(codec.encode(StreamServiceArgs()), StreamServiceArgs) == StreamServiceArgs(meta=None)


def test_go_omitted_fields_decode_to_zero_values() -> None:
    # Go's JSON omits empty fields (omitempty): {} is a valid FileTransferArgs
    assert CODECS.get(SerializeType.JSON).decode(b"{}", FileTransferArgs) == FileTransferArgs("", 0, None)


def test_token_is_used_once() -> None:
    t = TokenTable(capacity=10, ttl=60.0)
    tok = b"x" * TOKEN_SIZE
    t.add(tok, "v", now=0.0)
    assert t.take(b"y" * TOKEN_SIZE, now=0.0) is None
    assert t.take(tok, now=0.0) == "v"
    assert t.take(tok, now=0.0) is None


def test_token_expires_after_ttl() -> None:
    t = TokenTable(capacity=10, ttl=5.0)
    t.add(b"a" * 32, 1, now=0.0)
    t.add(b"b" * 32, 2, now=3.0)
    assert t.take(b"b" * 32, now=7.9) == 2
    t.add(b"c" * 32, 3, now=8.0)
    assert t.take(b"a" * 32, now=8.0) is None  # expired at 5.0
    assert len(t) == 1


def test_oldest_token_is_pushed_out_at_capacity() -> None:
    # Go: an LRU of waitNum tokens
    t = TokenTable(capacity=2, ttl=60.0)
    for i in range(3):
        t.add(bytes([i]) * 32, i, now=0.0)
    assert t.take(bytes([0]) * 32, now=0.0) is None
    assert [t.take(bytes([i]) * 32, now=0.0) for i in (1, 2)] == [1, 2]


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError):
        TokenTable(capacity=0, ttl=1.0)


def test_pacer_lets_a_full_bucket_through_then_paces() -> None:
    p = Pacer(100, now=10.0)
    assert p.delay(100, now=10.0) == 0.0   # the bucket starts full, as Go's
    assert p.delay(50, now=10.0) == pytest.approx(0.5)
    assert p.delay(50, now=10.5) == pytest.approx(0.5)
    assert p.delay(50, now=20.0) == 0.0
