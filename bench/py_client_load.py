"""The Python side of the client benchmark: ``rpcx.Client`` calling ``Arith.Mul`` (msgpack) under load.

    .venv/bin/python bench/py_client_load.py -addr 127.0.0.1:PORT [-c 64] [-pool 4] [-n 1000000]
        [-duration 5] [-warmup 2000] [-sync]
    .venv/bin/python bench/py_client_load.py -addr 127.0.0.1:PORT -single      # -c 1 -pool 1

The twin of ``bench/go/loadclient -proto arith -pin``: ``-pool`` connections (``Client.connect``
with ``Option(serialize_type=SerializeType.MSGPACK)``), ``-c`` asyncio tasks, task k always on
connection k % pool, each calling ``await client.call("Arith", "Mul", Args(12345, 6789), Reply)`` in
a loop and checking ``C``. Only the Client's public API is used. On uvloop when installed
(RPCX_BENCH_NO_UVLOOP=1: the stdlib loop).

The run stops after ``-n`` calls or ``-duration`` seconds, whichever comes first (calls in flight
then finish; a watchdog exits 1 if they have not ``-stuck`` seconds later). The result is one JSON
line with the keys of the Go load client (calls, errors, seconds, calls_per_s, p50_us, p90_us,
p99_us, max_us, mean_us, client_cpu_us_per_call, ...). With ``-sync`` the handshake is the Go
client's too: print ``warm`` after the warm-up, wait for a line on stdin, run, print the result,
wait for another line before closing the connections.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable

import _common

from rpcx import Client, Option, SerializeType

A, B = 12345, 6789


@dataclass
class Args:
    A: int = 0
    B: int = 0


@dataclass
class Reply:
    C: int = 0


def cpu_ns() -> int:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return int((ru.ru_utime + ru.ru_stime) * 1e9)


def pct(sorted_us: list[float], p: float) -> float:
    """The Go load client's percentile: nearest rank."""
    if not sorted_us:
        return 0.0
    k = min(max(int(len(sorted_us) * p / 100 + 0.5) - 1, 0), len(sorted_us) - 1)
    return sorted_us[k]


class Result:
    def __init__(self) -> None:
        self.calls = 0
        self.errors = 0
        self.first_error: str | None = None
        self.lat_ns: list[int] = []
        self.elapsed = 0.0


async def run(clients: list[Client], conc: int, n: int, limit: float, stuck: float) -> Result:
    """Up to ``n`` calls from ``conc`` tasks, task k on ``clients[k % len(clients)]``, for at most
    ``limit`` seconds (then calls in flight finish; after ``stuck`` more seconds: exit 1)."""
    res = Result()
    issued = 0
    perf_ns = time.perf_counter_ns
    deadline = 0

    async def caller(c: Client) -> None:
        nonlocal issued
        call = c.call
        lat = res.lat_ns
        args = Args(A, B)
        while issued < n:
            issued += 1  # one thread: no race between the test and the increment
            t0 = perf_ns()
            if t0 > deadline:
                issued -= 1
                return
            try:
                r = await call("Arith", "Mul", args, Reply)
            except Exception as exc:  # noqa: BLE001 - counted; the run goes on
                res.errors += 1
                if res.first_error is None:
                    res.first_error = f"{type(exc).__name__}: {exc}"
                continue
            if r.C != A * B:
                res.errors += 1
                if res.first_error is None:
                    res.first_error = f"bad reply: {r!r}"
                continue
            lat.append(perf_ns() - t0)

    t0 = time.perf_counter()
    deadline = perf_ns() + int(limit * 1e9)
    tasks = [asyncio.ensure_future(caller(clients[k % len(clients)])) for k in range(conc)]
    try:
        await asyncio.wait_for(asyncio.gather(*tasks), limit + stuck)
    except TimeoutError:
        print(f"py_client_load: calls still unanswered {stuck:.0f}s after the time limit; giving up", file=sys.stderr)
        os._exit(1)
    res.elapsed = time.perf_counter() - t0
    res.calls = min(issued, n)
    return res


