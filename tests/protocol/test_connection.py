"""RpcxConnection: the sans-IO connection, driven synchronously, two of them joined in memory.

Time is a plain number passed in; nothing here sleeps or opens a socket.
"""

from __future__ import annotations

import pytest

from rpcx.errors import (
    BadMagicError,
    ConnectionTimeoutError,
    LocalProtocolError,
    MessageTooLongError,
    ProtocolError,
    TruncatedFrameError,
)
from rpcx.protocol import (
    CompressType,
    ConnectionTerminated,
    EndOfStream,
    FrameHeader,
    FrameIgnored,
    HeartbeatAnswered,
    HeartbeatReceived,
    Limits,
    Message,
    PushReceived,
    RequestReceived,
    ResponseReceived,
    Role,
    RpcxConnection,
    SerializeType,
    State,
    encode,
    parse_frame,
    rewrite_seq,
)

MUL = b"\x82\xa1A\n\xa1B\x14"
REPLY = b"\x81\xa1C\xcc\xc8"


def pair(**server_opts: object) -> tuple[RpcxConnection, RpcxConnection]:
    return RpcxConnection(Role.CLIENT), RpcxConnection(Role.SERVER, **server_opts)  # type: ignore[arg-type]


def call(client: RpcxConnection, token: object = None, **kw: object) -> tuple[int, bytes]:
    return client.send_call("Arith", "Mul", MUL, serialize_type=SerializeType.MSGPACK, token=token, **kw)  # type: ignore[arg-type]


# -- calls and replies -------------------------------------------------------------------------------
def test_first_call_is_byte_identical_to_go_and_seqs_count_up() -> None:
    client = RpcxConnection(Role.CLIENT)
    seq, frame = call(client)
    # the 47-byte request a Go DefaultOption client sends as its first call (wire-format vector B)
    assert (seq, frame.hex()) == (0, "0800003000000000000000000000001f"
                                     "000000054172697468000000034d756c"
                                     "000000000000000782a1410aa14214")
    assert [call(client)[0] for _ in range(3)] == [1, 2, 3]
    assert client.pending_count == 4


def test_replies_in_any_order_reach_their_tokens() -> None:
    client, server = pair()
    data = b"".join(call(client, token=f"t{i}")[1] for i in range(5))
    reqs = server.receive_data(data, now=0.0)
    assert [type(e) for e in reqs] == [RequestReceived] * 5 and server.outstanding == 5
    replies = b"".join(server.send_response(e.message, REPLY) for e in reversed(reqs))  # type: ignore[attr-defined]
    assert server.outstanding == 0
    got = client.receive_data(replies, now=0.0)
    assert [(e.seq, e.token) for e in got] == [(i, f"t{i}") for i in reversed(range(5))]  # type: ignore[attr-defined]
    assert all(e.message.payload == REPLY for e in got)  # type: ignore[attr-defined]
    assert client.pending_count == 0


def test_every_split_point_gives_the_same_events() -> None:
    client, _ = pair()
    stream = b"".join(call(client)[1] for _ in range(3))
    whole = [e.message for e in RpcxConnection(Role.SERVER).receive_data(stream, 0.0)]  # type: ignore[attr-defined]
    for cut in range(1, len(stream)):
        server = RpcxConnection(Role.SERVER)
        events = server.receive_data(stream[:cut], 0.0) + server.receive_data(stream[cut:], 0.0)
        assert [e.message for e in events] == whole  # type: ignore[attr-defined]


def test_a_late_reply_to_a_forgotten_call_is_dropped() -> None:
    client, server = pair()
    seq, data = call(client, token="slow")
    [req] = server.receive_data(data, 0.0)
    assert client.forget(seq) == "slow"
    assert client.receive_data(server.send_response(req.message, REPLY), 0.0) == []  # type: ignore[attr-defined]
    assert client.statistics().late_responses == 1


