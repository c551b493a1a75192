"""Profile the proxy under Go's load client: where a forwarded call's CPU goes.

    .venv/bin/python bench/profile_proxy.py [--conc 16] [--seconds 5] [--top 25] [--no-profile]

The Go bench server (bench/go/rpcxserver) runs as a subprocess; the proxy (the configuration
``rpcx proxy`` would build from a one-cluster file, uvloop when installed) runs in this process;
Go's load client (bench/go/loadclient, built by bench/proxy.py) drives it over loopback, bounded in
calls and seconds, with ``-sync`` so that only the measured calls are profiled. Printed: the load
client's result, the proxy's CPU time per call (process time over the measured calls), and, unless
``--no-profile``, the shares of the big groups and the functions with the most own time. cProfile
inflates Python-heavy code: read the shares, not the absolute times; the CPU per call is measured
without the profiler when ``--no-profile`` is given.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import _common  # bench/'s shared helpers (run from bench/ as a script)

HERE = Path(__file__).resolve().parent
BIN = Path(os.environ.get("RPCX_BENCH_BIN") or Path.home() / ".cache" / "rpcx-python" / "bench-bin-proxy")

GROUPS = {
    "proxy (rpcx/proxy)": ("rpcx/proxy/",),
    "protocol core (decoder, header, connection)": ("rpcx/protocol/",),
    "client helpers (selector, breaker)": ("rpcx/client/",),
}


async def run(conc: int, seconds: float, prof: cProfile.Profile | None) -> tuple[dict, float]:
    from rpcx.proxy.app import build_proxy
    from rpcx.proxy.config import parse_config

    server = subprocess.Popen([str(BIN / "rpcxserver"), "-addr", "127.0.0.1:0"], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
    try:
        assert server.stdout is not None
        saddr = server.stdout.readline().strip().split(" ", 1)[1]
        cfg = parse_config({"listen": "tcp@127.0.0.1:0", "clusters": {"go": {"servers": [saddr]}},
                            "default": {"cluster": "go"}})
        proxy = await build_proxy(cfg)
        paddr = await proxy.start(cfg.listen[0])
        load = await asyncio.create_subprocess_exec(
            str(BIN / "loadclient"), "-proto", "rpcx", "-addr", paddr.partition("@")[2], "-c", str(conc),
            "-n", "300000", "-duration", str(seconds), "-warmup", "2000", "-sync",
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert load.stdout is not None and load.stdin is not None
        line = await asyncio.wait_for(load.stdout.readline(), 120)
        if line.strip() != b"warm":
            raise RuntimeError(f"loadclient: {line!r} {(await load.stderr.read())[-500:]!r}")  # type: ignore[union-attr]
        cpu0 = time.process_time()
        if prof is not None:
            prof.enable()
        load.stdin.write(b"go\n")
        line = await asyncio.wait_for(load.stdout.readline(), seconds + 120)
        if prof is not None:
            prof.disable()
        cpu = time.process_time() - cpu0
        load.stdin.write(b"done\n")
        await load.wait()
        await proxy.aclose()
        result: dict = json.loads(line)
        return result, cpu
    finally:
        if server.poll() is None:
            os.kill(server.pid, signal.SIGTERM)
            server.wait(timeout=15)


def main() -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--conc", type=int, default=16)
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--no-profile", action="store_true", help="only the CPU time per call, no cProfile")
    a = p.parse_args()
    for prog in ("loadclient", "rpcxserver"):
        if not (BIN / prog).exists():
            raise SystemExit(f"{BIN / prog} is missing: run bench/proxy.py once to build it")
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    prof = None if a.no_profile else cProfile.Profile()
    result, cpu = runner(run(a.conc, a.seconds, prof))
    calls = max(1, result["calls"])
    print("loadclient:", json.dumps(result))
    print(f"proxy CPU: {1e6 * cpu / calls:.1f} µs per call ({calls} calls, {cpu:.2f} s)"
          + (" (under cProfile)" if prof is not None else ""))
    if prof is None:
        return 0
    _common.print_profile(prof, GROUPS, a.top, "event loop, transports, builtins")
    return 0


if __name__ == "__main__":
    sys.exit(main())
