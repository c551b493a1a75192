"""Heartbeat frames (docs/wire-format.md §14 and §16 C) and the schedule, with time passed in."""

from __future__ import annotations

import struct

import pytest

from rpcx.protocol import (
    HeartbeatSchedule,
    Message,
    MessageType,
    SerializeType,
    encode,
    heartbeat_echo,
    heartbeat_request,
    parse_frame,
)

from ._frames import VECTOR_C_REQUEST, VECTOR_C_RESPONSE


def test_heartbeat_request_matches_vector_c() -> None:
    hb = heartbeat_request(seq=5, now_ns=1700000000000000000)
    assert encode(hb) == VECTOR_C_REQUEST


@pytest.mark.parametrize("now_ns", [0, 1, 1700000000000000000, 2**63 - 1, -1, -(2**63)])
def test_heartbeat_payload_is_msgpack_int64(now_ns: int) -> None:
    hb = heartbeat_request(seq=1, now_ns=now_ns)
    assert len(hb.payload) == 9
    assert hb.payload[0] == 0xD3
    assert hb.payload[1:] == now_ns.to_bytes(8, "big", signed=True)
    assert struct.unpack(">q", hb.payload[1:])[0] == now_ns


def test_heartbeat_request_fields() -> None:
    hb = heartbeat_request(seq=42, now_ns=123)
    assert hb.heartbeat is True
    assert hb.oneway is False
    assert hb.message_type == MessageType.REQUEST
    assert hb.serialize_type == SerializeType.MSGPACK
    assert hb.compress_type == 0
    assert hb.status == 0
    assert hb.seq == 42
    assert (hb.service_path, hb.service_method) == ("", "")
    assert hb.metadata == {}
    wire = encode(hb)
    assert wire[2] == 0x40
    assert wire[3] == 0x30


def test_heartbeat_payload_decodes_as_msgpack() -> None:
    msgpack = pytest.importorskip("msgpack")
    assert msgpack.unpackb(heartbeat_request(0, 1700000000000000000).payload) == 1700000000000000000


def test_echo_matches_vector_c() -> None:
    echo = heartbeat_echo(parse_frame(VECTOR_C_REQUEST))
    assert encode(echo) == VECTOR_C_RESPONSE


def _diff(a: bytes, b: bytes) -> list[int]:
    assert len(a) == len(b)
    return [i for i in range(len(a)) if a[i] != b[i]]


@pytest.mark.parametrize("oneway", [False, True])
def test_echo_flips_only_byte_2(oneway: bool) -> None:
    req = Message(
        heartbeat=True,
        oneway=oneway,
        serialize_type=SerializeType.MSGPACK,
        seq=77,
        service_path="odd",
        service_method="but-echoed",
        metadata={"k": "v"},
        payload=b"\xd3" + bytes(8),
    )
    wire = encode(req)
    echo_wire = encode(heartbeat_echo(parse_frame(wire)))
    assert _diff(wire, echo_wire) == [2]
    assert wire[2] == (0x60 if oneway else 0x40)
    assert echo_wire[2] == (0xE0 if oneway else 0xC0)


def test_echo_keeps_everything_else() -> None:
    req = parse_frame(VECTOR_C_REQUEST).replace(metadata={"a": "b"}, version=3)
    echo = heartbeat_echo(req)
    assert echo.message_type == MessageType.RESPONSE
    for name in Message.__slots__:
        if name != "message_type":
            assert getattr(echo, name) == getattr(req, name), name
    assert req.message_type == MessageType.REQUEST  # the request is not modified


# -- schedule ---------------------------------------------------------------------------------------


def test_schedule_first_beat_after_one_interval() -> None:
    s = HeartbeatSchedule(interval=10.0, max_wait=30.0, now=100.0)
    assert not s.due(100.0)
    assert not s.due(109.999)
    assert s.due(110.0)
    assert s.due(500.0)
    assert s.next_deadline() == 110.0


def test_schedule_not_due_while_waiting_for_an_echo() -> None:
    s = HeartbeatSchedule(interval=1.0, max_wait=5.0, now=0.0)
    s.sent(seq=7, now=1.0)
    assert not s.due(2.5)  # another interval passed, but one is still outstanding
    assert s.next_deadline() == 6.0
    assert s.answered(7)
    assert s.next_deadline() == 2.0
    assert s.due(2.0)


def test_schedule_expiry_is_strictly_after_max_wait() -> None:
    s = HeartbeatSchedule(interval=1.0, max_wait=3.0, now=0.0)
    assert not s.expired(1000.0)  # nothing sent, nothing to expire
    s.sent(seq=1, now=1.0)
    assert not s.expired(3.9)
    assert not s.expired(4.0)
    assert s.expired(4.0001)


def test_schedule_wrong_seq_does_not_count_as_answer() -> None:
    s = HeartbeatSchedule(interval=1.0, max_wait=3.0, now=0.0)
    s.sent(seq=4, now=1.0)
    assert not s.answered(5)
    assert s.expired(4.5)
    assert s.answered(4)
    assert not s.expired(100.0)
    assert not s.answered(4)  # a duplicate echo is not awaited any more


def test_schedule_next_beat_counts_from_send_time() -> None:
    s = HeartbeatSchedule(interval=2.0, max_wait=10.0, now=0.0)
    s.sent(seq=0, now=5.0)  # sent late
    s.answered(0)
    assert not s.due(6.9)
    assert s.due(7.0)
    assert s.next_deadline() == 7.0


def test_schedule_runs_many_cycles() -> None:
    s = HeartbeatSchedule(interval=1.0, max_wait=0.5, now=0.0)
    now = 0.0
    seq = 0
    for _ in range(100):
        now = s.next_deadline()
        assert s.due(now)
        s.sent(seq=seq, now=now)
        assert not s.due(now)
        assert s.answered(seq)
        seq += 1
    assert now == pytest.approx(100.0)


@pytest.mark.parametrize("interval", [0.0, -1.0])
def test_schedule_needs_positive_interval(interval: float) -> None:
    with pytest.raises(ValueError):
        HeartbeatSchedule(interval=interval, max_wait=1.0, now=0.0)