def test_error_reply_carries_the_text() -> None:
    client, server = pair()
    _, data = call(client)
    [req] = server.receive_data(data, 0.0)
    [res] = client.receive_data(server.send_response(req.message, error="arith failed on purpose"), 0.0)  # type: ignore[attr-defined]
    assert res.message.error == "arith failed on purpose"  # type: ignore[attr-defined]


def test_oneway_is_not_pending_and_gets_no_reply() -> None:
    client, server = pair()
    _, data = call(client, oneway=True)
    assert client.pending_count == 0
    [req] = server.receive_data(data, 0.0)
    assert req.message.oneway and server.outstanding == 1  # type: ignore[attr-defined]
    assert server.send_response(req.message, error="ignored") == b""  # type: ignore[attr-defined]
    assert server.outstanding == 0


def test_compression_only_over_1024_bytes() -> None:
    client, server = pair()
    _, small = client.send_call("S", "M", b"x" * 1024, compress_type=CompressType.GZIP)
    _, big = client.send_call("S", "M", b"x" * 1025, compress_type=CompressType.GZIP)
    assert FrameHeader.parse(small).compress_type == 0
    assert FrameHeader.parse(big).compress_type == CompressType.GZIP and len(big) < 200
    [_, req] = server.receive_data(small + big, 0.0)
    assert req.message.payload == b"x" * 1025  # type: ignore[attr-defined]


# -- pushes and heartbeats -------------------------------------------------------------------------
def test_server_push_reaches_the_client_as_a_push() -> None:
    client, server = pair()
    frame = server.send_push(Message(seq=1, service_path="Chat", service_method="Say", payload=b"hi"))
    [ev] = client.receive_data(frame, 0.0)
    assert isinstance(ev, PushReceived) and ev.message.payload == b"hi" and ev.message.oneway


def test_a_non_oneway_request_sent_to_a_client_is_ignored_and_said_so() -> None:
    client, _ = pair()
    [ev] = client.receive_data(encode(Message(seq=3, service_path="X", service_method="Y")), 0.0)
    assert isinstance(ev, FrameIgnored) and "not a push" in ev.reason
    assert client.state is State.OPEN


def test_heartbeats_follow_the_schedule_and_the_echo_is_the_frame() -> None:
    client = RpcxConnection(Role.CLIENT, heartbeat_interval=1.0, heartbeat_max_wait=3.0, now=0.0)
    server = RpcxConnection(Role.SERVER)
    assert client.get_timer() == 1.0
    assert client.handle_timer(0.5) == [] and client.data_to_send() == b""
    assert client.handle_timer(1.0) == []
    ping = client.data_to_send()
    assert FrameHeader.parse(ping).heartbeat and client.get_timer() == 4.0  # waiting for the echo
    [hb] = server.receive_data(ping, 1.0)
    assert isinstance(hb, HeartbeatReceived) and server.outstanding == 0
    echo = server.send_heartbeat_echo(hb.message)
    assert echo[2] == 0xC0 and echo[:2] + echo[3:] == ping[:2] + ping[3:]  # only the Response bit differs
    assert client.receive_data(echo, 1.2) == [HeartbeatAnswered(0, 1.0)]
    assert client.get_timer() == 2.0  # the next one, one interval after the last was sent


def test_an_unanswered_heartbeat_ends_the_connection_and_fails_pending_calls() -> None:
    client = RpcxConnection(Role.CLIENT, heartbeat_interval=1.0, heartbeat_max_wait=3.0, now=0.0)
    call(client, token="c")
    client.handle_timer(1.0)
    assert client.handle_timer(3.9) == []
    [ev] = client.handle_timer(4.1)
    assert isinstance(ev, ConnectionTerminated) and isinstance(ev.error, ConnectionTimeoutError)
    assert ev.pending == {0: "c"} and client.state is State.CLOSED and client.get_timer() is None


