"""Byte-level: what the proxy does to frames keeps every payload byte, and the upstream side of the
core hands over replies as their wire frames."""

from __future__ import annotations

from hypothesis import given, strategies as st

from rpcx.protocol import FrameHeader, Message, Role, RpcxConnection, encode, make_response, parse_frame
from rpcx.protocol.constants import CompressType
from rpcx.errors import ProtocolError
from rpcx.proxy.frames import error_reply, heartbeat_echo_frame, read_header, rebuild_request, with_seq

names = st.text(max_size=12)
metadata = st.dictionaries(st.text(min_size=1, max_size=8), st.text(max_size=8), max_size=4)


@given(names, names, metadata, st.binary(max_size=3000), st.one_of(st.none(), names), st.one_of(st.none(), metadata))
def test_rebuild_keeps_the_payload_section(path, method, md, payload, new_method, new_md) -> None:
    frame = encode(Message(service_path=path, service_method=method, seq=11, metadata=md, payload=payload,
                           compress_type=CompressType.GZIP, oneway=True, serialize_type=3))
    h = FrameHeader.parse(frame)
    out = rebuild_request(frame, h, service_method=new_method, metadata=new_md)
    g = FrameHeader.parse(out)
    assert out[g.payload_start - 4:] == frame[h.payload_start - 4:]  # the payload section, byte for byte
    assert out[:12] == frame[:12]  # magic, version, flags, serialize type, seq
    assert g.service_path == path and g.service_method == (method if new_method is None else new_method)
    assert g.metadata == (md if new_md is None else new_md)


def test_error_reply_is_what_gos_server_sends() -> None:
    req = Message(service_path="Arith", service_method="Mul", seq=9, serialize_type=3, metadata={"x": "y"},
                  payload=b"abc")
    assert error_reply(FrameHeader.parse(encode(req)), "nope") == encode(make_response(req, error="nope"))


def test_heartbeat_echo_is_the_same_frame_as_a_response() -> None:
    hb = Message(heartbeat=True, seq=4, payload=b"t")
    assert parse_frame(heartbeat_echo_frame(encode(hb))) == hb.replace(message_type=1)


def test_upstream_connection_hands_over_non_plain_replies_as_their_frames() -> None:
    up = RpcxConnection(Role.CLIENT, decompress=False)
    server = RpcxConnection(Role.SERVER, decompress=False)
    request = encode(Message(service_path="A", service_method="B", seq=100, payload=b"p"))
    seq, out = up.send_frame(request, token="tok")
    [ev] = server.receive_data(out, 0.0)
    reply = encode(Message(message_type=1, seq=seq, compress_type=CompressType.GZIP, metadata={"m": "1"},
                           payload=b"z" * 2000, service_path="A", service_method="B"))
    [got] = up.receive_data(reply, 0.0)
    assert got.token == "tok" and not got.plain and got.frame == reply
    assert got.message.compressed and got.message.metadata == {"m": "1"}


def _header_or_error(read, frame):
    try:
        h = read(frame)
    except ProtocolError as exc:
        return type(exc).__name__, str(exc)
    return tuple(getattr(h, k) for k in FrameHeader.__slots__ if k != "_frame")


@given(names, names, metadata, st.binary(max_size=300), st.integers(0, 2**64 - 1))
def test_read_header_is_frameheader_parse(path, method, md, payload, seq) -> None:
    frame = encode(Message(service_path=path, service_method=method, seq=seq, metadata=md, payload=payload))
    assert _header_or_error(read_header, frame) == _header_or_error(FrameHeader.parse, frame)


@given(st.binary(min_size=16, max_size=80), st.integers(0, 79), st.integers(0, 255))
def test_read_header_agrees_with_parse_on_bad_frames(tail, pos, byte) -> None:
    # whole frames as the decoder cuts them (magic and total length right) with any section lengths,
    # plus a byte changed anywhere (the magic and the total length too): same header or same error
    good = bytearray(encode(Message(service_path="Arith", service_method="Mul", seq=1, metadata={"k": "v"},
                                    payload=b"12345")))
    frame = bytearray(good[:16] + tail)
    frame[12:16] = len(tail).to_bytes(4, "big")
    for f in (frame, good):
        f[pos % len(f)] = byte
        assert _header_or_error(read_header, bytes(f)) == _header_or_error(FrameHeader.parse, bytes(f))


def test_with_seq_changes_only_the_seq_and_copies() -> None:
    frame = encode(Message(service_path="A", service_method="B", seq=7, payload=b"x" * 100))
    out = with_seq(frame, 2**64 - 1)
    assert out[4:12] == b"\xff" * 8 and out[:4] == frame[:4] and out[12:] == frame[12:]
    assert FrameHeader.parse(frame).seq == 7  # the original is untouched
