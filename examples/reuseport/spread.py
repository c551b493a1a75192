"""N worker processes serve Arith on one reuseport port; calls over many connections spread over them.

    python examples/reuseport/spread.py [--workers 4] [--connections 40] [--calls 25] [--port 0]

Each worker is this program with ``--worker ADDRESS``: a Server on ``reuseport@ADDRESS`` (SO_REUSEPORT,
as Go's ``reuseport`` network) that counts the calls it serves and answers ``Worker.Pid``. The
parent starts them on one port, then opens ``--connections`` connections to ``tcp@HOST:PORT`` (the
key a reuseport server registers; clients dial it as tcp, as in Go), asks each which worker it
reached and makes ``--calls`` Arith.Mul calls on it, stops the workers (SIGTERM, by PID) and prints
the spread: the calls each worker says it served, next to what the client saw. The kernel picks a
listener per connection (a hash of the connection's addresses), so the spread is over connections,
not calls: one connection's calls all go to one worker.

    4 workers on reuseport@127.0.0.1:8972 (clients dial tcp@127.0.0.1:8972)
    1000 calls over 40 connections:
      worker 4101: 275 calls on 11 connections (client saw 275)
      ...

Exits 1 if a worker's count differs from the client's, or a worker served nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "arith"))

from arith import Args, Arith, Reply  # noqa: E402

from rpcx import Client, Context, Server  # noqa: E402


class CountingArith(Arith):
    """Arith that counts the calls this worker served."""

    calls = 0

    def mul(self, args: Args) -> Reply:
        CountingArith.calls += 1
        return super().mul(args)


class Worker:
    def pid(self, ctx: Context, _: bytes) -> bytes:
        return str(os.getpid()).encode()


async def worker(address: str) -> int:
    server = Server()
    server.register_name("Arith", CountingArith())
    server.register_name("Worker", Worker())
    print(f"serving {await server.start(address)}", flush=True)
    await server.run_until_signalled(timeout=10)
    print(f"served {CountingArith.calls}", flush=True)
    return 0


async def drive(key: str, connections: int, calls: int) -> tuple[Counter[int], Counter[int]]:
    """Open the connections one after another (each a new 4-tuple for the kernel to hash), learn
    each one's worker, make the calls; return calls and connections per worker PID."""
    per_call: Counter[int] = Counter()
    per_conn: Counter[int] = Counter()
    for _ in range(connections):
        async with await Client.connect(key) as c:
            pid = int(await c.call("Worker", "Pid", b"", bytes, timeout=10))
            replies = await asyncio.gather(*(c.call("Arith", "Mul", Args(i, 2), Reply, timeout=10) for i in range(calls)))
            assert [r.C for r in replies] == [2 * i for i in range(calls)]
            per_call[pid] += calls
            per_conn[pid] += 1
    return per_call, per_conn


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--connections", type=int, default=40)
    p.add_argument("--calls", type=int, default=25, help="calls per connection")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0: a free port")
    p.add_argument("--worker", metavar="ADDRESS", help=argparse.SUPPRESS)  # run as one worker
    a = p.parse_args(argv)
    if a.worker:
        return asyncio.run(worker(a.worker))

    port = a.port
    if port == 0:
        with socket.socket() as s:
            s.bind((a.host, 0))
            port = s.getsockname()[1]
    address = f"reuseport@{a.host}:{port}"
    procs: list[subprocess.Popen[str]] = []
    try:
        key = ""
        for _ in range(a.workers):
            proc = subprocess.Popen([sys.executable, __file__, "--worker", address], stdout=subprocess.PIPE, text=True)
            procs.append(proc)
            assert proc.stdout is not None
            line = proc.stdout.readline().strip()
            if not line.startswith("serving "):
                print(f"spread.py: a worker did not start: {line!r}", file=sys.stderr)
                return 1
            key = line.split(" ", 1)[1]
        print(f"{a.workers} workers on {address} (clients dial {key})")
        per_call, per_conn = asyncio.run(drive(key, a.connections, a.calls))
    finally:
        served = {}
        for proc in procs:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGTERM)
            out, _ = proc.communicate(timeout=30)
            served[proc.pid] = int(out.split("served ")[-1]) if "served " in out else -1
    print(f"{a.connections * a.calls} calls over {a.connections} connections:")
    ok = True
    for pid in sorted(served):
        print(f"  worker {pid}: {served[pid]} calls on {per_conn[pid]} connections (client saw {per_call[pid]})")
        ok = ok and served[pid] == per_call[pid] > 0
    if not ok:
        print("spread.py: a worker served nothing, or its count differs from the client's", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
