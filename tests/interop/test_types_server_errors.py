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
