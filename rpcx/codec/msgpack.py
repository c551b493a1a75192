"""Serialize type 3: MessagePack, compatible with vmihailenco/msgpack v5 (Go rpcx's default codec).

Structs travel as maps keyed by exact (case-sensitive) field names; ``bytes`` as bin; integers in
whichever width Go wrote (``d3`` int64 included); ``datetime`` as the timestamp extension (-1)
Go writes for ``time.Time``; :data:`~rpcx.codec.Float32` fields as float32 (``ca``), which Go
requires. An empty payload is Go's ``EOF`` error. Needs the ``msgpack`` extra.
"""

from __future__ import annotations

import struct
from typing import Any, Callable

import msgpack

from ..errors import CodecError
from ._convert import F32, Converter, TreeCodec

__all__ = ["MsgpackCodec"]

_UNPACK_ERRORS = (ValueError, TypeError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError)


class _NeedsFloat32(Exception):
    """The tree holds a float32: msgpack's C packer cannot write one next to float64s."""


def _default(o: Any) -> Any:
    # strict_types sends subclasses here: plain them, except F32, which needs the slow packer
    if isinstance(o, F32):
        raise _NeedsFloat32
    plain: tuple[type[Any], ...] = (int, float, str, bytes, dict)
    for t in plain:
        if isinstance(o, t):
            return t(o)
    if isinstance(o, (list, tuple)):
        return list(o)
    raise TypeError(f"can not serialize {type(o).__name__!r} object")


def _pack_slow(o: Any, out: bytearray, packb: Callable[[Any], bytes]) -> None:
    """Pack a tree holding F32 values: containers by hand, everything else by msgpack."""
    if isinstance(o, F32):
        out += b"\xca" + struct.pack(">f", o)
    elif isinstance(o, list):
        n = len(o)
        out += bytes([0x90 | n]) if n < 16 else (b"\xdc" + struct.pack(">H", n) if n < 65536 else b"\xdd" + struct.pack(">I", n))
        for x in o:
            _pack_slow(x, out, packb)
    elif isinstance(o, dict):
        n = len(o)
        out += bytes([0x80 | n]) if n < 16 else (b"\xde" + struct.pack(">H", n) if n < 65536 else b"\xdf" + struct.pack(">I", n))
        for k, v in o.items():
            _pack_slow(k, out, packb)
            _pack_slow(v, out, packb)
    else:
        out += packb(o)


class MsgpackCodec(TreeCodec):
    """vmihailenco/msgpack v5 compatible: maps keyed by exact field names, bytes as bin.

    >>> MsgpackCodec().encode({"A": 10, "B": 20}).hex()
    '82a1410aa14214'
    """

    serialize_type = 3
    name = "msgpack"

    def __init__(self) -> None:
        self._conv = Converter("msgpack", json=False)
        self._packer = msgpack.Packer(
            use_bin_type=True, autoreset=True, unicode_errors="surrogateescape", strict_types=True, default=_default
        )

    def encode(self, obj: Any) -> bytes:
        """MessagePack bytes vmihailenco/msgpack reads into the Go type; :class:`FieldTypeError` for a value its hint refuses."""
        tree = self._conv.to_wire(obj)
        try:
            return self._packer.pack(tree)
        except _NeedsFloat32:
            self._packer.reset()
            out = bytearray()
            try:
                _pack_slow(tree, out, self._packer.pack)
            except (TypeError, ValueError, OverflowError) as exc:
                self._packer.reset()
                raise CodecError(f"msgpack: {exc}") from None
            return bytes(out)
        except (TypeError, ValueError, OverflowError) as exc:
            self._packer.reset()
            raise CodecError(f"msgpack: {exc}") from None

    @staticmethod
    def _tree(data: bytes) -> Any:
        if not data:
            raise CodecError("EOF")  # vmihailenco/msgpack's Decoder on an empty stream
        try:
            # Go strings are arbitrary bytes: keep invalid UTF-8 losslessly, as metadata does
            return msgpack.unpackb(data, raw=False, strict_map_key=False, unicode_errors="surrogateescape")
        except msgpack.ExtraData as extra:
            # rpcx decodes with msgpack.NewDecoder, which reads the first value and leaves the rest
            return extra.unpacked
        except _UNPACK_ERRORS as exc:
            if "incomplete input" in str(exc):
                raise CodecError("EOF") from None  # vmihailenco/msgpack's text for a value cut short
            raise CodecError(f"msgpack: {exc}") from None