# -- timeouts ----------------------------------------------------------------------------------------
def test_read_timeout_counts_from_the_last_frame_and_waits_while_replies_are_owed() -> None:
    client = RpcxConnection(Role.CLIENT)
    server = RpcxConnection(Role.SERVER, read_timeout=5.0, now=0.0)
    assert server.get_timer() == 5.0
    [req] = server.receive_data(call(client)[1], now=2.0)
    assert server.get_timer() is None  # a reply is owed: a slow handler does not kill its caller
    assert server.handle_timer(100.0) == []
    server.send_response(req.message, REPLY)  # type: ignore[attr-defined]
    assert server.get_timer() == 7.0
    [ev] = server.handle_timer(7.0)
    assert isinstance(ev, ConnectionTerminated) and "read timeout" in ev.reason


def test_frame_timeout_closes_a_trickling_peer() -> None:
    server = RpcxConnection(Role.SERVER, frame_timeout=30.0)
    _, frame = call(RpcxConnection(Role.CLIENT))
    assert server.receive_data(frame[:10], now=1.0) == [] and server.get_timer() == 31.0
    assert server.receive_data(frame[10:20], now=20.0) == [] and server.get_timer() == 31.0  # from the frame's start
    [ev] = server.handle_timer(31.5)
    assert isinstance(ev.error, ConnectionTimeoutError) and "not completed" in ev.reason  # type: ignore[attr-defined]


def test_frame_timeout_restarts_with_each_new_frame() -> None:
    server = RpcxConnection(Role.SERVER, frame_timeout=30.0)
    _, frame = call(RpcxConnection(Role.CLIENT))
    server.receive_data(frame[:10], now=1.0)
    [ev] = server.receive_data(frame[10:] + frame[:5], now=25.0)
    assert isinstance(ev, RequestReceived) and server.get_timer() == 55.0
    server.receive_data(frame[5:], now=26.0)
    assert server.get_timer() is None


# -- remote errors end the connection; local misuse raises ------------------------------------------------
def test_frames_before_bad_bytes_are_delivered_then_the_error() -> None:
    client, server = pair()
    events = server.receive_data(call(client)[1] + b"GET / HTTP/1.1\r\n", 0.0)
    assert [type(e) for e in events] == [RequestReceived, ConnectionTerminated]
    assert isinstance(events[1].error, BadMagicError)  # type: ignore[attr-defined]
    assert server.state is State.CLOSED and server.receive_data(call(client)[1], 0.0) == []


def test_oversized_frame_is_refused_from_its_header() -> None:
    server = RpcxConnection(Role.SERVER, limits=Limits(max_message_length=100))
    _, frame = RpcxConnection(Role.CLIENT).send_call("S", "M", b"x" * 200)
    [ev] = server.receive_data(frame[:16], 0.0)
    assert isinstance(ev.error, MessageTooLongError)  # type: ignore[attr-defined]


def test_a_response_sent_to_a_server_gets_an_error_reply_and_a_close() -> None:
    server = RpcxConnection(Role.SERVER)
    [ev] = server.receive_data(encode(Message(message_type=1, seq=9, service_path="A", service_method="B")), 0.0)
    assert isinstance(ev, ConnectionTerminated) and isinstance(ev.error, ProtocolError)
    reply = parse_frame(server.data_to_send())
    assert reply.seq == 9 and reply.error == "rpcx: unexpected response frame sent to a server"


def test_eof_mid_frame_is_a_truncation_and_between_frames_is_clean() -> None:
    client, server = pair()
    server.receive_data(call(client)[1][:20], 0.0)
    [ev] = server.receive_data(b"", 0.0)
    assert isinstance(ev.error, TruncatedFrameError)  # type: ignore[attr-defined]
    client2 = RpcxConnection(Role.CLIENT)
    call(client2, token="lost")
    [end] = client2.receive_data(b"", 0.0)
    assert isinstance(end, ConnectionTerminated) and end.error is None and end.pending == {0: "lost"}


