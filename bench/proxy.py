"""Benchmark the proxy: Go's load client calling a server directly, through ``rpcx proxy`` and
through haproxy (a general TCP proxy, the yardstick), side by side in one run.

    .venv/bin/python bench/proxy.py [--seconds 3] [--conc 1,16,64] [--servers go,py]
                                    [--connections 2] [--haproxy-threads 1]

"Direct" is Go's load client (bench/go/loadclient: the real rpcx XClient, rpcx-benchmark's 581-byte
protobuf message, 10 client connections) calling the server itself; "proxy" is the same client
calling ``rpcx proxy`` (a subprocess, uvloop, one cluster, no route edits, ``--connections``
upstream connections per server) in front of the same server; "haproxy" is Debian's haproxy in
TCP mode (one thread, as the proxy has one event loop; one server connection per client
connection) in front of it. Two servers: ``go`` is bench/go/rpcxserver (then the proxy is the only
Python in the path), ``py`` is bench/py_rpcx_server.py (the rpcx package's server, uvloop). For each
server and concurrency the three run one after the other, each bounded by 200000 calls or
--seconds; the CPU time the proxy and haproxy processes used during their runs is read from /proc
and divided by the calls (warm-up included). Everything is started on free loopback ports and
stopped by PID. Prints a markdown table; ratios are proxied / direct. The Go programs are built
into ~/.cache/rpcx-python/bench-bin-proxy (override with RPCX_BENCH_BIN).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from _proxybench import BIN, HERE, PYTHON, HAProxy, Proxy, build, cpu_seconds, loadclient, start, stop

WARMUP = 2000


def measured(addr: str, conc: int, seconds: float, pid: int | None) -> tuple[dict[str, Any], float | None]:
    """A load run against ``addr``; with ``pid``, that process's CPU µs per call during it."""
    cpu0 = cpu_seconds(pid) if pid is not None else 0.0
    r = loadclient(addr, conc, seconds, warmup=WARMUP)
    if r["errors"]:
        raise RuntimeError(f"{r['errors']} errors through {addr}: {r.get('first_error')}")
    us = None if pid is None else 1e6 * (cpu_seconds(pid) - cpu0) / (r["calls"] + WARMUP)
    return r, us


def main() -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--conc", default="1,16,64")
    p.add_argument("--servers", default="go,py")
    p.add_argument("--connections", type=int, default=2, help="the proxy's connections per upstream server")
    p.add_argument("--haproxy-threads", type=int, default=1)
    a = p.parse_args()
    build("loadclient", "rpcxserver")
    servers = {"go": [str(BIN / "rpcxserver"), "-addr", "127.0.0.1:0"],
               "py": [PYTHON, str(HERE / "py_rpcx_server.py"), "127.0.0.1:0"]}
    kinds = [s for s in a.servers.split(",") if s]
    procs: list[Any] = []
    closers: list[Any] = []
    try:
        addrs = {}
        for kind in kinds:
            proc, addrs[kind] = start(servers[kind])
            procs.append(proc)
        proxies = {}
        for kind in kinds:
            proxies[kind] = Proxy({"listen": "tcp@127.0.0.1:0",
                                   "clusters": {kind: {"servers": [addrs[kind]],
                                                       "connections_per_server": a.connections}},
                                   "default": {"cluster": kind}})
            closers.append(proxies[kind])
        ha = HAProxy([addrs[k] for k in kinds], threads=a.haproxy_threads)
        closers.append(ha)
        print("| server | conc. | direct calls/s | proxy calls/s | ratio | haproxy calls/s | ratio "
              "| direct p50 µs | proxy p50 µs | ratio | haproxy p50 µs | ratio | proxy CPU µs/call "
              "| haproxy CPU µs/call |")
        print("|---" * 14 + "|")
        for i, kind in enumerate(kinds):
            for conc in (int(c) for c in a.conc.split(",")):
                direct, _ = measured(addrs[kind], conc, a.seconds, None)
                px, px_cpu = measured(proxies[kind].address, conc, a.seconds, proxies[kind].proc.pid)
                hp, hp_cpu = measured(ha.addresses[i], conc, a.seconds, ha.proc.pid)
                d_tp, d_p50 = direct["calls_per_s"], direct["p50_us"]
                print(f"| {kind} | {conc} | {d_tp:.0f} | {px['calls_per_s']:.0f} | {px['calls_per_s'] / d_tp:.2f} "
                      f"| {hp['calls_per_s']:.0f} | {hp['calls_per_s'] / d_tp:.2f} | {d_p50:.0f} "
                      f"| {px['p50_us']:.0f} | {px['p50_us'] / d_p50:.2f} | {hp['p50_us']:.0f} "
                      f"| {hp['p50_us'] / d_p50:.2f} | {px_cpu:.1f} | {hp_cpu:.1f} |", flush=True)
    finally:
        for c in closers:
            c.close()
        for proc in procs:
            stop(proc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
