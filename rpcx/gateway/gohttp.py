"""Go's small HTTP helpers the gateway's answers depend on, reproduced exactly (layer: gateway, stdlib only).

Go's rpcx gateway answers with texts and header values made by Go's standard library:
``url.ParseQuery`` / ``url.Values.Encode`` for ``X-RPCX-Meta``, ``strconv.ParseUint`` /
``strconv.Atoi`` error texts for bad numeric headers, ``http.DetectContentType`` for the
``Content-Type`` of a reply, the canonical header spelling ``X-Rpcx-Messageid``. They are here so
the gateway says byte for byte what Go says.

>>> parse_query("a=1&b=x%20y&a=2")
({'a': ['1', '2'], 'b': ['x y']}, None)
>>> encode_query({"b": "x y", "a": "1&"})
'a=1%26&b=x+y'
>>> parse_uint("abc")
(None, 'strconv.ParseUint: parsing "abc": invalid syntax')
>>> canonical("x-rpcx-messageid"), detect_content_type(b'{"C":1}')
('X-Rpcx-Messageid', 'text/plain; charset=utf-8')
"""

from __future__ import annotations

import functools
import re
import urllib.parse
from typing import Optional

__all__ = ["parse_query", "encode_query", "parse_uint", "atoi", "canonical", "detect_content_type"]

_HEX = "0123456789abcdefABCDEF"


def _unescape(s: str) -> tuple[str, Optional[str]]:
    """Go's ``url.QueryUnescape``: ``+`` is a space; a bad ``%`` escape is an error."""
    i = s.find("%")
    while i >= 0:
        esc = s[i + 1 : i + 3]
        if len(esc) < 2 or esc[0] not in _HEX or esc[1] not in _HEX:
            return "", f'invalid URL escape "{s[i : i + 3]}"'
        i = s.find("%", i + 3)
    raw = urllib.parse.unquote_to_bytes(s.replace("+", " "))
    return raw.decode("utf-8", "surrogateescape"), None


def parse_query(query: str) -> tuple[dict[str, list[str]], Optional[str]]:
    """Go's ``url.ParseQuery``: the values, and the text of the first error (parsing goes on)."""
    out: dict[str, list[str]] = {}
    err: Optional[str] = None
    for part in query.split("&"):
        if not part:
            continue
        if ";" in part:
            err = err or "invalid semicolon separator in query"
            continue
        key, _, value = part.partition("=")
        k, e1 = _unescape(key)
        if e1:
            err = err or e1
            continue
        v, e2 = _unescape(value)
        if e2:
            err = err or e2
            continue
        out.setdefault(k, []).append(v)
    return out, err


def _escape(s: str) -> str:
    # Go's QueryEscape: unreserved ASCII kept, space as '+', everything else %XX (upper case)
    return urllib.parse.quote_plus(s, safe="-_.~")


def encode_query(values: dict[str, str]) -> str:
    """Go's ``url.Values.Encode`` of one value per key: sorted by key, query-escaped."""
    return "&".join(f"{_escape(k)}={_escape(values[k])}" for k in sorted(values))


def parse_uint(s: str) -> tuple[Optional[int], Optional[str]]:
    """Go's ``strconv.ParseUint(s, 10, 64)``: the value or the error text."""
    if s and all("0" <= c <= "9" for c in s) and s.isascii():
        n = int(s)
        if n < 1 << 64:
            return n, None
        return None, f'strconv.ParseUint: parsing "{s}": value out of range'
    return None, f'strconv.ParseUint: parsing "{s}": invalid syntax'


def atoi(s: str) -> tuple[Optional[int], Optional[str]]:
    """Go's ``strconv.Atoi``: an optional sign and decimal digits, within int64."""
    body = s[1:] if s[:1] in ("+", "-") else s
    if body and body.isascii() and body.isdigit():
        n = int(s)
        if -(1 << 63) <= n < 1 << 63:
            return n, None
        return None, f'strconv.Atoi: parsing "{s}": value out of range'
    return None, f'strconv.Atoi: parsing "{s}": invalid syntax'


@functools.lru_cache(maxsize=1024)  # header names repeat on every request; hostile ones cannot grow it
def canonical(name: str) -> str:
    """Go's ``textproto.CanonicalMIMEHeaderKey`` for token names: ``x-rpcx-meta`` -> ``X-Rpcx-Meta``."""
    return "-".join(p[:1].upper() + p[1:].lower() for p in name.split("-"))


# http.DetectContentType's signatures that a reply payload can plausibly start with; the rest of
# its table (HTML, images, audio, fonts, archives) is for files, not rpcx payloads
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "application/pdf"),
    (b"\x1f\x8b\x08", "application/x-gzip"),
    (b"PK\x03\x04", "application/zip"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xfe\xff", "text/plain; charset=utf-16be"),
    (b"\xff\xfe", "text/plain; charset=utf-16le"),
    (b"\xef\xbb\xbf", "text/plain; charset=utf-8"),
)
_FIRST_BYTES = frozenset(sig[:1] for sig, _ in _SIGNATURES)
# Go's isBinary table: 0x00-0x08, 0x0B, 0x0E-0x1A, 0x1C-0x1F (one regex search: a byte loop in
# Python cost more than the rest of the sniffing)
_BINARY = re.compile(b"[\x00-\x08\x0b\x0e-\x1a\x1c-\x1f]")


def detect_content_type(data: bytes) -> str:
    """What Go's ``http.DetectContentType`` says for a reply payload (its text/binary rule and the
    signatures above): JSON and MessagePack replies are usually ``text/plain; charset=utf-8``."""
    head = data[:512]
    if head[:1] in _FIRST_BYTES:
        for sig, ctype in _SIGNATURES:
            if head.startswith(sig):
                return ctype
    if _BINARY.search(head) is not None:
        return "application/octet-stream"
    return "text/plain; charset=utf-8"
