"""Serialize type 0: raw bytes, passed through untouched (Go's ``ByteCodec``)."""

from __future__ import annotations

from typing import Any

from ..errors import CodecError

__all__ = ["RawCodec"]


class RawCodec:
    """Go's ``ByteCodec``: the payload is the bytes, untouched.

    >>> RawCodec().encode(bytearray(b"ab")), RawCodec().decode(b"ab")
    (b'ab', b'ab')
    """

    serialize_type = 0
    name = "raw"

    def encode(self, obj: Any) -> bytes:
        """The bytes themselves (``None`` is an empty payload)."""
        if isinstance(obj, bytes):
            return obj
        if isinstance(obj, (bytearray, memoryview)):
            return bytes(obj)
        if obj is None:
            return b""
        raise CodecError(f"{type(obj).__name__} is not bytes")

    def decode(self, data: bytes, into: Any = None) -> Any:
        """The payload as ``bytes`` (or ``bytearray`` / ``str`` when asked for)."""
        if into is None or into is bytes or into is Any:
            return data
        if into is bytearray:
            return bytearray(data)
        if into is str:
            return data.decode()
        raise CodecError(f"raw payload cannot be decoded into {into!r}: use bytes")
