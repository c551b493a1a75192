"""Benchmark the proxy: Go's load client calling a Go rpcx server directly and through
``rpcx proxy`` (uvloop), side by side in one run.

    .venv/bin/python bench/proxy.py [--seconds 3] [--conc 1,16,64]

One Go rpcx server (bench/go/rpcxserver) and one proxy (a subprocess, config written to a temp
directory, 2 upstream connections) on free loopback ports; for each concurrency the Go load client
(bench/go/loadclient, rpcx-benchmark's 581-byte protobuf message, 10 client connections) runs
direct, then through the proxy, each bounded by 200000 calls or --seconds. Everything is stopped by
PID. Prints a markdown table with the ratios (proxied / direct). The Go programs are built into
~/.cache/rpcx-python/bench-bin-proxy (override with RPCX_BENCH_BIN).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
BIN = Path(os.environ.get("RPCX_BENCH_BIN") or Path.home() / ".cache" / "rpcx-python" / "bench-bin-proxy")


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


def load(addr: str, conc: int, seconds: float) -> dict:
    out = subprocess.run(
        [str(BIN / "loadclient"), "-proto", "rpcx", "-addr", addr.partition("@")[2], "-c", str(conc),
         "-n", "200000", "-duration", str(seconds), "-warmup", "2000"],
        capture_output=True, text=True, timeout=seconds + 120,
    )
    lines = [x for x in out.stdout.splitlines() if x.startswith("{")]
    if out.returncode != 0 or not lines:
        raise RuntimeError(f"loadclient failed: {out.stderr[-500:]}")
    result: dict = json.loads(lines[-1])
    return result


def main() -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--conc", default="1,16,64")
    a = p.parse_args()
    BIN.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, GOFLAGS="-buildvcs=false")
    for prog in ("loadclient", "rpcxserver"):
        subprocess.run(["go", "build", "-o", str(BIN / prog), f"./{prog}"], cwd=HERE / "go", env=env, check=True,
                       timeout=600)
    server, saddr = start([str(BIN / "rpcxserver"), "-addr", "127.0.0.1:0"])
    procs = [server]
    try:
        with tempfile.TemporaryDirectory() as d:
            cfg = Path(d) / "proxy.yaml"
            cfg.write_text(f"listen: tcp@127.0.0.1:0\nclusters: {{go: {{servers: [{saddr}]}}}}\n"
                           "default: {cluster: go}\n")
            proxy, paddr = start([sys.executable, "-m", "rpcx", "proxy", "-c", str(cfg), "--watch", "0"])
            procs.append(proxy)
            print("| concurrency | direct calls/s | proxied calls/s | ratio | direct p50 µs | proxied p50 µs | ratio |")
            print("|---:|---:|---:|---:|---:|---:|---:|")
            for conc in (int(c) for c in a.conc.split(",")):
                direct = load(saddr, conc, a.seconds)
                proxied = load(paddr, conc, a.seconds)
                for r in (direct, proxied):
                    if r["errors"]:
                        raise RuntimeError(f"{r['errors']} errors: {r.get('first_error')}")
                print(f"| {conc} | {direct['calls_per_s']:.0f} | {proxied['calls_per_s']:.0f} "
                      f"| {proxied['calls_per_s'] / direct['calls_per_s']:.2f} | {direct['p50_us']:.0f} "
                      f"| {proxied['p50_us']:.0f} | {proxied['p50_us'] / direct['p50_us']:.2f} |", flush=True)
    finally:
        for proc in procs:
            stop(proc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
