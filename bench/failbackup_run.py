"""Failfast vs Failbackup latency when one server of three is slow, against the same servers in one run.

    .venv/bin/python bench/failbackup_run.py [--calls 2000] [--callers 8] [--slow 0.05] [--backup-latency 0.01] [--rounds 2]

Three ``python -m rpcx.testing.delay_server`` processes on free loopback ports: ``a`` and ``b``
answer ``Arith.Mul`` at once, ``slow`` after ``--slow`` seconds. One XClient per mode (random
selection, Go's default ``backup_latency`` of 10 ms unless told) makes ``--calls`` calls from
``--callers`` concurrent tasks; the modes alternate for ``--rounds`` rounds against the same three
processes, so both see the same machine. Reported per mode: p50, p90, p99 and max of the call
latency (the best round of each: the machine may be shared), and which server answered.

Bounded: each run stops after ``--calls`` calls or 120 s; the servers are stopped by PID.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rpcx import FailMode, KVPair, MultipleServersDiscovery, Option, SelectMode, XClient  # noqa: E402
from rpcx.testing.delay_server import Args, Reply  # noqa: E402

RUN_LIMIT = 120.0
GUARD = 10.0


async def start(name: str, delay: float) -> tuple[asyncio.subprocess.Process, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "rpcx.testing.delay_server", "tcp@127.0.0.1:0", "--name", name, "--delay", str(delay),
        stdout=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.DEVNULL, cwd=str(ROOT),
    )
    assert proc.stdout is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), GUARD)).decode()
    if not line.startswith("serving "):
        raise RuntimeError(f"delay_server {name} did not start: {line!r}")
    return proc, line.split()[1]


def percentile(sorted_values: list[float], q: float) -> float:
    """The nearest-rank percentile (q in 0..100) of an ascending list."""
    k = max(0, min(len(sorted_values) - 1, int(round(q / 100 * len(sorted_values) + 0.5)) - 1))
    return sorted_values[k]


async def one_run(servers: dict[str, str], mode: FailMode, calls: int, callers: int,
                  backup_latency: float) -> dict[str, Any]:
    d = MultipleServersDiscovery([KVPair(a) for a in servers.values()])
    latencies: list[float] = []
    answered: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    issued = 0
    async with XClient("Arith", mode, SelectMode.RANDOM, d, Option(backup_latency=backup_latency)) as xc:
        for addr in servers.values():  # dial every server before measuring
            await xc._get_client(addr)

        async def caller() -> None:
            nonlocal issued
            while issued < calls:
                i = issued
                issued += 1
                md: dict[str, str] = {}
                t0 = time.perf_counter()
                try:
                    reply = await xc.call("Mul", Args(i, 2), Reply, response_metadata=md, timeout=GUARD)
                except Exception as exc:  # noqa: BLE001 - counted and reported
                    errors[type(exc).__name__] += 1
                    continue
                latencies.append(time.perf_counter() - t0)
                assert reply == Reply(2 * i)
                answered[md.get("server", "?")] += 1

        t0 = time.perf_counter()
        async with asyncio.timeout(RUN_LIMIT):
            await asyncio.gather(*(caller() for _ in range(callers)))
        wall = time.perf_counter() - t0
    lat = sorted(latencies)
    return {
        "mode": mode.name.lower(),
        "calls": len(lat),
        "errors": dict(errors),
        "p50": percentile(lat, 50), "p90": percentile(lat, 90), "p99": percentile(lat, 99), "max": lat[-1],
        "calls_per_s": len(lat) / wall,
        "answered": dict(answered),
    }


def ms(x: float) -> str:
    return f"{x * 1000:.1f}"


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--callers", type=int, default=8)
    ap.add_argument("--slow", type=float, default=0.05, help="the slow server's delay per call, seconds")
    ap.add_argument("--backup-latency", type=float, default=0.01, help="Option.backup_latency (Go's default 10 ms)")
    ap.add_argument("--rounds", type=int, default=2)
    a = ap.parse_args()

    procs: list[asyncio.subprocess.Process] = []
    servers: dict[str, str] = {}
    try:
        for name, delay in (("a", 0.0), ("b", 0.0), ("slow", a.slow)):
            proc, addr = await start(name, delay)
            procs.append(proc)
            servers[name] = addr
        best: dict[str, dict[str, Any]] = {}
        for r in range(a.rounds):
            for mode in (FailMode.FAILFAST, FailMode.FAILBACKUP):
                res = await one_run(servers, mode, a.calls, a.callers, a.backup_latency)
                print(f"round {r + 1} {res['mode']}: p50 {ms(res['p50'])} ms, p99 {ms(res['p99'])} ms, "
                      f"answered {res['answered']}, errors {res['errors']}", file=sys.stderr, flush=True)
                if res["mode"] not in best or res["p99"] < best[res["mode"]]["p99"]:
                    best[res["mode"]] = res
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.kill()  # by PID: these processes are ours
            await asyncio.wait_for(proc.wait(), GUARD)

    print(f"One server of three answers after {ms(a.slow)} ms; random selection; {a.calls} calls from "
          f"{a.callers} callers per run; backup_latency {ms(a.backup_latency)} ms; best of {a.rounds} rounds.\n")
    print("| fail mode | p50 ms | p90 ms | p99 ms | max ms | calls/s | answered by a / b / slow | errors |")
    print("|---|---:|---:|---:|---:|---:|---|---|")
    for mode in ("failfast", "failbackup"):
        res = best[mode]
        ans = res["answered"]
        print(f"| {mode} | {ms(res['p50'])} | {ms(res['p90'])} | {ms(res['p99'])} | {ms(res['max'])} | "
              f"{res['calls_per_s']:.0f} | {ans.get('a', 0)} / {ans.get('b', 0)} / {ans.get('slow', 0)} | "
              f"{sum(res['errors'].values())} |")
    ratio = best["failfast"]["p99"] / best["failbackup"]["p99"]
    print(f"\np99 Failfast / Failbackup: {ratio:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
