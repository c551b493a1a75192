"""``python -m rpcx``: one text form in every codec (JSON, bytes as base64, RFC 3339 times), Go's
error texts, metadata as JSON, durations as people read them, defaults and examples in ``--help``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rpcx.cli import human_duration, to_json

from .conftest import Peer, start

HERE = Path(__file__).resolve().parent
ITEM = '{"SKU":"<x>","Price":2.0,"Tags":[],"Updated":"2024-02-29T13:14:15.123456789Z"}'


@pytest.fixture
def types_server():
    peer = start([sys.executable, str(HERE / "types_service.py"), "tcp@127.0.0.1:0"])
    yield peer
    assert peer.stop() == 0


def rpcx(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rpcx", *args], capture_output=True, text=True, timeout=60)


def test_same_output_in_every_codec(types_server: Peer) -> None:
    outs = {c: rpcx("call", types_server.address, "Types.EchoItem", ITEM, "--codec", c) for c in ("json", "msgpack")}
    for c, out in outs.items():
        assert out.returncode == 0, (c, out.stderr)
    assert outs["json"].stdout == outs["msgpack"].stdout
    reply = json.loads(outs["json"].stdout)
    assert reply["Updated"] == "2024-02-29T13:14:15.123456789Z"
    assert (reply["Tags"], reply["Attrs"], reply["Price"]) == ([], None, 2)


def test_raw_bytes_in_and_out_as_base64(start_py_server) -> None:
    server = start_py_server()
    out = rpcx("call", server.address, "Arith.Echo", "aGVsbG8=", "--codec", "raw", "--meta", "k=v1")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == "aGVsbG8="
    assert out.stderr.strip() == 'metadata: {"k": "v1"}'
    bad = rpcx("call", server.address, "Arith.Echo", "not base64!", "--codec", "raw")
    assert bad.returncode != 0 and "base64" in bad.stderr


def test_field_errors_are_gos_text(types_server: Peer) -> None:
    out = rpcx("call", types_server.address, "Types.EchoItem", '{"SKU": 5}')
    assert out.returncode == 1
    assert out.stderr.strip() == "error: json: cannot unmarshal number into Go struct field Item.SKU of type string"


def test_help_shows_defaults_and_examples() -> None:
    out = rpcx("call", "--help")
    assert "(default: json)" in out.stdout and "(default: 5.0)" in out.stdout
    for option in ("--codec", "--meta", "--timeout"):
        assert f"e.g. {option}" in " ".join(out.stdout.split()), option


def test_human_output() -> None:
    assert human_duration(0.49999423100007334) == "500 ms"
    assert human_duration(90.0) == "90 s"
    assert human_duration(3725) == "1h02m05s"
    assert to_json({"B": b"\x00\xff", "F": 1.0}) == '{"B": "AP8=", "F": 1}'
