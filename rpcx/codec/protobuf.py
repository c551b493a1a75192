"""Serialize type 2: Protocol Buffers through generated message classes. Needs the ``protobuf`` extra.

Decoding needs the message class: from a method's type hint on the server, or ``reply_type`` on
the client.
"""

from __future__ import annotations

from typing import Any

from google.protobuf.message import DecodeError
from google.protobuf.message import Message as PbMessage

from ..errors import CodecError

__all__ = ["ProtobufCodec"]


class ProtobufCodec:
    serialize_type = 2
    name = "protobuf"

    def encode(self, obj: Any) -> bytes:
        if isinstance(obj, PbMessage):
            return obj.SerializeToString()
        if isinstance(obj, (bytes, bytearray)):
            return bytes(obj)  # already-encoded message bytes
        raise CodecError(f"{type(obj).__name__} is not a proto.Marshaler or pb.Message")

    def decode(self, data: bytes, into: Any = None) -> Any:
        if into is None or into is bytes:
            return data
        if not (isinstance(into, type) and issubclass(into, PbMessage)):
            raise CodecError(f"{getattr(into, '__name__', into)} is not a proto.Unmarshaler  or pb.Message")
        msg = into()
        try:
            msg.ParseFromString(data)
        except DecodeError as exc:
            raise CodecError(f"proto: {exc}") from None
        return msg
