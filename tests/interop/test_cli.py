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
    import os

    # tests/ on the path, so `rpcx serve ... arith_service:Arith` finds the test's Arith
    env = dict(os.environ, PYTHONPATH=str(HERE.parent) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "rpcx", *args], capture_output=True, text=True, timeout=60, env=env)


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
    assert out.stderr.strip() == (f"rpcx call: Types.EchoItem at {types_server.address}: "
                                  "json: cannot unmarshal number into Go struct field Item.SKU of type string")


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


# -- one-line errors, and `rpcx serve` ----------------------------------------------------------------
def _one_line(out: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    return lines[0]


def test_usage_mistakes_are_one_line_and_exit_2() -> None:
    for args, text in [
        (["call", "tcp@127.0.0.1:1", "ArithMul"], "rpcx call: the target is Service.Method"),
        (["call", "tcp@127.0.0.1:1", "Arith.Mul", "{nope"], "rpcx call: the arguments are JSON"),
        (["call", "tcp@127.0.0.1:1", "Arith.Mul", "--meta", "x"], "rpcx call: --meta takes key=value"),
        (["decode", "zz"], "rpcx decode: the frame is hex"),
        (["call", "--nope"], "rpcx call: "),
        (["serve", "tcp@127.0.0.1:0", "no_such_module:X"], "rpcx serve: cannot import no_such_module"),
    ]:
        out = rpcx(*args)
        assert out.returncode == 2 and _one_line(out).startswith(text), (args, out.stderr)


def test_failures_are_one_line_and_exit_1(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.listen()
        out = rpcx("serve", f"tcp@127.0.0.1:{port}", "arith_service:Arith")
        assert out.returncode == 1
        assert _one_line(out) == f"rpcx serve: cannot listen on tcp@127.0.0.1:{port}: address already in use"
    out = rpcx("serve", "tcp@nonsense", "arith_service:Arith")
    assert out.returncode == 1 and _one_line(out).startswith("rpcx serve: cannot listen on tcp@nonsense: bad tcp address")
    out = rpcx("serve", "tcp@127.0.0.1:0", "arith_service:Arith", "--cert", str(tmp_path / "missing.pem"))
    assert out.returncode == 1 and _one_line(out).startswith("rpcx serve: cannot use certificate")
    out = rpcx("call", f"tcp@127.0.0.1:{port}", "Arith.Mul", '{"A": 1}')
    assert out.returncode == 1 and _one_line(out).endswith("connection refused")
    out = rpcx("decode", "0800")
    assert out.returncode == 1 and _one_line(out) == "rpcx decode: cannot decode: incomplete frame: 2 bytes left over, a frame needs at least 16"


def test_serve_serves_until_sigterm() -> None:
    import os
    import signal

    tests = str(HERE.parent)
    env = dict(os.environ, PYTHONPATH=tests + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, "-m", "rpcx", "serve", "tcp@127.0.0.1:0", "arith_service:Arith"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("serving tcp@127.0.0.1:"), (line, proc.stderr.read() if proc.stderr else "")
        out = rpcx("call", line.split(" ", 1)[1], "Arith.Mul", '{"A": 6, "B": 7}')
        assert out.returncode == 0 and json.loads(out.stdout) == {"C": 42}
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=30) == 0


def test_serve_call_and_ping_over_kcp() -> None:
    import os
    import signal

    pytest.importorskip("cryptography", reason="the kcp transport needs the kcp extra")
    tests = str(HERE.parent)
    env = dict(os.environ, PYTHONPATH=tests + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, "-m", "rpcx", "serve", "kcp@127.0.0.1:0", "arith_service:Arith",
                             "--kcp-key", "cli-key"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("serving kcp@127.0.0.1:"), (line, proc.stderr.read() if proc.stderr else "")
        addr = line.split(" ", 1)[1]
        out = rpcx("call", addr, "Arith.Mul", '{"A": 6, "B": 7}', "--kcp-key", "cli-key")
        assert out.returncode == 0 and json.loads(out.stdout) == {"C": 42}, out.stderr
        out = rpcx("ping", addr, "--count", "2", "--kcp-key", "cli-key")
        assert out.returncode == 0 and out.stdout.count("heartbeat") == 2, out.stderr
        out = rpcx("call", addr, "Arith.Mul", '{"A": 6, "B": 7}', "--kcp-key", "wrong", "--timeout", "0.5")
        assert out.returncode == 1 and "no answer" in out.stderr and len(out.stderr.splitlines()) == 1, out.stderr
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
