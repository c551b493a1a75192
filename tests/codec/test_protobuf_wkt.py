"""The protobuf well-known types: a dataclass's datetime / timedelta fill Timestamp / Duration fields
(as Go's timestamppb / durationpb), nanoseconds kept, and come back as datetime / timedelta."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar

import pytest

pytest.importorskip("google.protobuf")

from rpcx.codec import Time  # noqa: E402
from rpcx.codec.protobuf import ProtobufCodec  # noqa: E402
from rpcx.errors import CodecError  # noqa: E402


@functools.cache
def event_class() -> Any:
    """``message Event { google.protobuf.Timestamp At = 1; google.protobuf.Duration Wait = 2; }``"""
    from google.protobuf import descriptor_pb2, descriptor_pool, duration_pb2, message_factory, timestamp_pb2

    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(timestamp_pb2.DESCRIPTOR.serialized_pb)
    pool.AddSerializedFile(duration_pb2.DESCRIPTOR.serialized_pb)
    ft = descriptor_pb2.FieldDescriptorProto
    fdp = descriptor_pb2.FileDescriptorProto(name="rpcxtest/event.proto", package="rpcxtest", syntax="proto3",
                                             dependency=["google/protobuf/timestamp.proto", "google/protobuf/duration.proto"])
    m = fdp.message_type.add(name="Event")
    m.field.add(name="At", number=1, type=ft.TYPE_MESSAGE, type_name=".google.protobuf.Timestamp", label=ft.LABEL_OPTIONAL)
    m.field.add(name="Wait", number=2, type=ft.TYPE_MESSAGE, type_name=".google.protobuf.Duration", label=ft.LABEL_OPTIONAL)
    pool.Add(fdp)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("rpcxtest.Event"))


@dataclass
class Event:
    At: datetime = datetime(1970, 1, 1, tzinfo=timezone.utc)
    Wait: timedelta = timedelta(0)
    __protobuf__: ClassVar[Any] = None


def test_timestamp_and_duration_cross_with_nanoseconds() -> None:
    Event.__protobuf__ = event_class()
    c = ProtobufCodec()
    v = Event(At=Time.from_unix_nano(1709212455123456789), Wait=timedelta(seconds=1, microseconds=500))
    wire = c.encode(v)
    msg = event_class().FromString(wire)
    assert (msg.At.seconds, msg.At.nanos) == (1709212455, 123456789)
    assert (msg.Wait.seconds, msg.Wait.nanos) == (1, 500000)
    assert c.decode(wire, Event) == v
    with pytest.raises(CodecError, match="naive datetime"):
        c.encode(Event(At=datetime(2024, 1, 1)))
