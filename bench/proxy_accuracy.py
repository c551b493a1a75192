"""Fault and weight accuracy of the proxy over many calls, counted at the servers and the client.

    .venv/bin/python bench/proxy_accuracy.py [--calls 100000] [--conc 32] [--seed 1]

Three Python servers (bench/py_rpcx_server.py --count: each prints how many calls it served when
stopped) behind one ``rpcx proxy --seed N``: cluster ``a`` is server 1, cluster ``b`` is servers 2
and 3 with weights 2 and 1; the default route sends to a and b with weights 1 and 3, delays 20% of
the calls by 1 ms and aborts 10% of them with an rpcx error. Go's load client makes ``--calls``
calls (no warm-up, so every call counts) and reports how many failed: those are the aborts (the
client's count, checked against the abort text). The servers' counts give the weights; the
proxy's access log (filtered to delayed calls) counts the delays. Everything on free loopback
ports, stopped by PID. Prints a markdown table: configured share, measured count and share, and
the error in percentage points and relative to the configured share.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from _proxybench import HERE, PYTHON, Proxy, build, loadclient, start, stop

ABORT = "injected abort"


def main() -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--calls", type=int, default=100000)
    p.add_argument("--conc", type=int, default=32)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    build("loadclient")
    servers: list[Any] = []
    proxy = None
    tmp = TemporaryDirectory()
    log = Path(tmp.name) / "delayed.log"
    try:
        addrs = []
        for _ in range(3):
            proc, addr = start([PYTHON, str(HERE / "py_rpcx_server.py"), "127.0.0.1:0", "--count"])
            servers.append(proc)
            addrs.append(addr)
        proxy = Proxy({
            "listen": "tcp@127.0.0.1:0",
            "clusters": {"a": {"servers": [addrs[0]]},
                         "b": {"servers": [{"address": addrs[1], "weight": 2}, {"address": addrs[2], "weight": 1}]}},
            "default": {"clusters": [{"name": "a", "weight": 1}, {"name": "b", "weight": 3}],
                        "faults": {"delay": {"percent": 20, "duration": "1ms"},
                                   "abort": {"percent": 10, "error": ABORT}}},
            "access_log": {"path": str(log), "filter": 'fault in ("delay", "delay+abort")'},
        }, "--seed", str(a.seed))
        r = loadclient(proxy.address, a.conc, 3600, n=a.calls, warmup=0)
        if r["calls"] != a.calls:
            raise RuntimeError(f"the load client made {r['calls']} calls, not {a.calls}")
        if r["errors"] and ABORT not in (r.get("first_error") or ""):
            raise RuntimeError(f"a failure that is not the injected abort: {r.get('first_error')}")
        proxy.close()  # the access log is flushed and closed
        proxy = None
        served = []
        for proc in servers:
            stop(proc)
            assert proc.stdout is not None
            lines = [x for x in proc.stdout.read().splitlines() if x.startswith("calls ")]
            served.append(int(lines[-1].split()[1]))
        delayed = sum(1 for line in log.read_text().splitlines() if json.loads(line)["fault"] in ("delay", "delay+abort"))
    finally:
        if proxy is not None:
            proxy.close()
        for proc in servers:
            stop(proc)
        tmp.cleanup()
    n, aborted, forwarded = a.calls, r["errors"], sum(served)
    print(f"{n} calls from Go's load client (concurrency {a.conc}) through rpcx proxy --seed {a.seed}; "
          f"{forwarded} reached the servers, {aborted} failed at the client")
    print()
    print("| what | counted by | configured | count | of | measured | error (points) | error (relative) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    rows = [
        ("abort", "client (failed calls)", 0.10, aborted, n),
        ("forwarded (not aborted)", "servers (sum)", 0.90, forwarded, n),
        ("delay", "proxy access log", 0.20, delayed, n),
        ("cluster a (weight 1 of 4)", "server 1", 0.25, served[0], forwarded),
        ("cluster b (weight 3 of 4)", "servers 2+3", 0.75, served[1] + served[2], forwarded),
        ("server 2 (weight 2 of 3 in b)", "server 2", 2 / 3, served[1], served[1] + served[2]),
        ("server 3 (weight 1 of 3 in b)", "server 3", 1 / 3, served[2], served[1] + served[2]),
    ]
    worst = 0.0
    for what, by, want, count, of in rows:
        got = count / of
        worst = max(worst, abs(got - want) / want)
        print(f"| {what} | {by} | {100 * want:.2f}% | {count} | {of} | {100 * got:.2f}% "
              f"| {100 * (got - want):+.2f} | {100 * (got - want) / want:+.2f}% |")
    if forwarded + aborted != n:
        print(f"\nMISMATCH: {forwarded} served + {aborted} aborted != {n} calls")
        return 1
    print(f"\nworst relative error {100 * worst:.2f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
