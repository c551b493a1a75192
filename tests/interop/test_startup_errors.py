"""The mistakes a person makes first, made against the example programs and the Go peers.

A server that cannot listen or load its certificate, and a client that cannot reach its server,
must say so in one line on stderr and exit non-zero, without a traceback (rpcx/oneline.py
has the exit statuses). The Go peers (tests/interop/goserver, goclient) are held to the same
shape where they share the mistake, so docs/interop.md can say what each side prints.
Every program runs as a subprocess on loopback and is killed by PID if it does not exit.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from .conftest import EXAMPLES, free_port

SERVER = [sys.executable, str(EXAMPLES / "server.py")]
CLIENT = [sys.executable, str(EXAMPLES / "client.py")]


def run(cmd: list[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run a program that is expected to give up; kill it by PID if it serves instead."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"{cmd} did not exit within {timeout}s; stdout={out!r} stderr={err!r}")
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """Assert the shape every start-up failure must have, and return the line."""
    lines = result.stderr.splitlines()
    assert result.returncode != 0, f"exit 0 for a failure: {result}"
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}:\n{result.stderr}"
    assert "Traceback" not in result.stderr and "panic" not in result.stderr, result.stderr
    assert not result.stdout.startswith("serving"), result.stdout
    return lines[0]


@pytest.fixture
def port_in_use() -> Iterator[int]:
    """A loopback port held by a listening socket for the length of the test."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


@pytest.fixture
def closed_port() -> int:
    """A loopback port nobody listens on (bound once, then released)."""
    return free_port()


# -- server.py ---------------------------------------------------------------------------------


def test_server_address_in_use(port_in_use: int) -> None:
    address = f"tcp@127.0.0.1:{port_in_use}"
    result = run([*SERVER, address])
    assert one_line_error(result) == f"server.py: cannot listen on {address}: address already in use"
    assert result.returncode == 1


@pytest.mark.parametrize(
    "address, why",
    [
        ("tcp@nonsense", "bad tcp address 'nonsense': expected host:port"),
        ("nonsense", "bad tcp address 'nonsense': expected host:port"),
        ("@", "bad server address '@': expected network@address"),
        ("foo@127.0.0.1:0", "foo unsupported: known networks are"),
    ],
)
def test_server_bad_address(address: str, why: str) -> None:
    result = run([*SERVER, address])
    line = one_line_error(result)
    assert line.startswith(f"server.py: cannot listen on {address}: {why}"), line
    assert result.returncode == 1


def test_server_unix_socket_in_missing_directory(tmp_path: Path) -> None:
    address = f"unix@{tmp_path}/no-such-dir/arith.sock"
    result = run([*SERVER, address])
    assert one_line_error(result) == f"server.py: cannot listen on {address}: no such file or directory"
    assert result.returncode == 1


def test_server_missing_certificate(tmp_path: Path) -> None:
    cert, key = tmp_path / "missing-cert.pem", tmp_path / "missing-key.pem"
    result = run([*SERVER, "tcp@127.0.0.1:0", "--cert", str(cert), "--key", str(key)])
    assert one_line_error(result) == f"server.py: cannot read certificate {cert}: no such file or directory"
    assert result.returncode == 1


def test_server_missing_key_with_good_certificate(tls_cert: tuple[str, str], tmp_path: Path) -> None:
    cert, _ = tls_cert
    key = tmp_path / "missing-key.pem"
    result = run([*SERVER, "tcp@127.0.0.1:0", "--cert", cert, "--key", str(key)])
    assert one_line_error(result) == f"server.py: cannot read certificate {key}: no such file or directory"


