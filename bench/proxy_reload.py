"""Reloads under load: the proxy's configuration swapped again and again while calls flow, and
not one call fails.

    .venv/bin/python bench/proxy_reload.py [--seconds 20] [--reloads 20] [--conc 32]

Two Python servers (bench/py_rpcx_server.py --count) behind ``rpcx proxy`` with an admin endpoint.
Go's load client (bench/go/loadclient: the XClient, Hello.Say, every reply checked) calls through
the proxy for ``--seconds`` at concurrency ``--conc``; meanwhile the file is rewritten
``--reloads`` times, evenly spaced, cycling through three configurations (only server 1 in cluster
a; only server 2 in cluster b, a gone; both clusters with weights 1 and 1), and reloaded by SIGHUP
and by the admin endpoint's ``POST /reload`` in turn, each confirmed by ``GET /health``'s reload
count. Every reload retires a cluster with calls in flight on it. Prints the calls, the failed
calls (must be 0), the confirmed reloads and each server's count; exits 1 on any failure.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
import urllib.request
from typing import Any

from _proxybench import BIN, HERE, PYTHON, Proxy, build, free_port, host_port, start, stop


def admin(port: int, method: str, path: str) -> dict[str, Any]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method, data=b"" if method == "POST" else None)
    with urllib.request.urlopen(req, timeout=10) as r:  # loopback only
        out: dict[str, Any] = json.loads(r.read())
        return out


def configs(s1: str, s2: str, admin_port: int) -> list[dict[str, Any]]:
    base = {"listen": "tcp@127.0.0.1:0", "admin": f"tcp@127.0.0.1:{admin_port}"}
    return [
        {**base, "clusters": {"a": {"servers": [s1]}}, "default": {"cluster": "a"}},
        {**base, "clusters": {"b": {"servers": [s2]}}, "default": {"cluster": "b"}},
        {**base, "clusters": {"a": {"servers": [s1]}, "b": {"servers": [s2]}},
         "default": {"clusters": [{"name": "a", "weight": 1}, {"name": "b", "weight": 1}]}},
    ]


def main() -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--reloads", type=int, default=20)
    p.add_argument("--conc", type=int, default=32)
    a = p.parse_args()
    build("loadclient")
    servers: list[Any] = []
    proxy = None
    confirmed = 0
    try:
        addrs = []
        for _ in range(2):
            proc, addr = start([PYTHON, str(HERE / "py_rpcx_server.py"), "127.0.0.1:0", "--count"])
            servers.append(proc)
            addrs.append(addr)
        port = free_port()
        cfgs = configs(addrs[0], addrs[1], port)
        proxy = Proxy(cfgs[0])
        load = subprocess.Popen(
            [str(BIN / "loadclient"), "-proto", "rpcx", "-addr", host_port(proxy.address), "-c", str(a.conc),
             "-n", "100000000", "-duration", str(a.seconds), "-warmup", "0"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        out: dict[str, str] = {}
        reader = threading.Thread(target=lambda: out.update(zip(("stdout", "stderr"), load.communicate())))
        reader.start()
        t0 = time.monotonic()
        for i in range(1, a.reloads + 1):
            time.sleep(max(0.0, t0 + i * a.seconds / (a.reloads + 1) - time.monotonic()))
            if load.poll() is not None:
                break
            proxy.rewrite(cfgs[i % len(cfgs)])
            before = admin(port, "GET", "/health")["reloads"]
            if i % 2:
                proxy.reload()  # SIGHUP
            else:
                admin(port, "POST", "/reload")
            for _ in range(200):
                if admin(port, "GET", "/health")["reloads"] > before:
                    confirmed += 1
                    break
                time.sleep(0.02)
        reader.join(timeout=a.seconds + 300)
        lines = [x for x in out.get("stdout", "").splitlines() if x.startswith("{")]
        if load.returncode != 0 or not lines:
            raise RuntimeError(f"loadclient failed: {out.get('stderr', '')[-500:]}")
        r = json.loads(lines[-1])
        proxy.close()
        proxy = None
        served = []
        for proc in servers:
            stop(proc)
            assert proc.stdout is not None
            served.append(int([x for x in proc.stdout.read().splitlines() if x.startswith("calls ")][-1].split()[1]))
    finally:
        if proxy is not None:
            proxy.close()
        for proc in servers:
            stop(proc)
    print(f"{r['calls']} calls in {r['seconds']:.1f} s (concurrency {a.conc}) through rpcx proxy, "
          f"{confirmed} of {a.reloads} reloads confirmed (SIGHUP and POST /reload in turn): "
          f"{r['errors']} failed calls; server 1 served {served[0]}, server 2 served {served[1]}")
    if r.get("first_error"):
        print("first error:", r["first_error"])
    ok = r["errors"] == 0 and confirmed == a.reloads and sum(served) == r["calls"]
    if sum(served) != r["calls"]:
        print(f"MISMATCH: the servers served {sum(served)} calls, the client made {r['calls']}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
