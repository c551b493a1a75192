"""Serialize type 1: JSON, as Go's ``encoding/json`` writes and reads it (layer: codecs).

Compact output with no trailing newline; ``<``, ``>``, ``&``, U+2028 and U+2029 escaped as Go
escapes them; map keys sorted as Go sorts them; field names matched exactly, then
case-insensitively, on decode; ``bytes`` as base64 strings (Go's ``[]byte``); ``datetime`` as
RFC 3339 with nanoseconds (Go's ``time.Time``). An empty payload is Go's ``EOF`` error.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ..errors import CodecError
from ._convert import Converter, TreeCodec

__all__ = ["JSONCodec"]

_GO_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_GO_ESCAPE_RE = re.compile("[<>&\u2028\u2029]")


def _no_constants(name: str) -> Any:
    # Python's json reads NaN and Infinity; Go's does not
    raise ValueError(f"invalid character {name[0]!r} looking for beginning of value")


def _go_escape(s: str) -> str:
    # These characters only ever occur inside JSON strings, so replacing them in the whole text is safe
    if "<" in s or ">" in s or "&" in s or (not s.isascii() and ("\u2028" in s or "\u2029" in s)):
        return _GO_ESCAPE_RE.sub(lambda m: _GO_ESCAPES[m.group()], s)
    return s


class JSONCodec(TreeCodec):
    """Go's ``encoding/json``: compact, no trailing newline, HTML-safe escapes.

    >>> JSONCodec().encode({"A": 10, "B": 20})
    b'{"A":10,"B":20}'
    >>> JSONCodec().encode("<a&b>")
    b'"\\\\u003ca\\\\u0026b\\\\u003e"'
    """

    serialize_type = 1
    name = "json"

    def __init__(self) -> None:
        self._conv = Converter("json", json=True)
        self._dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode
        # one decoder built here: json.loads with any keyword builds a new one per call
        self._loads = json.JSONDecoder(parse_constant=_no_constants).decode

    def encode(self, obj: Any) -> bytes:
        """Go's ``json.Marshal`` bytes for ``obj``; :class:`FieldTypeError` for a value its hint refuses."""
        try:
            return _go_escape(self._dumps(self._conv.to_wire(obj))).encode()
        except CodecError:
            raise
        except (TypeError, ValueError) as exc:
            raise CodecError(f"json: {exc}") from None

    def _tree(self, data: bytes) -> Any:
        # Go reads UTF-8 only and turns invalid bytes into U+FFFD instead of failing
        text = bytes(data).decode("utf-8", "replace")
        try:
            return self._loads(text)
        except ValueError as exc:
            if not text.strip():
                raise CodecError("EOF") from None  # json.Decoder.Decode on an empty stream
            if isinstance(exc, json.JSONDecodeError):
                if exc.msg == "Extra data":
                    # rpcx decodes with json.Decoder, which reads the first value and leaves the rest
                    return json.JSONDecoder(parse_constant=_no_constants).raw_decode(text.lstrip(" \t\r\n"))[0]
                if exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string"):
                    raise CodecError("unexpected EOF") from None  # Go's text for a value cut short
            raise CodecError(f"json: {exc}") from None