def summary(res: Result, conc: int, pool: int, cpu_ns_used: int, loop_name: str) -> dict[str, Any]:
    lat = sorted(x / 1e3 for x in res.lat_ns)
    out: dict[str, Any] = {
        "proto": "python-client",
        "loop": loop_name,
        "concurrency": conc,
        "pool": pool,
        "calls": res.calls,
        "errors": res.errors,
        "seconds": round(res.elapsed, 4),
        "calls_per_s": round((res.calls - res.errors) / max(res.elapsed, 1e-9), 1),
        "p50_us": round(pct(lat, 50), 1),
        "p90_us": round(pct(lat, 90), 1),
        "p99_us": round(pct(lat, 99), 1),
        "max_us": round(pct(lat, 100), 1),
        "mean_us": round(sum(lat) / len(lat), 1) if lat else 0.0,
        "client_cpu_us_per_call": round(cpu_ns_used / 1e3 / max(res.calls, 1), 2),
    }
    if res.first_error:
        out["first_error"] = res.first_error
    return out


async def main_async(a: argparse.Namespace, loop_name: str, on_measure: Callable[[bool], None] | None = None) -> dict[str, Any]:
    """Connect, warm up, (handshake), measure, return the summary. ``on_measure(True/False)`` is
    called right before and right after the measured calls (bench/profile_client.py hooks a
    profiler there)."""
    opt = Option(serialize_type=SerializeType.MSGPACK)
    addr = a.addr if "@" in a.addr else f"tcp@{a.addr}"
    clients = [await Client.connect(addr, opt) for _ in range(a.pool)]
    loop = asyncio.get_running_loop()
    try:
        if a.warmup > 0:
            w = await run(clients, a.c, a.warmup, 30.0, a.stuck)
            if w.errors and w.errors == w.calls:
                raise SystemExit(f"py_client_load: warm-up: all {w.calls} calls failed: {w.first_error}")
        if a.sync:
            print("warm", flush=True)
            if not await loop.run_in_executor(None, sys.stdin.readline):
                raise SystemExit("py_client_load: sync: stdin closed")
        if on_measure is not None:
            on_measure(True)
        c0 = cpu_ns()
        res = await run(clients, a.c, a.n, a.duration, a.stuck)
        c1 = cpu_ns()
        if on_measure is not None:
            on_measure(False)
        out = summary(res, a.c, a.pool, c1 - c0, loop_name)
        if a.sync:
            print(json.dumps(out), flush=True)
            await loop.run_in_executor(None, sys.stdin.readline)
        return out
    finally:
        for c in clients:
            await c.aclose()


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-addr", required=True, help="server host:port (loopback) or tcp@host:port")
    ap.add_argument("-c", type=int, default=64, help="concurrent callers (asyncio tasks)")
    ap.add_argument("-pool", type=int, default=4, help="connections (Clients); capped at -c")
    ap.add_argument("-n", type=int, default=1_000_000, help="measured calls (upper bound)")
    ap.add_argument("-duration", type=float, default=5.0, help="measured seconds (upper bound)")
    ap.add_argument("-warmup", type=int, default=2000, help="warm-up calls (not counted)")
    ap.add_argument("-stuck", type=float, default=30.0, help="exit 1 when a run overruns -duration by this much")
    ap.add_argument("-single", action="store_true", help="one caller on one connection (-c 1 -pool 1)")
    ap.add_argument("-sync", action="store_true", help="handshake with the driver on stdin/stdout")
    return ap


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    ap = parser()
    a = ap.parse_args(argv)
    if a.single:
        a.c, a.pool = 1, 1
    if a.c < 1 or a.n < 1 or a.duration <= 0 or a.warmup < 0:
        ap.error("bad -c, -n, -duration or -warmup")
    a.pool = max(1, min(a.pool, a.c))
    return a


def main(argv: list[str] | None = None) -> int:
    a = parse(argv)
    loop_name = _common.install_uvloop()
    out = asyncio.run(main_async(a, loop_name))
    if not a.sync:
        print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
