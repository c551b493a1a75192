"""Fixtures that start real Go rpcx peers (built from tests/interop/ against rpcx v1.9.4) and the
Python example programs, on free loopback ports, and stop them by PID."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
EXAMPLES = ROOT / "examples" / "arith"
BIN = Path(os.environ.get("RPCX_INTEROP_BIN", Path.home() / ".cache" / "rpcx-python" / "interop-bin"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def go_bin() -> Path:
    """Build the Go peers (cheap when Go's build cache is warm) and return their directory."""
    if shutil.which("go") is None:
        pytest.fail("Go is not installed: the interop peers cannot be built (install Go 1.26+)")
    out = subprocess.run(["sh", str(HERE / "build.sh")], capture_output=True, text=True, timeout=900)
    if out.returncode != 0:
        pytest.fail(f"building the Go interop peers failed:\n{out.stderr}")
    return Path(out.stdout.strip().splitlines()[-1])


class Peer:
    """A started server process: its address and its PID."""

    def __init__(self, proc: subprocess.Popen[str], address: str) -> None:
        self.proc = proc
        self.address = address

    def stop(self) -> int:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        return self.proc.returncode


def start(cmd: list[str], cwd: Path | None = None) -> Peer:
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd)
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("serving "):
        proc.kill()
        err = proc.stderr.read() if proc.stderr else ""
        raise RuntimeError(f"{cmd[0]} did not start: {line!r} {err}")
    return Peer(proc, line.split(" ", 1)[1])


@pytest.fixture
def start_go_server(go_bin: Path) -> Iterator:
    peers: list[Peer] = []

    def _start(*args: str, address: str | None = None) -> Peer:
        p = start([str(go_bin / "goserver"), address or "tcp@127.0.0.1:0", *args])
        peers.append(p)
        return p

    yield _start
    for p in peers:
        p.stop()


@pytest.fixture
def start_py_server() -> Iterator:
    peers: list[Peer] = []

    def _start(*args: str, address: str | None = None) -> Peer:
        addr = address or f"tcp@127.0.0.1:{free_port()}"
        p = start([sys.executable, str(EXAMPLES / "server.py"), addr, *args])
        peers.append(p)
        return p

    yield _start
    for p in peers:
        assert p.stop() == 0, "the Python example server did not exit cleanly"


def run_go_client(go_bin: Path, address: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(go_bin / "goclient"), address, *args], capture_output=True, text=True, timeout=timeout
    )


def run_py_client(address: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLES / "client.py"), address, *args], capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="session")
def tls_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A throw-away self-signed certificate for 127.0.0.1/localhost."""
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-days", "1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    return str(cert), str(key)
