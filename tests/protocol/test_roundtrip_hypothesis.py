"""Property: any Message encodes and decodes to an equal Message, however the stream is chunked."""

from __future__ import annotations

import struct

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rpcx.protocol import FrameDecoder, Limits, Message, encode, make_response, parse_frame
from rpcx.protocol.message import encode_plain_response, peek_route

# Strings as they come off the wire: valid text, or arbitrary bytes decoded with surrogateescape
# (how non-UTF-8 bytes are carried). Both forms survive encode -> parse unchanged.
_text = st.one_of(
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=12),
    st.binary(max_size=12).map(lambda b: b.decode("utf-8", "surrogateescape")),
)


@st.composite
def messages(draw: st.DrawFn) -> Message:
    return Message(
        message_type=draw(st.integers(0, 1)),
        heartbeat=draw(st.booleans()),
        oneway=draw(st.booleans()),
        compress_type=draw(st.integers(0, 1)),
        status=draw(st.integers(0, 3)),
        serialize_type=draw(st.integers(0, 15)),
        seq=draw(st.integers(0, 2**64 - 1)),
        version=draw(st.integers(0, 255)),
        service_path=draw(_text),
        service_method=draw(_text),
        metadata=draw(st.dictionaries(_text, _text, max_size=5)),
        payload=draw(st.binary(max_size=2000)),
    )


def _wire_bytes(s: str) -> bytes:
    return s.encode("utf-8", "surrogateescape")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages())
def test_encode_then_parse_is_identity(m: Message) -> None:
    wire = encode(m)
    (total,) = struct.unpack_from(">I", wire, 12)
    assert total == len(wire) - 16
    assert wire[0] == 0x08
    assert wire[3] == m.serialize_type << 4
    assert wire[4:12] == m.seq.to_bytes(8, "big")
    meta_len = sum(8 + len(_wire_bytes(k)) + len(_wire_bytes(v)) for k, v in m.metadata.items())
    at = 16 + 4 + len(_wire_bytes(m.service_path)) + 4 + len(_wire_bytes(m.service_method)) + 4 + meta_len
    assert struct.unpack_from(">I", wire, at - 4 - meta_len)[0] == meta_len
    (plen,) = struct.unpack_from(">I", wire, at)
    assert plen == len(wire) - at - 4
    if not m.compress_type:
        assert wire[at + 4 :] == m.payload
    assert parse_frame(wire) == m


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(messages(), min_size=1, max_size=6), st.data())
def test_stream_in_random_chunks(msgs: list[Message], data: st.DataObject) -> None:
    stream = b"".join(encode(m) for m in msgs)
    sizes = data.draw(st.lists(st.integers(1, max(1, len(stream))), max_size=40))
    decoder = FrameDecoder(Limits(max_message_length=1 << 20, max_decompressed_length=1 << 20))
    got: list[Message] = []
    pos = 0
    for size in sizes:
        if pos >= len(stream):
            break
        got.extend(decoder.feed(stream[pos : pos + size]))
        pos += size
    got.extend(decoder.feed(stream[pos:]))
    decoder.eof()
    assert got == msgs
    assert decoder.buffered == 0


@settings(max_examples=100, deadline=None)
@given(messages(), st.binary(max_size=300))
def test_plain_response_fast_path_matches_make_response(m: Message, reply: bytes) -> None:
    req = m.replace(metadata={}, compress_type=0, message_type=0)
    wire = encode(req)
    head = peek_route(wire)
    assert head is not None
    version, flags, ser, seq, route, mdl, poff = head
    assert mdl == 0
    assert wire[poff:] == req.payload
    assert encode_plain_response(version, flags, ser, seq, route, reply) == encode(make_response(req, reply))
