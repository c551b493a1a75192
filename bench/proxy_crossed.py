"""No crossed replies through the proxy: many Go and Python clients at once, every reply checked
against its own request.

    .venv/bin/python bench/proxy_crossed.py [--calls 100000] [--go-procs 2] [--go-conc 32]
                                            [--py-conns 4] [--py-tasks 16] [--seconds 900]

Two Go rpcx servers (bench/go/rpcxserver, Arith.Mul: C = A*B) form one cluster behind
``rpcx proxy`` (2 connections per server: every client's calls share 4 upstream connections).
``--go-procs`` Go load clients (bench/go/loadclient -proto arith -vary: the real XClient, msgpack,
``--go-conc`` callers on up to 10 connections each) make 80% of ``--calls`` between them, each call
with its own A (each process counting in its own range) and B, the reply checked to be A*B. At
the same time this process runs ``--py-conns`` Python clients with ``--py-tasks`` callers each,
with negative A (so no Python call can be mistaken for a Go one), msgpack and JSON in turn and
metadata on every third call, checking every reply likewise, until the Go clients are done and
the Python clients have made their 20%. Bounded by ``--seconds``. Prints the calls made, the
replies that did not match their request (crossed), and any other errors; exits 1 unless both
are zero. The issue's record run is ``--calls 1000000``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from typing import Any

from _proxybench import BIN, Proxy, build, host_port, start, stop

from rpcx import Client
from rpcx.protocol.constants import SerializeType


class PyLoad:
    def __init__(self) -> None:
        self.calls = 0
        self.crossed = 0
        self.errors = 0
        self.first_problem: str | None = None
        self.next_a = 0

    async def caller(self, client: Client, stop: asyncio.Event, quota: int) -> None:
        while not stop.is_set() or self.calls < quota:
            self.next_a -= 1
            a = self.next_a
            b = (-a) % 997 + 2
            n = self.calls
            ser = SerializeType.MSGPACK if n % 2 else SerializeType.JSON
            md = {"caller": str(a)} if n % 3 == 0 else None
            self.calls += 1
            try:
                r = await client.call("Arith", "Mul", {"A": a, "B": b}, serialize_type=ser, metadata=md, timeout=60)
            except Exception as exc:  # noqa: BLE001 - every failure is counted and the first one shown
                self.errors += 1
                self.first_problem = self.first_problem or f"{type(exc).__name__}: {exc}"
                continue
            if r.get("C") != a * b:
                self.crossed += 1
                self.first_problem = self.first_problem or f"reply {r!r} to A={a} B={b}"


async def go_load(addr: str, n: int, conc: int, seconds: float) -> dict[str, Any]:
    proc = await asyncio.create_subprocess_exec(
        str(BIN / "loadclient"), "-proto", "arith", "-vary", "-addr", host_port(addr), "-c", str(conc),
        "-n", str(n), "-duration", str(seconds), "-warmup", "0", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = await proc.communicate()
    lines = [x for x in out.decode().splitlines() if x.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"loadclient failed: {err.decode()[-500:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


async def run(a: argparse.Namespace, addr: str) -> tuple[list[dict[str, Any]], PyLoad, float]:
    go_calls = int(a.calls * 0.8)
    per_go = [go_calls // a.go_procs + (1 if i < go_calls % a.go_procs else 0) for i in range(a.go_procs)]
    py = PyLoad()
    stop_py = asyncio.Event()
    clients = [await Client.connect(addr) for _ in range(a.py_conns)]
    t0 = time.monotonic()
    py_tasks = [asyncio.ensure_future(py.caller(c, stop_py, a.calls - go_calls))
                for c in clients for _ in range(a.py_tasks)]
    try:
        async with asyncio.timeout(a.seconds + 60):
            go = await asyncio.gather(*(go_load(addr, n, a.go_conc, a.seconds) for n in per_go))
            stop_py.set()
            await asyncio.gather(*py_tasks)
    finally:
        for t in py_tasks:
            t.cancel()
        for c in clients:
            await c.aclose()
    return go, py, time.monotonic() - t0


def main() -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--calls", type=int, default=100000)
    p.add_argument("--go-procs", type=int, default=2)
    p.add_argument("--go-conc", type=int, default=32)
    p.add_argument("--py-conns", type=int, default=4)
    p.add_argument("--py-tasks", type=int, default=16)
    p.add_argument("--seconds", type=float, default=900)
    a = p.parse_args()
    build("loadclient", "rpcxserver")
    servers: list[Any] = []
    proxy = None
    try:
        addrs = []
        for _ in range(2):
            proc, addr = start([str(BIN / "rpcxserver"), "-addr", "127.0.0.1:0"])
            servers.append(proc)
            addrs.append(addr)
        proxy = Proxy({"listen": "tcp@127.0.0.1:0", "clusters": {"go": {"servers": addrs, "connections_per_server": 2}},
                       "default": {"cluster": "go"}})
        try:
            import uvloop

            go, py, elapsed = uvloop.run(run(a, proxy.address))
        except ImportError:
            go, py, elapsed = asyncio.run(run(a, proxy.address))
    finally:
        if proxy is not None:
            proxy.close()
        for proc in servers:
            stop(proc)
    go_calls = sum(r["calls"] for r in go)
    go_errors = sum(r["errors"] for r in go)
    go_crossed = sum(r["errors"] for r in go if "crossed" in (r.get("first_error") or ""))
    total = go_calls + py.calls
    print(f"{total} calls in {elapsed:.1f} s through rpcx proxy (2 Go servers, 4 shared upstream connections): "
          f"{go_calls} from {len(go)} Go load clients ({a.go_conc} callers each), {py.calls} from "
          f"{a.py_conns} Python clients ({a.py_tasks} callers each, msgpack and JSON)")
    print(f"crossed replies: Go {go_crossed}, Python {py.crossed}; other errors: Go {go_errors - go_crossed}, "
          f"Python {py.errors}")
    for r in go:
        if r.get("first_error"):
            print("Go first error:", r["first_error"])
    if py.first_problem:
        print("Python first problem:", py.first_problem)
    return 0 if go_errors == 0 and py.crossed == 0 and py.errors == 0 and total >= a.calls else 1


if __name__ == "__main__":
    sys.exit(main())
