"""Payload codecs: raw bytes, JSON, MessagePack, Protobuf behind one small interface (layer: codecs).

Also the Python names for Go types that plain ``int`` / ``float`` / ``datetime`` cannot express
(``Int8`` .. ``Uint64``, ``Float32``, ``Duration``, ``Time``) and :class:`FieldTypeError`, the
error for a value that does not fit its field. ``docs/types.md`` maps every Go type.
"""

from .base import Codec, CodecRegistry, default_codecs
from .gotypes import (
    Duration,
    FieldTypeError,
    Float32,
    GoFloat32,
    GoInt,
    Int,
    Int8,
    Int16,
    Int32,
    Int64,
    Time,
    Uint,
    Uint8,
    Uint16,
    Uint32,
    Uint64,
)

__all__ = [
    "Codec",
    "CodecRegistry",
    "default_codecs",
    "Duration",
    "FieldTypeError",
    "Float32",
    "GoFloat32",
    "GoInt",
    "Int",
    "Int8",
    "Int16",
    "Int32",
    "Int64",
    "Time",
    "Uint",
    "Uint8",
    "Uint16",
    "Uint32",
    "Uint64",
]
