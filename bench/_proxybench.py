"""Shared bits of the proxy benchmarks (bench/proxy*.py; bench/ only, not part of the package):
building the Go programs, starting and stopping processes by PID, a proxy from a config dict,
haproxy as the general TCP proxy yardstick, and a process's CPU time."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
BIN = Path(os.environ.get("RPCX_BENCH_BIN") or Path.home() / ".cache" / "rpcx-python" / "bench-bin-proxy")
PYTHON = sys.executable


def build(*progs: str) -> None:
    """Build bench/go programs into BIN (go build is a no-op when nothing changed)."""
    BIN.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, GOFLAGS="-buildvcs=false")
    for prog in progs:
        subprocess.run(["go", "build", "-o", str(BIN / prog), f"./{prog}"], cwd=HERE / "go", env=env, check=True,
                       timeout=600)


def start(cmd: list[str], env: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], str]:
    """Start a server that prints ``serving NETWORK@ADDRESS`` when ready; return it and the address."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("serving "):
        stop(proc)
        raise RuntimeError(f"{cmd[:3]} did not start: {line!r}")
    return proc, line.split()[1]  # "serving tcp@127.0.0.1:5 (uvloop ...)": the address


def stop(proc: subprocess.Popen[Any]) -> None:
    """SIGTERM by PID, SIGKILL after 15 s."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def host_port(addr: str) -> str:
    """``tcp@127.0.0.1:5`` -> ``127.0.0.1:5``."""
    return addr.partition("@")[2] or addr


class Proxy:
    """``rpcx proxy -c FILE`` in a subprocess (uvloop when installed), the file written from ``config``
    (a dict, dumped as JSON, which YAML reads) into a temporary directory; ``rewrite`` changes it
    in place (the proxy reloads on SIGHUP: :meth:`reload`)."""

    def __init__(self, config: dict[str, Any], *extra: str) -> None:
        self._dir = tempfile.TemporaryDirectory()
        self.path = Path(self._dir.name) / "proxy.yaml"
        self.rewrite(config)
        self.proc, self.address = start([PYTHON, "-m", "rpcx", "proxy", "-c", str(self.path), "--watch", "0", *extra])

    def rewrite(self, config: dict[str, Any]) -> None:
        self.path.write_text(json.dumps(config))

    def reload(self) -> None:
        os.kill(self.proc.pid, signal.SIGHUP)

    def close(self) -> None:
        stop(self.proc)
        self._dir.cleanup()


class HAProxy:
    """Debian's haproxy in TCP mode, one thread, one frontend per backend address, on free loopback
    ports; ``addresses[i]`` fronts ``backends[i]``. Stopped by PID."""

    def __init__(self, backends: list[str], threads: int = 1) -> None:
        self._dir = tempfile.TemporaryDirectory()
        cfg = Path(self._dir.name) / "haproxy.cfg"
        ports = [free_port() for _ in backends]
        lines = [f"global\n  nbthread {threads}\n  maxconn 4000\n",
                 "defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 120s\n  timeout server 120s\n"]
        for i, (port, backend) in enumerate(zip(ports, backends)):
            lines.append(f"listen l{i}\n  bind 127.0.0.1:{port}\n  server s{i} {host_port(backend)}\n")
        cfg.write_text("".join(lines))
        self.proc = subprocess.Popen(["haproxy", "-f", str(cfg), "-db"], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        self.addresses = [f"tcp@127.0.0.1:{p}" for p in ports]
        for port in ports:  # ready when every frontend takes connections
            for _ in range(200):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if self.proc.poll() is not None:
                        raise RuntimeError(f"haproxy did not start: {self.proc.stderr.read() if self.proc.stderr else ''}")
                    import time

                    time.sleep(0.05)

    def close(self) -> None:
        stop(self.proc)
        self._dir.cleanup()


def loadclient(addr: str, conc: int, seconds: float, *, n: int = 200000, proto: str = "rpcx",
               extra: tuple[str, ...] = (), warmup: int = 2000) -> dict[str, Any]:
    """One run of Go's load client (bench/go/loadclient); its JSON result."""
    out = subprocess.run(
        [str(BIN / "loadclient"), "-proto", proto, "-addr", host_port(addr), "-c", str(conc), "-n", str(n),
         "-duration", str(seconds), "-warmup", str(warmup), *extra],
        capture_output=True, text=True, timeout=seconds + 300,
    )
    lines = [x for x in out.stdout.splitlines() if x.startswith("{")]
    if out.returncode != 0 or not lines:
        raise RuntimeError(f"loadclient failed: {out.stderr[-500:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result
