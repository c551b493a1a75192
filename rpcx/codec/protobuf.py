"""Serialize type 2: Protocol Buffers through generated message classes. Needs the ``protobuf`` extra.

Decoding needs the message class: from a method's type hint on the server, or ``reply_type`` on
the client. A dataclass can stand for a message by naming its class in ``__protobuf__``; fields
are then copied by name, so one Python type serves JSON, MessagePack and Protobuf callers alike
(as one Go struct does)::

    @dataclass
    class Args:
        A: int = 0
        B: int = 0
        __protobuf__ = arith_pb2.Args
"""

from __future__ import annotations

import dataclasses
from typing import Any

from google.protobuf.message import DecodeError
from google.protobuf.message import Message as PbMessage

from ..errors import CodecError

__all__ = ["ProtobufCodec"]


def _pb_class(tp: Any) -> Any:
    return getattr(tp, "__protobuf__", None)


class ProtobufCodec:
    serialize_type = 2
    name = "protobuf"

    def encode(self, obj: Any) -> bytes:
        if isinstance(obj, PbMessage):
            return obj.SerializeToString()
        if isinstance(obj, (bytes, bytearray)):
            return bytes(obj)  # already-encoded message bytes
        pb = _pb_class(type(obj))
        if pb is not None and dataclasses.is_dataclass(obj):
            try:
                msg = pb(**{f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)})
            except (TypeError, ValueError) as exc:
                raise CodecError(f"proto: cannot build {pb.__name__} from {type(obj).__name__}: {exc}") from None
            return msg.SerializeToString()
        raise CodecError(f"{type(obj).__name__} is not a proto.Marshaler or pb.Message")

    def decode(self, data: bytes, into: Any = None) -> Any:
        if into is None or into is bytes:
            return data
        target = into
        pb = _pb_class(into)
        if pb is not None:
            target = pb
        if not (isinstance(target, type) and issubclass(target, PbMessage)):
            raise CodecError(f"{getattr(into, '__name__', into)} is not a proto.Unmarshaler  or pb.Message")
        msg = target()
        try:
            msg.ParseFromString(data)
        except DecodeError as exc:
            raise CodecError(f"proto: {exc}") from None
        if pb is not None:
            try:
                return into(**{f.name: getattr(msg, f.name) for f in dataclasses.fields(into)})
            except (AttributeError, TypeError, ValueError) as exc:
                raise CodecError(f"proto: cannot build {into.__name__} from {pb.__name__}: {exc}") from None
        return msg
