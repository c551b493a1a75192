"""How long registries take to tell a watching client about a server, per backend.

    .venv/bin/python bench/registry_latency.py [--rounds 5] [--interval 0.5]

For each backend (Redis, etcd, ZooKeeper: real servers started on free loopback ports by the same
code as the tests, tests/registry/conftest.py, and stopped by PID), ROUNDS times:

* **start → first call**: from the moment a server process is launched (a child that serves
  ``Mul``, registers through the plugin and prints ``ready``) to the moment an XClient, already
  watching that service through the registry, completes its first call on it;
* **SIGKILL → removal**: from the SIGKILL of that process to the moment the watch yields a list
  without it (liveness: TTL = 2 x the update interval; Redis key expiry, etcd lease, ZooKeeper
  session).

Then the same for mDNS (Python's zeroconf responders on 127.0.0.1 only, no server to start): the
record TTL is 2 x the interval (at least 1 s), the discovery browses every 0.1 s for 0.1 s.
DNS is not measured: it has no liveness of its own (a killed server stays in the name's records
until the zone's owner removes it; a client sees a change within its interval plus the records' TTL).

Prints a markdown table of medians and extremes. Bounded: every wait has a 30 s guard.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT)]

from registry.conftest import FACTORIES  # noqa: E402

from rpcx.client import FailMode, SelectMode, XClient  # noqa: E402
from rpcx.errors import RpcxError  # noqa: E402
from rpcx.registry import registry_discovery  # noqa: E402

GUARD = 30.0


async def one_round(url: str, base: str, interval: float) -> tuple[float, float]:
    d = await registry_discovery(url, "Mul", base_path=base, retry_interval=0.1)
    watch = d.watch()
    async with XClient("Mul", FailMode.FAILFAST, SelectMode.RANDOM, d) as xc:
        try:
            await xc.call("Mul", {"A": 1, "B": 1}, timeout=1)  # starts the XClient's watch
        except RpcxError:
            pass  # no server yet: expected
        t0 = time.perf_counter()
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "rpcx.testing.registry_conformance", url, base, str(interval), "{}",
            stdout=asyncio.subprocess.PIPE,
        )
        try:
            assert proc.stdout is not None
            await asyncio.wait_for(proc.stdout.readline(), GUARD)

            async def first_call() -> None:
                while True:
                    try:
                        await xc.call("Mul", {"A": 2, "B": 3}, timeout=1)
                        return
                    except RpcxError:
                        await asyncio.sleep(0.001)

            await asyncio.wait_for(first_call(), GUARD)
            to_call = time.perf_counter() - t0
            while not d.get_services():  # the discovery's own list (a watcher of it below)
                await asyncio.sleep(0.001)
            t1 = time.perf_counter()
            proc.send_signal(signal.SIGKILL)
            await proc.wait()

            async def removal() -> None:
                async for pairs in watch:
                    if not pairs:
                        return

            await asyncio.wait_for(removal(), GUARD)
            to_removal = time.perf_counter() - t1
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    await watch.aclose()  # type: ignore[attr-defined]
    await d.aclose()
    return to_call, to_removal


def row(name: str, results: list[tuple[float, float]]) -> str:
    calls = [r[0] for r in results]
    removals = [r[1] for r in results]
    return (
        f"| {name} | {statistics.median(calls) * 1000:.0f} ms ({min(calls) * 1000:.0f}–{max(calls) * 1000:.0f}) "
        f"| {statistics.median(removals):.2f} s ({min(removals):.2f}–{max(removals):.2f}) |"
    )


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--interval", type=float, default=0.5, help="the plugin's update interval (TTL is twice it)")
    args = ap.parse_args()
    rows = []
    for name in sorted(FACTORIES):
        with tempfile.TemporaryDirectory(prefix=f"rpcx-lat-{name}-") as workdir:
            server = FACTORIES[name](workdir)
            server.start_sync()
            try:
                results = [await one_round(server.url, f"/rpcx_lat_{os.getpid()}_{i}", args.interval) for i in range(args.rounds)]
            finally:
                server.stop_sync()
        rows.append(row(name, results))
    # mDNS: the URL carries the record TTL (publisher) and the browse timing (discovery)
    mdns = f"mdns://127.0.0.1?ttl={max(1, round(2 * args.interval))}&timeout=0.1&interval=0.1"
    rows.append(row("mDNS (zeroconf, 127.0.0.1)", [await one_round(mdns, "/", args.interval) for _ in range(args.rounds)]))
    print(f"update interval {args.interval} s, TTL {2 * args.interval} s, {args.rounds} rounds, medians (min–max)\n")
    print("| registry | process start → first call | SIGKILL → removal from the watched list |")
    print("|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    asyncio.run(main())