def test_server_certificate_that_is_not_pem(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("this is not a certificate\n")
    result = run([*SERVER, "tcp@127.0.0.1:0", "--cert", str(junk), "--key", str(junk)])
    line = one_line_error(result)
    assert line.startswith(f"server.py: cannot use certificate {junk} with key {junk}: not a usable certificate"), line
    assert result.returncode == 1


@pytest.mark.parametrize(
    "args, why",
    [
        (["tcp@127.0.0.1:0", "--bogus"], "unrecognized arguments: --bogus"),
        ([], "the following arguments are required: address"),
        (["tcp@127.0.0.1:0", "--key", "k.pem"], "--key needs --cert"),
    ],
)
def test_server_bad_command_line(args: list[str], why: str) -> None:
    result = run([*SERVER, *args])
    assert one_line_error(result) == f"server.py: {why} (see --help)"
    assert result.returncode == 2


# -- client.py ---------------------------------------------------------------------------------


def test_client_against_closed_port(closed_port: int) -> None:
    address = f"tcp@127.0.0.1:{closed_port}"
    result = run([*CLIENT, address])
    line = one_line_error(result)
    assert line == f"client.py: Arith.Mul at {address}: dial {address}: connection refused"
    assert result.returncode == 1


@pytest.mark.parametrize(
    "address, why",
    [
        ("tcp@nonsense", "bad tcp address 'nonsense': expected host:port"),
        ("foo@127.0.0.1:1", "foo unsupported: known networks are"),
    ],
)
def test_client_bad_address(address: str, why: str) -> None:
    result = run([*CLIENT, address])
    line = one_line_error(result)
    assert line.startswith(f"client.py: Arith.Mul at {address}: {why}"), line
    assert result.returncode == 1


def test_client_missing_ca_file(tmp_path: Path, closed_port: int) -> None:
    ca = tmp_path / "missing-ca.pem"
    result = run([*CLIENT, f"tcp@127.0.0.1:{closed_port}", "--tls", "--cert", str(ca)])
    assert one_line_error(result) == f"client.py: cannot read CA certificate {ca}: no such file or directory"


@pytest.mark.parametrize(
    "args, why",
    [
        (["tcp@127.0.0.1:1", "--codec", "xml"], "argument --codec: invalid choice: 'xml'"),
        (["tcp@127.0.0.1:1", "--timeout", "soon"], "argument --timeout: invalid float value: 'soon'"),
    ],
)
def test_client_bad_command_line(args: list[str], why: str) -> None:
    result = run([*CLIENT, *args])
    line = one_line_error(result)
    assert line.startswith(f"client.py: {why}") and line.endswith("(see --help)"), line
    assert result.returncode == 2


def test_client_error_from_a_running_server_is_one_line(start_py_server) -> None:
    """A call the server refuses (wrong token) is one line too, and exit 1."""
    server = start_py_server("--auth", "s3cret")
    result = run([*CLIENT, server.address, "--auth", "wrong"])
    line = one_line_error(result)
    assert line == f"client.py: Arith.Mul at {server.address}: invalid token"
    assert result.returncode == 1


# -- the Go peers, for the same mistakes (what docs/interop.md reports) -------------------------


def test_goserver_address_in_use(go_bin: Path, port_in_use: int) -> None:
    result = run([str(go_bin / "goserver"), f"tcp@127.0.0.1:{port_in_use}"])
    line = one_line_error(result)
    assert line == f"goserver: listen tcp 127.0.0.1:{port_in_use}: bind: address already in use"
    assert result.returncode == 1


@pytest.mark.parametrize(
    "args, why",
    [
        (["tcp@nonsense"], "goserver: listen tcp: address nonsense: missing port in address"),
        (["foo@127.0.0.1:0"], "goserver: can not make listener for foo"),
        (["tcp@127.0.0.1:0", "--cert", "/nonexistent/cert.pem", "--key", "/nonexistent/key.pem"],
         "goserver: open /nonexistent/cert.pem: no such file or directory"),
    ],
)
def test_goserver_cannot_start(go_bin: Path, args: list[str], why: str) -> None:
    result = run([str(go_bin / "goserver"), *args])
    assert one_line_error(result) == why
    assert result.returncode == 1


def test_goclient_against_closed_port(go_bin: Path, closed_port: int) -> None:
    result = run([str(go_bin / "goclient"), f"tcp@127.0.0.1:{closed_port}"])
    assert one_line_error(result) == f"dial tcp 127.0.0.1:{closed_port}: connect: connection refused"
    assert result.returncode == 1
