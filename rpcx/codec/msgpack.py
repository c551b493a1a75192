"""Serialize type 3: MessagePack, compatible with vmihailenco/msgpack v5 (Go rpcx's default codec).

Structs travel as maps keyed by exact (case-sensitive) field names; ``bytes`` as bin; integers in
whichever width Go wrote (``d3`` int64 included). Needs the ``msgpack`` extra.
"""

from __future__ import annotations

from typing import Any

import msgpack

from ..errors import CodecError
from ._convert import Converter

__all__ = ["MsgpackCodec"]


class MsgpackCodec:
    """vmihailenco/msgpack v5 compatible: maps keyed by exact field names, bytes as bin.

    >>> MsgpackCodec().encode({"A": 10, "B": 20}).hex()
    '82a1410aa14214'
    """

    serialize_type = 3
    name = "msgpack"

    def __init__(self) -> None:
        self._conv = Converter(bytes_as_base64=False, case_insensitive=False, array_as_struct=True)
        self._packer = msgpack.Packer(use_bin_type=True, autoreset=True, unicode_errors="surrogateescape")

    def encode(self, obj: Any) -> bytes:
        try:
            return self._packer.pack(self._conv.to_wire(obj))
        except (TypeError, ValueError, OverflowError) as exc:
            self._packer.reset()
            raise CodecError(f"msgpack: {exc}") from None

    def decode(self, data: bytes, into: Any = None) -> Any:
        try:
            # Go strings are arbitrary bytes: keep invalid UTF-8 losslessly, as metadata does
            tree = (
                msgpack.unpackb(data, raw=False, strict_map_key=False, unicode_errors="surrogateescape")
                if data
                else None
            )
        except (ValueError, TypeError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as exc:
            raise CodecError(f"msgpack: {exc}") from None
        return self._conv.from_wire(tree, into)
