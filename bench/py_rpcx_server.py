"""The Python rpcx server of the benchmark: rpcx-benchmark's Hello.Say on the rpcx package.

    .venv/bin/python bench/py_rpcx_server.py [ADDRESS] [--cert F --key F] [--count]

ADDRESS is ``HOST:PORT`` (tcp, default 127.0.0.1:0) or any ``network@address`` (bench/transports.py
runs it on each network; TLS from --cert/--key). Prints ``serving NETWORK@ADDRESS`` when ready and
serves until killed; with --count it prints ``calls N`` (the calls it served) on SIGTERM before
exiting, for the reuseport scaling figure. Uses uvloop when installed.
The handler is a plain (sync) method, as in Go: set Field1 and Field2 and return the message.
"""

from __future__ import annotations

import argparse
import asyncio
import signal

import _common  # noqa: F401 - puts bench/ on sys.path first

from benchpb.benchmark_pb2 import BenchmarkMessage

import rpcx
from rpcx.transport import server_tls_context


class Hello:
    def say(self, args: BenchmarkMessage) -> BenchmarkMessage:
        args.field1 = "OK"
        args.field2 = 100
        return args


class CountingHello(Hello):
    calls = 0

    def say(self, args: BenchmarkMessage) -> BenchmarkMessage:
        CountingHello.calls += 1
        return super().say(args)


async def main(address: str, cert: str | None, key: str | None, count: bool) -> None:
    tls = server_tls_context(cert, key) if cert else None
    server = rpcx.Server(tls=tls)
    server.register_name("Hello", CountingHello() if count else Hello())
    if "@" not in address:
        host, port = _common.split_address(address)
        address = f"tcp@{host}:{port}"
    bound = await server.start(address)
    _common.ready(f"serving {bound} ({loop_name})")
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await server.close()
    if count:
        _common.ready(f"calls {CountingHello.calls}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("address", nargs="?", default="127.0.0.1:0")
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--count", action="store_true", help="print the calls served on SIGTERM")
    a = ap.parse_args()
    loop_name = _common.install_uvloop()
    _common.run(main(a.address, a.cert, a.key, a.count))
