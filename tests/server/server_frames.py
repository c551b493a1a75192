"""Byte-exact frames from docs/wire-format.md §16 and a request builder, shared by the server tests."""

from __future__ import annotations

from rpcx.protocol import Message, SerializeType

H = bytes.fromhex

# docs/wire-format.md §16 B: a Go DefaultOption client's first call and the Go server's reply
MUL_REQUEST = H(
    "08 00 00 30 00 00 00 00 00 00 00 00 00 00 00 1f"
    "00 00 00 05 41 72 69 74 68 00 00 00 03 4d 75 6c"
    "00 00 00 00 00 00 00 07 82 a1 41 0a a1 42 14"
)
MUL_RESPONSE = H(
    "08 00 80 30 00 00 00 00 00 00 00 00 00 00 00 1d"
    "00 00 00 05 41 72 69 74 68 00 00 00 03 4d 75 6c"
    "00 00 00 00 00 00 00 05 81 a1 43 cc c8"
)
# §16 C: heartbeat seq 5 and its echo
HEARTBEAT = H(
    "08 00 40 30 00 00 00 00 00 00 00 05 00 00 00 19 00 00 00 00 00 00 00 00 00 00 00 00"
    "00 00 00 09 d3 17 97 9c fe 36 2a 00 00"
)
HEARTBEAT_ECHO = HEARTBEAT[:2] + b"\xc0" + HEARTBEAT[3:]
# §16 D: the error reply to a msgpack request for unknown service Foo.Bar, seq 1
FOO_BAR_ERROR = H(
    "08 00 81 30 00 00 00 00 00 00 00 01 00 00 00 48 00 00 00 03 46 6f 6f 00 00 00 03 42 61 72"
    "00 00 00 32 00 00 00 0e 5f 5f 72 70 63 78 5f 65 72 72 6f 72 5f 5f 00 00 00 1c"
    "72 70 63 78 3a 20 63 61 6e 27 74 20 66 69 6e 64 20 73 65 72 76 69 63 65 20 46 6f 6f 00 00 00 00"
)


def req(path: str, method: str, payload: bytes = b"", *, seq: int = 1, **kw) -> Message:
    kw.setdefault("serialize_type", SerializeType.MSGPACK)
    return Message(service_path=path, service_method=method, seq=seq, payload=payload, **kw)
