"""Profile the Python rpcx server under the Go load client, or its per-call path without sockets.

    .venv/bin/python bench/profile_server.py [--concurrency 16] [--seconds 8] [--top 30]
    .venv/bin/python bench/profile_server.py --inproc [--calls 200000]

Live mode runs bench/py_rpcx_server.py's server in this process under cProfile (on uvloop when
installed) while the Go load client (built by bench/run.py) drives it over loopback, then prints
the hottest functions by cumulative and by own time. cProfile's per-call overhead inflates
Python-heavy code; read the shares, not the absolute times.

In-process mode feeds request frames, as the Go client writes them, straight into a server
connection with a fake transport: the Python cost of one call without the event loop and
syscalls, timed without a profiler and then profiled.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import subprocess
import sys
import time

import _common
from benchpb.benchmark_pb2 import BenchmarkMessage
from py_rpcx_server import Hello

import rpcx
from rpcx.protocol.message import Message, encode

BIN = os.environ.get("RPCX_BENCH_BIN") or os.path.join(os.path.expanduser("~"), ".cache", "rpcx-python", "bench-bin")


def bench_message() -> BenchmarkMessage:
    """rpcx-benchmark's prepareArgs: every scalar field set; 581 bytes."""
    m = BenchmarkMessage()
    s = "许多往事在眼前一幕一幕，变的那麼模糊"
    for f in BenchmarkMessage.DESCRIPTOR.fields:
        if f.is_repeated:
            continue
        if f.type == f.TYPE_STRING:
            setattr(m, f.name, s)
        elif f.type == f.TYPE_BOOL:
            setattr(m, f.name, True)
        else:
            setattr(m, f.name, 100000)
    return m


def report(prof: cProfile.Profile, top: int, calls: int) -> None:
    for key in ("cumulative", "tottime"):
        out = io.StringIO()
        st = pstats.Stats(prof, stream=out)
        st.sort_stats(key).print_stats(top)
        print(f"==== by {key} ({calls} calls) ====")
        text = out.getvalue()
        print(text[text.find("   ncalls") :])


class FakeTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.out = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.out += len(data)

    def get_extra_info(self, name: str, default: object = None) -> object:
        return ("127.0.0.1", 1) if name == "peername" else default

    def is_closing(self) -> bool:
        return False


def inproc(calls: int, top: int) -> None:
    server = rpcx.Server()
    server.register_name("Hello", Hello())
    payload = bench_message().SerializeToString()
    frame = encode(
        Message(service_path="Hello", service_method="Say", seq=1, serialize_type=rpcx.SerializeType.PROTOBUF,
                payload=payload)
    )  # fmt: skip

    async def go() -> None:
        from rpcx.server.connection import ServerConnection

        conn = ServerConnection(server)
        t = FakeTransport()
        conn.connection_made(t)
        feed = conn.data_received
        for _ in range(2000):
            feed(frame)
        t0 = time.perf_counter()
        for _ in range(calls):
            feed(frame)
        dt = time.perf_counter() - t0
        print(f"in-process: {dt / calls * 1e6:.2f} µs per call ({calls} calls, one frame per read, no profiler)")
        per = time.perf_counter()
        for _ in range(calls):
            BenchmarkMessage.FromString(payload).SerializeToString()
        per = time.perf_counter() - per
        print(f"  of which protobuf parse + serialize alone: {per / calls * 1e6:.2f} µs")
        prof = cProfile.Profile()
        prof.enable()
        for _ in range(calls // 4):
            feed(frame)
        prof.disable()
        report(prof, top, calls // 4)

    asyncio.run(go())


def live(conc: int, seconds: float, top: int) -> None:
    loadclient = os.path.join(BIN, "loadclient")
    if not os.path.exists(loadclient):
        sys.exit(f"{loadclient} missing: run bench/run.py once (it builds the Go programs)")

    async def go() -> None:
        server = rpcx.Server()
        server.register_name("Hello", Hello())
        bound = await server.start("tcp@127.0.0.1:0")
        addr = bound.split("@", 1)[1]
        proc = await asyncio.create_subprocess_exec(
            loadclient, "-proto", "rpcx", "-addr", addr, "-c", str(conc), "-n", "10000000",
            "-duration", str(seconds), "-warmup", "2000", "-sync",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert proc.stdin and proc.stdout
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        assert line.strip() == b"warm", line
        prof = cProfile.Profile()
        prof.enable()
        proc.stdin.write(b"go\n")
        await proc.stdin.drain()
        line = await asyncio.wait_for(proc.stdout.readline(), seconds + 60)
        prof.disable()
        proc.stdin.write(b"bye\n")
        await proc.stdin.drain()
        await asyncio.wait_for(proc.wait(), 30)
        await server.close()
        print("load client:", line.decode().strip())
        import json

        report(prof, top, json.loads(line)["calls"])

    asyncio.run(go())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--inproc", action="store_true")
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=8)
    ap.add_argument("--calls", type=int, default=200_000)
    ap.add_argument("--top", type=int, default=30)
    a = ap.parse_args()
    loop = _common.install_uvloop()
    print(f"loop: {loop}")
    if a.inproc:
        inproc(a.calls, a.top)
    else:
        live(a.concurrency, a.seconds, a.top)


if __name__ == "__main__":
    main()
