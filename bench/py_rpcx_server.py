"""The Python rpcx server of the benchmark: rpcx-benchmark's Hello.Say on the rpcx package.

    .venv/bin/python bench/py_rpcx_server.py [ADDRESS]     (default 127.0.0.1:0)

Prints ``serving tcp@HOST:PORT`` when ready and serves until killed. Uses uvloop when installed.
The handler is a plain (sync) method, as in Go: set Field1 and Field2 and return the message.
"""

from __future__ import annotations

import _common  # noqa: F401 - puts bench/ on sys.path first

from benchpb.benchmark_pb2 import BenchmarkMessage

import rpcx


class Hello:
    def say(self, args: BenchmarkMessage) -> BenchmarkMessage:
        args.field1 = "OK"
        args.field2 = 100
        return args


async def main(address: str) -> None:
    server = rpcx.Server()
    server.register_name("Hello", Hello())
    host, port = _common.split_address(address)
    bound = await server.start(f"tcp@{host}:{port}")
    _common.ready(f"serving {bound} ({loop_name})")
    await server.wait_closed()


if __name__ == "__main__":
    loop_name = _common.install_uvloop()
    _common.run(main(_common.address_arg()))