def test_a_server_that_owes_replies_drains_after_eof() -> None:
    client, server = pair()
    [req] = server.receive_data(call(client)[1], 0.0)
    [ev] = server.receive_data(b"", 0.0)
    assert isinstance(ev, EndOfStream) and ev.outstanding == 1 and server.state is State.DRAINING
    assert parse_frame(server.send_response(req.message, REPLY)).payload == REPLY  # type: ignore[attr-defined]
    assert server.state is State.CLOSED


def test_local_misuse_raises_and_sends_nothing() -> None:
    client, server = pair()
    with pytest.raises(LocalProtocolError):
        server.send_call("A", "B", b"")
    with pytest.raises(LocalProtocolError):
        client.send_response(Message(), b"")
    with pytest.raises(LocalProtocolError):
        client.send_call("A", "B", b"", serialize_type=16)
    with pytest.raises(LocalProtocolError):
        encode(Message(seq=2**64))
    with pytest.raises(LocalProtocolError):
        RpcxConnection(Role.SERVER, heartbeat_interval=1.0)
    assert client.pending_count == 0
    client.close()
    with pytest.raises(LocalProtocolError):
        call(client)


# -- forwarding primitives ---------------------------------------------------------------------------
def test_send_frame_forwards_a_compressed_frame_untouched_but_for_its_seq() -> None:
    _, original = RpcxConnection(Role.CLIENT).send_call("S", "M", b"y" * 5000, compress_type=CompressType.GZIP)
    proxy_side = RpcxConnection(Role.CLIENT)
    for _ in range(7):
        call(proxy_side)
    seq, out = proxy_side.send_frame(original, token="fwd")
    assert seq == 7 and out[:4] + out[12:] == original[:4] + original[12:]
    assert FrameHeader.parse(out).seq == 7 and proxy_side.pending_count == 8
    buf = bytearray(original)
    assert rewrite_seq(buf, 42) is buf and FrameHeader.parse(buf).seq == 42


def test_a_message_parsed_without_decompressing_is_not_gzipped_twice() -> None:
    _, frame = RpcxConnection(Role.CLIENT).send_call("S", "M", b"z" * 3000, compress_type=CompressType.GZIP)
    msg = parse_frame(frame, decompress=False)
    assert msg.compressed and encode(msg) == frame
    assert parse_frame(encode(msg)).payload == b"z" * 3000


def test_frame_header_agrees_with_the_parser_and_refuses_lying_lengths() -> None:
    frame = encode(Message(seq=5, service_path="Arith", service_method="Mul", metadata={"k": "v"},
                           serialize_type=3, payload=MUL))
    h, m = FrameHeader.parse(frame), parse_frame(frame)
    assert (h.seq, h.service_path, h.service_method, h.metadata, h.serialize_type) == (
        m.seq, m.service_path, m.service_method, m.metadata, m.serialize_type)
    assert frame[h.payload_start:h.payload_end] == m.payload
    lying = bytearray(frame)
    lying[16:20] = (1000).to_bytes(4, "big")
    with pytest.raises(ProtocolError, match="service path length 1000 overruns"):
        FrameHeader.parse(bytes(lying))
    with pytest.raises(BadMagicError):
        FrameHeader.parse(b"\x09" + frame[1:])


def test_a_plain_reply_is_matched_from_its_header_and_parsed_only_on_demand() -> None:
    client, server = pair()
    _, data = call(client, token="t")
    [req] = server.receive_data(data, 0.0)
    reply = server.send_response(req.message, REPLY)  # type: ignore[attr-defined]
    [ev] = client.receive_data(reply, 0.0)
    assert isinstance(ev, ResponseReceived) and ev.plain and ev._message is None
    assert (ev.payload, ev.serialize_type) == (REPLY, SerializeType.MSGPACK)
    assert ev.message == parse_frame(reply)
    # replies with metadata, an error or compression are parsed whole
    _, data = call(client, token="u")
    [req] = server.receive_data(data, 0.0)
    [err] = client.receive_data(server.send_response(req.message, error="no"), 0.0)  # type: ignore[attr-defined]
    assert not err.plain and err.message.error == "no"  # type: ignore[attr-defined]
