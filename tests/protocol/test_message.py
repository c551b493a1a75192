"""Frame encode/parse against the byte vectors of docs/wire-format.md §16 and the rules of its §1-§5 and §11."""

from __future__ import annotations

import struct

import pytest

from rpcx.errors import (
    BadMagicError,
    MalformedFrameError,
    MetadataError,
    ProtocolError,
    UnsupportedCompressorError,
)
from rpcx.protocol import (
    COMPRESS_THRESHOLD,
    SERVICE_ERROR,
    CompressType,
    Message,
    MessageStatusType,
    MessageType,
    SerializeType,
    decode_metadata,
    encode,
    encode_metadata,
    make_response,
    parse_frame,
)
from rpcx.protocol.message import encode_plain_response, peek_route

from ._frames import (
    VECTOR_A,
    VECTOR_A_PAYLOAD,
    VECTOR_B_REQUEST,
    VECTOR_B_RESPONSE,
    VECTOR_C_REQUEST,
    VECTOR_C_RESPONSE,
    VECTOR_D,
    meta_pairs,
    raw_frame,
)

UUID = "6ba7b810-9dad-11d1-80b4-00c04fd430c9"


# -- §16 A: TestMessage ----------------------------------------------------------------------


def vector_a_message() -> Message:
    return Message(
        serialize_type=SerializeType.JSON,
        seq=1234567890,
        service_path="Arith",
        service_method="Add",
        metadata={"__ID": UUID},
        payload=VECTOR_A_PAYLOAD,
    )


def test_vector_a_encode_is_byte_exact() -> None:
    wire = encode(vector_a_message())
    assert len(wire) == 114
    assert wire == VECTOR_A


def test_vector_a_parse_gives_every_field() -> None:
    m = parse_frame(VECTOR_A)
    assert m.message_type == MessageType.REQUEST
    assert (m.heartbeat, m.oneway) == (False, False)
    assert m.compress_type == CompressType.NONE
    assert m.status == MessageStatusType.NORMAL
    assert m.serialize_type == SerializeType.JSON
    assert m.version == 0
    assert m.seq == 1234567890
    assert m.service_path == "Arith"
    assert m.service_method == "Add"
    assert m.metadata == {"__ID": UUID}
    assert m.payload == VECTOR_A_PAYLOAD
    assert len(m.payload) == 26
    assert m == vector_a_message()


def test_vector_a_total_length_field() -> None:
    (total,) = struct.unpack_from(">I", VECTOR_A, 12)
    assert total == 98 == len(VECTOR_A) - 16
    assert encode(vector_a_message())[12:16] == b"\x00\x00\x00\x62"


# -- §16 B: DefaultOption Mul ------------------------------------------------------------------


def test_vector_b_request() -> None:
    req = Message(
        serialize_type=SerializeType.MSGPACK,
        seq=0,
        service_path="Arith",
        service_method="Mul",
        payload=bytes.fromhex("82a1410aa14214"),
    )
    assert encode(req) == VECTOR_B_REQUEST
    back = parse_frame(VECTOR_B_REQUEST)
    assert back == req
    assert back.metadata == {}
    assert not back.is_response


def test_vector_b_response_built_by_make_response() -> None:
    req = parse_frame(VECTOR_B_REQUEST)
    res = make_response(req, bytes.fromhex("81a143ccc8"))
    assert encode(res) == VECTOR_B_RESPONSE
    back = parse_frame(VECTOR_B_RESPONSE)
    assert back.is_response
    assert back.message_type == MessageType.RESPONSE
    assert back.serialize_type == SerializeType.MSGPACK
    assert (back.service_path, back.service_method, back.seq) == ("Arith", "Mul", 0)
    assert back.payload == bytes.fromhex("81a143ccc8")
    assert back.error is None


# -- §16 C: heartbeat ---------------------------------------------------------------------------


def test_vector_c_heartbeat_and_echo() -> None:
    req = Message(
        heartbeat=True,
        serialize_type=SerializeType.MSGPACK,
        seq=5,
        payload=b"\xd3" + struct.pack(">q", 1700000000000000000),
    )
    assert encode(req) == VECTOR_C_REQUEST
    parsed = parse_frame(VECTOR_C_REQUEST)
    assert parsed == req
    assert parsed.heartbeat and not parsed.is_response
    echo = parse_frame(VECTOR_C_RESPONSE)
    assert echo.heartbeat and echo.is_response
    assert echo.payload == req.payload
    assert encode(echo) == VECTOR_C_RESPONSE


