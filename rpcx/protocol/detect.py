"""What protocol a connection speaks, from its first bytes (layer: sans-IO core, stdlib only).

One port can answer several protocols, as Go rpcx does with cmux (rpcx, then its HTTP gateway and
JSON-RPC) and brpc does natively: the server looks at the first bytes of each connection, picks
one protocol for the whole connection, and hands it the bytes already read. This module holds the
matchers; :mod:`rpcx.server.sniff` applies them.

A matcher takes the bytes received so far and answers True (mine), False (not mine) or None (not
enough bytes to tell yet).

>>> match_rpcx(b"\\x08\\x00"), match_tls(b"\\x16\\x03\\x01"), match_http(b"GET / HTTP/1.1"), match_http(b"GE")
(True, True, True, None)
>>> match_http(b"\\x08"), match_rpcx(b"")
(False, None)
"""

from __future__ import annotations

from typing import Callable, Optional

from .constants import MAGIC

__all__ = ["Matcher", "match_rpcx", "match_tls", "match_http", "HTTP_METHODS"]

#: ``match(first_bytes) -> True | False | None`` (None: send more bytes)
Matcher = Callable[[bytes], Optional[bool]]

#: what cmux's ``HTTP1Fast`` accepts as the start of an HTTP/1 request, plus PATCH
HTTP_METHODS = (b"GET ", b"POST ", b"PUT ", b"DELETE ", b"HEAD ", b"OPTIONS ", b"TRACE ", b"CONNECT ", b"PATCH ")


def match_rpcx(prefix: bytes) -> Optional[bool]:
    """An rpcx frame starts with the magic byte 0x08."""
    if not prefix:
        return None
    return prefix[0] == MAGIC


def match_tls(prefix: bytes) -> Optional[bool]:
    """A TLS ClientHello record: content type 22, protocol major version 3."""
    if len(prefix) < 2:
        return None if not prefix or prefix[0] == 0x16 else False
    return prefix[0] == 0x16 and prefix[1] == 0x03


def match_http(prefix: bytes) -> Optional[bool]:
    """An HTTP/1 request line: a method name and a space."""
    for method in HTTP_METHODS:
        n = min(len(prefix), len(method))
        if prefix[:n] == method[:n]:
            return True if n == len(method) else None
    return False
