"""Benchmark HTTP invoke and JSON-RPC on the rpcx port: the Python server (``--gateway``, uvloop)
next to Go rpcx's same-port gateway, under one Go HTTP load client (bench/go/httpload).

    .venv/bin/python bench/gateway.py [--seconds 3] [--conc 1,16,64]

Each (server, protocol, concurrency) cell starts the server as a subprocess on a free loopback
port, runs httpload (bounded: at most 200000 calls or --seconds), and stops the server by PID. The
last cells call the Python server directly over rpcx (bench/go/loadclient ``-proto arith``: a Go
XClient, msgpack, one connection per caller), the baseline of the standalone gateway's hop.
Besides calls/s and latency it prints the server's CPU time per call (from /proc), which a machine
shared with other work distorts less than calls/s (for the standalone gateway: the gateway process's own;
for 2 reuseport workers: both processes'), and the kernel's share of it (system time).
The Go server is tests/interop/goserver (built by tests/interop/build.sh into RPCX_INTEROP_BIN);
httpload is built into ~/.cache/rpcx-python/bench-bin-gateway. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Callable

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
INTEROP_BIN = Path(os.environ.get("RPCX_INTEROP_BIN", Path.home() / ".cache" / "rpcx-python" / "interop-bin"))
BENCH_BIN = Path.home() / ".cache" / "rpcx-python" / "bench-bin-gateway"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(cmd: list[str]) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("serving "):
        proc.kill()
        raise RuntimeError(f"{cmd[0]} did not start: {line!r}")
    return proc, line.split(" ", 1)[1]


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


#: httpload's default warm-up calls per connection
WARM = 200


def cpu_seconds(pid: int) -> tuple[float, float]:
    """User and system CPU seconds a process has used (/proc; Linux): the cost per call that a
    machine shared with other work does not distort as much as calls/s; the system part is the
    kernel's (socket reads and writes, epoll), which no user-space change removes."""
    fields = open(f"/proc/{pid}/stat").read().rpartition(")")[2].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def cpu_of(pids: list[int]) -> tuple[float, float]:
    user = system = 0.0
    for pid in pids:
        u, s = cpu_seconds(pid)
        user, system = user + u, system + s
    return user, system


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--conc", default="1,16,64")
    p.add_argument("--only", default="",
                   help="run only the servers whose name contains one of these (comma-separated), e.g. --only Python")
    a = p.parse_args()
    subprocess.run(["sh", str(ROOT / "tests" / "interop" / "build.sh")], check=True, capture_output=True)
    BENCH_BIN.mkdir(parents=True, exist_ok=True)
    subprocess.run(["go", "build", "-o", str(BENCH_BIN / "httpload"), "./httpload"], cwd=HERE / "go", check=True)
    subprocess.run(["go", "build", "-o", str(BENCH_BIN / "loadclient"), "./loadclient"], cwd=HERE / "go", check=True)
    only = [o for o in a.only.split(",") if o]
    py_server = [sys.executable, str(ROOT / "examples" / "arith" / "server.py")]
    # each entry: the commands to start, in order; each gets the address of the one before (the
    # standalone gateway is pointed at its server); the load goes to the last
    servers: dict[str, list[Callable[[str], list[str]]]] = {
        "Go rpcx v1.9.4": [lambda _: [str(INTEROP_BIN / "goserver"), "tcp@127.0.0.1:0"]],
        # no gateway at all: uvloop writing a canned answer per read (bench/http_floor.py)
        "floor: uvloop, canned answer": [lambda _: [sys.executable, str(HERE / "http_floor.py")]],
        "Python, httptools": [lambda _: py_server + [f"tcp@127.0.0.1:{free_port()}", "--gateway", "--http-parser",
                                                     "httptools"]],
        # two server processes on one port (SO_REUSEPORT; the kernel spreads connections, not
        # calls, over them): the way a Python server uses a second core. CPU is both processes'
        "Python, httptools, 2 reuseport workers": [
            lambda _: py_server + [f"reuseport@127.0.0.1:{free_port()}", "--gateway", "--http-parser", "httptools"],
            lambda first: py_server + ["reuseport@" + first.partition("@")[2], "--gateway", "--http-parser",
                                       "httptools"]],
        "Python, h11": [lambda _: py_server + [f"tcp@127.0.0.1:{free_port()}", "--gateway", "--http-parser", "h11"]],
        # rpcx gateway (httptools) in front of the Python server: what the standalone hop adds
        "Python standalone gateway -> Python server": [
            lambda _: py_server + [f"tcp@127.0.0.1:{free_port()}"],
            lambda server: [sys.executable, "-m", "rpcx", "gateway", "tcp@127.0.0.1:0", "--registry",
                            f"peer2peer://{server}"]],
    }
    print("| server | protocol | concurrency | calls/s | p50 µs | p99 µs | errors | server CPU µs/call | of it kernel |")
    print("|---|---|---|---|---|---|---|---|---|")
    # cell by cell, every server in turn: neighbouring rows ran at nearly the same moment of a
    # shared machine's load
    cells = [(mode, int(conc), name, cmds) for mode in ("invoke", "jsonrpc") for conc in a.conc.split(",")
             for name, cmds in servers.items() if not only or any(o in name for o in only)]
    # the same Python server called directly over rpcx by a Go XClient (msgpack), what the
    # standalone gateway's hop is compared with
    direct = "direct rpcx call (Go XClient) -> Python server"
    if not only or any(o in direct for o in only):
        cells += [("rpcx", int(conc), direct, [lambda _: py_server + [f"tcp@127.0.0.1:{free_port()}"]])
                  for conc in a.conc.split(",")]
    for mode, conc, name, cmds in cells:
        procs, address = [], ""
        for cmd in cmds:
            proc, address = start(cmd(address))
            procs.append(proc)
        # the CPU measured: every worker's for reuseport workers, else the last process's
        # (the standalone gateway's own, not its server's)
        measured = [p.pid for p in procs] if "workers" in name else [proc.pid]
        cpu0 = cpu_of(measured)
        try:
            hostport = address.partition("@")[2]
            if mode == "rpcx":  # one connection per caller, as httpload has
                load = [str(BENCH_BIN / "loadclient"), "-proto", "arith", "-addr", hostport, "-c", str(conc),
                        "-pool", str(conc), "-pin", "-warmup", str(WARM * conc), "-n", "200000",
                        "-duration", str(a.seconds)]
            else:
                load = [str(BENCH_BIN / "httpload"), "-url", f"http://{hostport}/", "-mode", mode, "-c", str(conc),
                        "-n", "200000", "-d", f"{a.seconds}s"]
            out = subprocess.run(load, capture_output=True, text=True, timeout=a.seconds + 120)
            cpu1 = cpu_of(measured)
            user, system = cpu1[0] - cpu0[0], cpu1[1] - cpu0[1]
        finally:
            for proc in reversed(procs):
                stop(proc)
        if out.returncode != 0:
            print(f"| {name} | {mode} | {conc} | failed: {out.stderr.strip()} | | | |")
            continue
        r = json.loads(out.stdout)
        served = r["calls"] + WARM * conc  # httpload's warm-up calls are served too
        print(f"| {name} | {mode} | {conc} | {r['calls_per_s']:.0f} | {r['p50_us']} | {r['p99_us']} |"
              f" {r['errors']} | {(user + system) / served * 1e6:.0f} |"
              f" {100 * system / max(user + system, 1e-9):.0f}% |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