# -- §16 D: unknown service -------------------------------------------------------------------


def test_vector_d_error_response() -> None:
    req = Message(serialize_type=SerializeType.MSGPACK, seq=1, service_path="Foo", service_method="Bar",
                  payload=bytes.fromhex("82a1410aa14214"))
    res = make_response(req, b"", error="rpcx: can't find service Foo")
    assert encode(res) == VECTOR_D
    back = parse_frame(VECTOR_D)
    assert back.status == MessageStatusType.ERROR
    assert back.is_response
    assert back.error == "rpcx: can't find service Foo"
    assert back.metadata == {SERVICE_ERROR: "rpcx: can't find service Foo"}
    assert back.payload == b""
    assert (back.service_path, back.service_method, back.seq) == ("Foo", "Bar", 1)


# -- §11 make_response ----------------------------------------------------------------------------


def _request(**kw: object) -> Message:
    base = dict(
        version=7,
        seq=2**64 - 2,
        heartbeat=False,
        oneway=False,
        serialize_type=SerializeType.JSON,
        service_path="Svc",
        service_method="Do",
        metadata={"__AUTH": "tok", "req": "only"},
        payload=b"args",
    )
    base.update(kw)
    return Message(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize("heartbeat", [False, True])
@pytest.mark.parametrize("oneway", [False, True])
@pytest.mark.parametrize("ser", [0, 1, 2, 3, 4, 9, 15])
def test_make_response_keeps_header_fields(heartbeat: bool, oneway: bool, ser: int) -> None:
    req = _request(heartbeat=heartbeat, oneway=oneway, serialize_type=ser)
    res = make_response(req, b"reply")
    assert res.message_type == MessageType.RESPONSE
    assert res.seq == req.seq
    assert res.version == 7
    assert res.heartbeat is heartbeat
    assert res.oneway is oneway
    assert res.serialize_type == ser
    assert (res.service_path, res.service_method) == ("Svc", "Do")
    assert res.status == MessageStatusType.NORMAL
    assert res.payload == b"reply"
    wire = encode(res)
    assert wire[1] == 7
    assert wire[2] == 0x80 | (0x40 if heartbeat else 0) | (0x20 if oneway else 0)
    assert wire[3] == ser << 4
    assert parse_frame(wire) == res


def test_make_response_does_not_echo_request_metadata() -> None:
    req = _request()
    assert make_response(req, b"x").metadata == {}
    res = make_response(req, b"x", {"res": "1"})
    assert res.metadata == {"res": "1"}
    assert "__AUTH" not in parse_frame(encode(res)).metadata


def test_make_response_error_sets_status_and_metadata() -> None:
    req = _request()
    res = make_response(req, b"", {"res": "1"}, error="boom")
    assert res.status == MessageStatusType.ERROR
    assert res.metadata == {"res": "1", SERVICE_ERROR: "boom"}
    assert res.error == "boom"
    wire = encode(res)
    assert wire[2] & 0x03 == 1
    assert wire[2] & 0x80 == 0x80
    back = parse_frame(wire)
    assert back.error == "boom"
    assert back.metadata == {"res": "1", SERVICE_ERROR: "boom"}


def test_make_response_error_does_not_mutate_callers_metadata() -> None:
    md = {"res": "1"}
    make_response(_request(), b"", md, error="boom")
    assert md == {"res": "1"}


def test_make_response_error_with_empty_text_is_still_an_error() -> None:
    res = make_response(_request(), b"", error="")
    assert res.status == MessageStatusType.ERROR
    assert res.metadata == {SERVICE_ERROR: ""}


@pytest.mark.parametrize(
    ("req_compress", "size", "expected"),
    [
        (CompressType.NONE, 10, CompressType.NONE),
        (CompressType.NONE, 5000, CompressType.NONE),
        (CompressType.GZIP, 10, CompressType.NONE),
        (CompressType.GZIP, COMPRESS_THRESHOLD, CompressType.NONE),
        (CompressType.GZIP, COMPRESS_THRESHOLD + 1, CompressType.GZIP),
        (CompressType.GZIP, 5000, CompressType.GZIP),
    ],
)
def test_make_response_compression_rule(req_compress: int, size: int, expected: int) -> None:
    assert COMPRESS_THRESHOLD == 1024
    req = _request(compress_type=req_compress)
    payload = b"z" * size
    res = make_response(req, payload)
    assert res.compress_type == expected
    wire = encode(res)
    assert (wire[2] >> 2) & 0x7 == expected
    if expected:
        assert len(wire) < 16 + 16 + len("SvcDo") + size  # really compressed on the wire
    assert parse_frame(wire).payload == payload


# -- metadata ---------------------------------------------------------------------------------------


def test_metadata_several_keys_round_trip() -> None:
    md = {"a": "1", "bb": "22", "__AUTH": "Bearer x", "unicode-ключ": "значение ✓"}
    m = Message(service_path="S", service_method="M", metadata=md)
    assert parse_frame(encode(m)).metadata == md


def test_metadata_encoding_layout() -> None:
    assert encode_metadata({"k": "vv"}) == b"\x00\x00\x00\x01k\x00\x00\x00\x02vv"
    assert encode_metadata({}) == b""
    assert encode_metadata(None) == b""
    assert decode_metadata(b"") == {}


def test_empty_metadata_is_written_as_zero_length() -> None:
    wire = encode(Message(service_path="S", service_method="M"))
    # path(4+1) method(4+1) meta len 0 payload len 0
    assert wire[16:] == b"\x00\x00\x00\x01S\x00\x00\x00\x01M" + b"\x00" * 8


def test_metadata_empty_keys_and_values() -> None:
    md = {"": "empty-key", "empty-value": ""}
    wire = encode(Message(metadata=md))
    assert parse_frame(wire).metadata == md
    only_empty = encode_metadata({"": ""})
    assert only_empty == b"\x00" * 8
    assert decode_metadata(only_empty) == {"": ""}


def test_metadata_duplicate_key_later_wins() -> None:
    section = meta_pairs((b"k", b"first"), (b"x", b"1"), (b"k", b"second"))
    assert decode_metadata(section) == {"k": "second", "x": "1"}
    frame = raw_frame(path=b"P", method=b"M", meta=section, payload=b"p")
    assert parse_frame(frame).metadata == {"k": "second", "x": "1"}


def test_metadata_non_utf8_bytes_round_trip() -> None:
    raw_key, raw_val = b"k\xff\xfe", b"\x80\x00v\xc3"
    section = meta_pairs((raw_key, raw_val))
    frame = raw_frame(path=b"\xffpath", method=b"m\xe9", meta=section, payload=b"p")
    m = parse_frame(frame)
    key = raw_key.decode("utf-8", "surrogateescape")
    assert m.metadata == {key: raw_val.decode("utf-8", "surrogateescape")}
    assert m.service_path == b"\xffpath".decode("utf-8", "surrogateescape")
    assert encode(m) == frame


def test_metadata_length_counts_bytes_not_characters() -> None:
    md = {"ключ": "✓✓"}
    section = encode_metadata(md)
    assert section == struct.pack(">I", 8) + "ключ".encode() + struct.pack(">I", 6) + "✓✓".encode()
    assert decode_metadata(section) == md


def test_decode_metadata_window() -> None:
    section = meta_pairs((b"a", b"1"))
    data = b"JUNK" + section + b"TAIL"
    assert decode_metadata(data, 4, 4 + len(section)) == {"a": "1"}


@pytest.mark.parametrize(
    "section",
    [
        b"\x00\x00\x00",  # not even a key length
        b"\x00\x00\x00\x05ab",  # key overruns
        b"\x00\x00\x00\x01a",  # no value length
        b"\x00\x00\x00\x01a\x00\x00",  # half a value length
        b"\x00\x00\x00\x01a\x00\x00\x00\x09xy",  # value overruns
        meta_pairs((b"a", b"1")) + b"\x00",  # trailing stray byte
    ],
)
def test_decode_metadata_overrun_raises(section: bytes) -> None:
    with pytest.raises(MetadataError, match="wrong metadata lines"):
        decode_metadata(section)


# -- header bits ------------------------------------------------------------------------------------


@pytest.mark.parametrize("flags", range(256))
def test_every_flag_byte_round_trips(flags: int) -> None:
    compress = (flags >> 2) & 0x7
    # 2..7 have no compressor: carry the payload as-is, as a proxy does (decoder tests cover rejection)
    registered = compress <= 1
    m = Message(
        message_type=flags >> 7,
        heartbeat=bool(flags & 0x40),
        oneway=bool(flags & 0x20),
        compress_type=compress,
        status=flags & 0x3,
        seq=flags,
        service_path="p",
        payload=b"data",
        # a payload carried as-is is marked so, and encode() then leaves it alone
        compressed=not registered and compress != 0,
    )
    wire = encode(m, compress=registered)
    assert wire[2] == flags
    back = parse_frame(wire, decompress=registered)
    assert back == m
    assert back.message_type == flags >> 7
    assert back.heartbeat == bool(flags & 0x40)
    assert back.oneway == bool(flags & 0x20)
    assert back.compress_type == compress
    assert back.status == flags & 0x3


@pytest.mark.parametrize(
    ("field", "value", "byte"),
    [
        ("message_type", MessageType.RESPONSE, 0x80),
        ("heartbeat", True, 0x40),
        ("oneway", True, 0x20),
        ("compress_type", CompressType.GZIP, 0x04),
        ("status", MessageStatusType.ERROR, 0x01),
    ],
)
def test_each_flag_is_its_own_bit(field: str, value: object, byte: int) -> None:
    assert encode(Message(**{field: value}))[2] == byte  # type: ignore[arg-type]


@pytest.mark.parametrize("ser", range(16))
def test_every_serialize_nibble_round_trips(ser: int) -> None:
    m = Message(serialize_type=ser, service_method="m")
    wire = encode(m)
    assert wire[3] == ser << 4
    assert wire[3] & 0x0F == 0
    assert parse_frame(wire).serialize_type == ser


def test_serialize_low_nibble_is_ignored_on_parse() -> None:
    frame = raw_frame(ser=0x3F, path=b"p")
    assert parse_frame(frame).serialize_type == 3


@pytest.mark.parametrize("seq", [0, 1, 255, 256, 2**32 - 1, 2**32, 2**63, 2**64 - 1])
def test_seq_is_big_endian_uint64(seq: int) -> None:
    wire = encode(Message(seq=seq))
    assert wire[4:12] == seq.to_bytes(8, "big")
    assert parse_frame(wire).seq == seq


@pytest.mark.parametrize("version", [0, 1, 0x7F, 0xFF])
def test_version_byte_is_kept(version: int) -> None:
    wire = encode(Message(version=version))
    assert wire[1] == version
    assert parse_frame(wire).version == version


@pytest.mark.parametrize("compress", range(2, 8))
def test_encode_with_unregistered_compressor_raises(compress: int) -> None:
    # Go's WriteTo errors here; nothing is sent uncompressed behind the caller's back
    with pytest.raises(UnsupportedCompressorError):
        encode(Message(compress_type=compress, payload=b"x"))


def test_magic_byte() -> None:
    assert encode(Message())[0] == 0x08


# -- lengths -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 255, 256, 1024, 70000])
def test_payload_and_total_length_fields(size: int) -> None:
    payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
    m = Message(service_path="Arith", service_method="Mul", metadata={"a": "b"}, payload=payload)
    wire = encode(m)
    (total,) = struct.unpack_from(">I", wire, 12)
    assert total == len(wire) - 16
    assert total == (4 + 5) + (4 + 3) + (4 + 10) + (4 + size)
    (plen,) = struct.unpack_from(">I", wire, len(wire) - size - 4)
    assert plen == size
    assert wire[len(wire) - size :] == payload
    assert parse_frame(wire).payload == payload


def test_compressed_payload_length_field_is_the_compressed_size() -> None:
    payload = b"abc" * 5000
    m = Message(compress_type=CompressType.GZIP, payload=payload)
    wire = encode(m)
    # path, method, meta are empty: payload length sits at 16 + 12
    (plen,) = struct.unpack_from(">I", wire, 28)
    assert plen == len(wire) - 32
    assert plen < len(payload)
    assert wire[32:34] == b"\x1f\x8b"  # a gzip stream
    assert parse_frame(wire).payload == payload
    raw = parse_frame(wire, decompress=False)
    assert raw.payload == wire[32:]
    assert raw.compress_type == CompressType.GZIP


def test_encode_without_compress_forwards_payload_as_is() -> None:
    already = encode(Message(compress_type=CompressType.GZIP, payload=b"q" * 3000))
    fwd = parse_frame(already, decompress=False)
    assert encode(fwd, compress=False) == already
    # the parsed message knows its payload is still compressed, so a plain encode() agrees
    assert fwd.compressed and encode(fwd) == already


def test_payload_is_rest_of_frame_when_length_field_is_short() -> None:
    # Go ignores the payload length field and takes the rest of the frame
    frame = raw_frame(path=b"p", payload=b"abcdef", payload_len=2)
    assert parse_frame(frame).payload == b"abcdef"


def test_parse_frame_at_offset_in_larger_buffer() -> None:
    buf = b"\xaa" * 7 + VECTOR_B_REQUEST + VECTOR_A
    assert parse_frame(buf, 7).service_method == "Mul"
    assert parse_frame(buf, 7 + len(VECTOR_B_REQUEST)).service_method == "Add"
    assert parse_frame(memoryview(bytearray(buf)), 7).payload == bytes.fromhex("82a1410aa14214")


# -- parse_frame on malformed input --------------------------------------------------------------


@pytest.mark.parametrize(
    "frame",
    [
        raw_frame(path=b"abc", path_len=200),
        raw_frame(method=b"abc", method_len=200),
        raw_frame(meta=meta_pairs((b"a", b"b")), meta_len=200),
        raw_frame(payload=b"abc", payload_len=4),
        raw_frame(total=15),
        raw_frame(total=0),
        raw_frame(path=b"x" * 10, path_len=2**32 - 1),
    ],
    ids=["path", "method", "meta", "payload", "total15", "total0", "path4G"],
)
def test_parse_frame_section_overruns(frame: bytes) -> None:
    with pytest.raises(MalformedFrameError):
        parse_frame(frame)


def test_parse_frame_short_buffer_is_a_protocol_error() -> None:
    with pytest.raises(MalformedFrameError):
        parse_frame(VECTOR_A[:10])
    with pytest.raises(MalformedFrameError):
        parse_frame(VECTOR_A[:-1])


def test_parse_frame_checks_magic() -> None:
    with pytest.raises(BadMagicError) as info:
        parse_frame(b"\x09" + VECTOR_A[1:])
    assert info.value.got == 9
    assert "wrong magic number: 9" in str(info.value)


def test_parse_frame_metadata_pair_overrun_is_metadata_error() -> None:
    frame = raw_frame(meta=b"\x00\x00\x00\x01a\x00\x00\x00\x09xy")
    with pytest.raises(MetadataError):
        parse_frame(frame)
    assert issubclass(MetadataError, ProtocolError)


# -- the Message value ----------------------------------------------------------------------------


def test_message_equality_and_replace() -> None:
    a = vector_a_message()
    b = a.replace(seq=1)
    assert a != b
    assert b.seq == 1 and a.seq == 1234567890
    assert b.replace(seq=1234567890) == a
    with pytest.raises(TypeError):
        hash(a)


def test_message_error_property() -> None:
    assert Message(metadata={SERVICE_ERROR: "x"}).error is None  # status NORMAL
    assert Message(status=MessageStatusType.ERROR, metadata={SERVICE_ERROR: "x"}).error == "x"
    # Go: error status without metadata gives a nil error
    assert Message(status=MessageStatusType.ERROR).error is None


def test_message_is_push() -> None:
    assert Message(oneway=True).is_push
    assert not Message(oneway=True, heartbeat=True).is_push
    assert not Message(oneway=True, message_type=MessageType.RESPONSE).is_push
    assert not Message().is_push


# -- header-only parse for the server hot path and proxies ----------------------------------------


def test_peek_route_locates_sections() -> None:
    m = Message(version=2, oneway=True, serialize_type=3, seq=99, service_path="Arith", service_method="Mul",
                metadata={"k": "v"}, payload=b"PAYLOAD")
    wire = encode(m)
    head = peek_route(wire)
    assert head is not None
    version, flags, ser, seq, route, mdl, poff = head
    assert (version, flags, ser, seq) == (2, 0x20, 0x30, 99)
    assert route == b"\x00\x00\x00\x05Arith\x00\x00\x00\x03Mul"
    assert mdl == len(encode_metadata({"k": "v"}))
    assert wire[poff:] == b"PAYLOAD"


@pytest.mark.parametrize(
    "frame",
    [
        raw_frame(path=b"abc", path_len=200),
        raw_frame(method=b"abc", method_len=200),
        raw_frame(meta=meta_pairs((b"a", b"b")), meta_len=200),
        raw_frame(payload=b"abc", payload_len=4),
        raw_frame(total=15)[:31],
        b"\x08" + bytes(15),
        b"",
    ],
    ids=["path", "method", "meta", "payload", "short", "header-only", "empty"],
)
def test_peek_route_refuses_what_parse_frame_refuses(frame: bytes) -> None:
    assert peek_route(frame) is None
    with pytest.raises(ProtocolError):
        parse_frame(frame)


@pytest.mark.parametrize("wire", [VECTOR_A, VECTOR_B_REQUEST, VECTOR_C_REQUEST, VECTOR_D])
def test_peek_route_agrees_with_parse_frame(wire: bytes) -> None:
    head = peek_route(wire)
    assert head is not None
    m = parse_frame(wire)
    assert head[0] == m.version
    assert head[3] == m.seq
    assert head[2] >> 4 == m.serialize_type
    assert wire[head[6]:] == m.payload
    assert len(encode_metadata(m.metadata)) == head[5]


@pytest.mark.parametrize("oneway", [False, True])
@pytest.mark.parametrize("heartbeat", [False, True])
@pytest.mark.parametrize("status", [0, 1])
def test_encode_plain_response_equals_make_response(oneway: bool, heartbeat: bool, status: int) -> None:
    req = Message(version=1, oneway=oneway, heartbeat=heartbeat, status=status, serialize_type=3, seq=2**64 - 1,
                  service_path="Arith", service_method="Mul", payload=b"args")
    wire = encode(req)
    version, flags, ser, seq, route, _mdl, _poff = peek_route(wire)  # type: ignore[misc]
    fast = encode_plain_response(version, flags, ser, seq, route, b"reply")
    assert fast == encode(make_response(req, b"reply"))


def test_encode_plain_response_resets_compression() -> None:
    req = Message(compress_type=CompressType.GZIP, serialize_type=1, service_path="S", service_method="M",
                  payload=b"x" * 10)
    version, flags, ser, seq, route, _mdl, _poff = peek_route(encode(req))  # type: ignore[misc]
    fast = encode_plain_response(version, flags, ser, seq, route, b"small")
    assert fast[2] == 0x80
    assert fast == encode(make_response(req, b"small"))
    assert parse_frame(fast).payload == b"small"


def test_encode_plain_response_vector_b() -> None:
    version, flags, ser, seq, route, _mdl, _poff = peek_route(VECTOR_B_REQUEST)  # type: ignore[misc]
    assert encode_plain_response(version, flags, ser, seq, route, bytes.fromhex("81a143ccc8")) == VECTOR_B_RESPONSE


def _small_overruns() -> list[tuple[str, bytes]]:
    # lengths that lie by a little: the section itself fits, but the headers after it no longer do
    cases = []
    for extra in (1, 4, 5, 8, 11, 12):
        cases.append((f"path+{extra}", raw_frame(path=b"abc", method=b"m", path_len=3 + extra)))
        cases.append((f"method+{extra}", raw_frame(path=b"p", method=b"abc", method_len=3 + extra)))
        cases.append((f"meta+{extra}", raw_frame(path=b"p", meta=meta_pairs((b"k", b"v")), meta_len=10 + extra)))
    for extra in (1, 4):
        cases.append((f"payload+{extra}", raw_frame(path=b"p", payload=b"abc", payload_len=3 + extra)))
    # metadata whose length swallows the payload header and a zero payload: still parses as pairs
    swallow = raw_frame(path=b"p", meta=meta_pairs((b"k", b"v")), payload=bytes(4), payload_len=0, meta_len=10 + 8)
    cases.append(("meta-swallows-payload", swallow))
    return cases


@pytest.mark.parametrize(("name", "frame"), _small_overruns(), ids=[n for n, _ in _small_overruns()])
def test_small_overruns_never_read_past_the_frame(name: str, frame: bytes) -> None:
    # followed by another frame in the same buffer, a sloppy check would read the neighbour's bytes
    for buf in (frame, frame + VECTOR_A):
        with pytest.raises(MalformedFrameError):
            parse_frame(buf)
    assert peek_route(frame) is None
