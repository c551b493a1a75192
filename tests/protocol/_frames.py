"""Byte-level helpers and reference vectors shared by the protocol tests (docs/wire-format.md §16)."""

from __future__ import annotations

import struct


def hx(text: str) -> bytes:
    """Hex with whitespace and ``|`` separators allowed."""
    return bytes.fromhex("".join(text.replace("|", " ").split()))


def raw_frame(
    *,
    path: bytes = b"",
    method: bytes = b"",
    meta: bytes = b"",
    payload: bytes = b"",
    flags: int = 0,
    ser: int = 0,
    seq: int = 0,
    version: int = 0,
    magic: int = 0x08,
    total: int | None = None,
    path_len: int | None = None,
    method_len: int | None = None,
    meta_len: int | None = None,
    payload_len: int | None = None,
) -> bytes:
    """A frame built by hand, with any length field overridable to make it lie."""
    body = b"".join(
        (
            struct.pack(">I", len(path) if path_len is None else path_len),
            path,
            struct.pack(">I", len(method) if method_len is None else method_len),
            method,
            struct.pack(">I", len(meta) if meta_len is None else meta_len),
            meta,
            struct.pack(">I", len(payload) if payload_len is None else payload_len),
            payload,
        )
    )
    head = struct.pack(">BBBBQI", magic, version, flags, ser, seq, len(body) if total is None else total)
    return head + body


def meta_pairs(*pairs: tuple[bytes, bytes]) -> bytes:
    return b"".join(struct.pack(">I", len(k)) + k + struct.pack(">I", len(v)) + v for k, v in pairs)


# A: smallnest/rpcx protocol/message_test.go TestMessage (== rpcx-rs's 114-byte vector)
VECTOR_A = hx(
    """
    08 00 00 10 00 00 00 00 49 96 02 d2 00 00 00 62
    00 00 00 05 41 72 69 74 68 00 00 00 03 41 64 64
    00 00 00 30 00 00 00 04 5f 5f 49 44 00 00 00 24
    36 62 61 37 62 38 31 30 2d 39 64 61 64 2d 31 31
    64 31 2d 38 30 62 34 2d 30 30 63 30 34 66 64 34
    33 30 63 39 00 00 00 1a 7b 0a 09 09 22 41 22 3a
    20 31 2c 0a 09 09 22 42 22 3a 20 32 2c 0a 09 7d
    0a 09
    """
)
VECTOR_A_PAYLOAD = b'{\n\t\t"A": 1,\n\t\t"B": 2,\n\t}\n\t'

# B: a Go DefaultOption client's first Arith.Mul (msgpack Args{10,20}) and the server's Reply{200}
VECTOR_B_REQUEST = hx(
    """
    08 00 00 30 00 00 00 00 00 00 00 00 00 00 00 1f
    00 00 00 05 41 72 69 74 68 00 00 00 03 4d 75 6c
    00 00 00 00 00 00 00 07 82 a1 41 0a a1 42 14
    """
)
VECTOR_B_RESPONSE = hx(
    """
    08 00 80 30 00 00 00 00 00 00 00 00 00 00 00 1d
    00 00 00 05 41 72 69 74 68 00 00 00 03 4d 75 6c
    00 00 00 00 00 00 00 05 81 a1 43 cc c8
    """
)

# C: heartbeat seq 5 carrying msgpack int64 1700000000000000000, and its echo
VECTOR_C_REQUEST = hx(
    "08 00 40 30 00 00 00 00 00 00 00 05 00 00 00 19 00 00 00 00 00 00 00 00 00 00 00 00"
    " 00 00 00 09 d3 17 97 9c fe 36 2a 00 00"
)
VECTOR_C_RESPONSE = hx(
    "08 00 c0 30 00 00 00 00 00 00 00 05 00 00 00 19 00 00 00 00 00 00 00 00 00 00 00 00"
    " 00 00 00 09 d3 17 97 9c fe 36 2a 00 00"
)

# D: error response to a msgpack request for the unknown service Foo.Bar, seq 1
VECTOR_D = hx(
    """
    08 00 81 30 00 00 00 00 00 00 00 01 00 00 00 48 00 00 00 03 46 6f 6f 00 00 00 03 42 61 72
    00 00 00 32 00 00 00 0e 5f 5f 72 70 63 78 5f 65 72 72 6f 72 5f 5f 00 00 00 1c
    72 70 63 78 3a 20 63 61 6e 27 74 20 66 69 6e 64 20 73 65 72 76 69 63 65 20 46 6f 6f 00 00 00 00
    """
)
