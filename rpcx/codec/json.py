"""Serialize type 1: JSON, as Go's ``encoding/json`` writes and reads it.

Compact output with no trailing newline, field names matched case-insensitively on decode, ``bytes``
as base64 strings (Go's ``[]byte``).
"""

from __future__ import annotations

import json
from typing import Any

from ..errors import CodecError
from ._convert import Converter

__all__ = ["JSONCodec"]


class JSONCodec:
    """Go's ``encoding/json``: compact, no trailing newline.

    >>> JSONCodec().encode({"A": 10, "B": 20})
    b'{"A":10,"B":20}'
    """

    serialize_type = 1
    name = "json"

    def __init__(self) -> None:
        self._conv = Converter(bytes_as_base64=True, case_insensitive=True)
        self._dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode

    def encode(self, obj: Any) -> bytes:
        try:
            return self._dumps(self._conv.to_wire(obj)).encode()
        except (TypeError, ValueError) as exc:
            raise CodecError(f"json: {exc}") from None

    def decode(self, data: bytes, into: Any = None) -> Any:
        try:
            # Go reads UTF-8 only and turns invalid bytes into U+FFFD instead of failing
            tree = json.loads(bytes(data).decode("utf-8", "replace")) if data else None
        except ValueError as exc:
            raise CodecError(f"json: {exc}") from None
        return self._conv.from_wire(tree, into)
