"""A Python server answers Go's golden requests whose payload Go's codecs refuse with the frame Go's
server sent: the codec's error text, untouched, as ``__rpcx_error__``."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from .conftest import Peer

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "frames.json"
FRAMES = {f["name"]: f for f in json.loads(GOLDEN.read_text())}


def _exchange(address: str, request: bytes) -> bytes:
    host, port = address.split("@", 1)[1].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(request)
        buf = b""
        while len(buf) < 16 or len(buf) < 16 + int.from_bytes(buf[12:16], "big"):
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    return buf


@pytest.mark.parametrize("name", ["json_empty_payload", "msgpack_empty_payload"])
def test_empty_payload_answer_is_gos_frame(start_py_server, name: str) -> None:
    server: Peer = start_py_server()
    got = _exchange(server.address, bytes.fromhex(FRAMES[f"{name}_request"]["wire_hex"]))
    assert got == bytes.fromhex(FRAMES[f"{name}_response"]["wire_hex"])


def test_a_failed_method_answers_with_gos_zero_reply_beside_the_error(start_py_server) -> None:
    """Go's server encodes the (half-filled) reply object of a method that returned an error and sends
    it beside ``__rpcx_error__``; ours sends the reply type's zero value. Same header, route and
    metadata byte for byte; the payload decodes to the same value (msgpack-python writes Go's
    ``d3``-prefixed int64 zero as the one-byte ``00``, which Go reads back the same)."""
    import msgpack

    from rpcx.protocol import parse_frame

    server: Peer = start_py_server()
    for _ in range(2):  # the second call takes the server's fast path: the same answer
        got = parse_frame(_exchange(server.address, bytes.fromhex(FRAMES["fail_request"]["wire_hex"])))
        want = parse_frame(bytes.fromhex(FRAMES["fail_response"]["wire_hex"]))
        assert (got.message_type, got.status, got.seq, got.serialize_type, got.service_path, got.service_method) == (
            want.message_type, want.status, want.seq, want.serialize_type, want.service_path, want.service_method)
        assert got.metadata == want.metadata == {"__rpcx_error__": "arith failed on purpose"}
        assert msgpack.unpackb(got.payload) == msgpack.unpackb(want.payload) == {"C": 0}
