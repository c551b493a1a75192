"""The codec interface and the per-instance codec registry (layer: codecs).

A codec turns a Python value into payload bytes and back. ``decode`` receives the type the
caller expects (from a method's type hints or a client's ``reply_type``) so that structured codecs
can build dataclasses or protobuf messages instead of plain dicts.
"""

from __future__ import annotations

import importlib
from typing import Any, Protocol, runtime_checkable

from ..errors import CodecError
from ..protocol.constants import SerializeType

__all__ = ["Codec", "CodecRegistry", "default_codecs"]


@runtime_checkable
class Codec(Protocol):
    """A payload codec, identified on the wire by its serialize type (byte 3, high nibble)."""

    serialize_type: int
    name: str

    def encode(self, obj: Any) -> bytes:
        """The payload bytes for ``obj``; raises :class:`CodecError` for a value it cannot write."""
        ...

    def decode(self, data: bytes, into: Any = None) -> Any:
        """A value of type ``into`` (or a plain tree when None) from payload bytes; raises :class:`CodecError`."""
        ...

    # Optional, for the server's hot path: ``decoder_for(into)`` may return a one-argument decode
    # function specialised to a type, and ``encoder_for(hint)`` an encode function for replies of
    # that type (it may raise on other values; the server then calls ``encode``). Return None
    # when there is nothing faster than the generic methods.


# name -> (module, class, pip extra that provides its dependency)
_BUILTIN: dict[int, tuple[str, str, str | None]] = {
    SerializeType.NONE: ("rpcx.codec.raw", "RawCodec", None),
    SerializeType.JSON: ("rpcx.codec.json", "JSONCodec", None),
    SerializeType.PROTOBUF: ("rpcx.codec.protobuf", "ProtobufCodec", "protobuf"),
    SerializeType.MSGPACK: ("rpcx.codec.msgpack", "MsgpackCodec", "msgpack"),
}

_NAMES = {"raw": 0, "none": 0, "bytes": 0, "json": 1, "protobuf": 2, "pb": 2, "msgpack": 3}


class CodecRegistry:
    """Codecs by serialize type. Each server and client has its own; no global mutable map.

    Built-in codecs are imported lazily, so a missing extra only matters when it is used.

    >>> reg = CodecRegistry()
    >>> reg.get(1).encode({"A": 1})
    b'{"A":1}'
    >>> reg.resolve("msgpack")
    3
    """

    def __init__(self) -> None:
        self._codecs: dict[int, Codec] = {}

    def register(self, codec: Codec) -> None:
        """Add or replace the codec for ``codec.serialize_type`` (0..15)."""
        if not 0 <= codec.serialize_type <= 15:
            raise ValueError("serialize type must fit in 4 bits (0..15)")
        self._codecs[codec.serialize_type] = codec

    def get(self, serialize_type: int) -> Codec:
        """The codec for a serialize type; raises :class:`CodecError` with Go's text if there is none."""
        codec = self._codecs.get(serialize_type)
        if codec is not None:
            return codec
        spec = _BUILTIN.get(serialize_type)
        if spec is None:
            raise CodecError(f"can not find codec for {serialize_type}")
        module, cls, extra = spec
        try:
            codec = getattr(importlib.import_module(module), cls)()
        except ImportError as exc:
            raise CodecError(
                f"the {cls} codec needs an optional dependency ({exc.name}): pip install 'rpcx-python[{extra}]'"
            ) from exc
        self._codecs[serialize_type] = codec
        return codec

    @staticmethod
    def resolve(name_or_type: str | int) -> int:
        """Map ``"json"``, ``"msgpack"``, ``"protobuf"``, ``"raw"`` or a number to a serialize type."""
        if isinstance(name_or_type, int):
            return int(name_or_type)
        try:
            return _NAMES[name_or_type.lower()]
        except KeyError:
            raise ValueError(f"unknown codec {name_or_type!r}; known: {sorted(set(_NAMES))}") from None


def default_codecs() -> CodecRegistry:
    """A fresh registry with the built-in codecs (raw, JSON, Protobuf, MessagePack), loaded on first use."""
    return CodecRegistry()
