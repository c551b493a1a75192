"""The grpc.aio peer of the benchmark: the same Hello.Say on grpcio's asyncio server.

    .venv/bin/python bench/py_grpc_server.py [ADDRESS]     (default 127.0.0.1:0)

Prints ``serving HOST:PORT`` when ready and serves until killed. grpc.aio runs on uvloop when
installed, like the rpcx server (RPCX_BENCH_NO_UVLOOP=1 for the stdlib loop).
"""

from __future__ import annotations

import _common  # noqa: F401 - puts bench/ on sys.path first

import grpc
from benchpb import benchmark_pb2_grpc
from benchpb.benchmark_pb2 import BenchmarkMessage


class Hello(benchmark_pb2_grpc.HelloServicer):
    async def Say(self, request: BenchmarkMessage, context: grpc.aio.ServicerContext) -> BenchmarkMessage:
        request.field1 = "OK"
        request.field2 = 100
        return request


async def main(address: str) -> None:
    server = grpc.aio.server()
    benchmark_pb2_grpc.add_HelloServicer_to_server(Hello(), server)
    host, port = _common.split_address(address)
    bound = server.add_insecure_port(f"{host}:{port}")
    await server.start()
    _common.ready(f"serving {host}:{bound} ({loop_name})")
    await server.wait_for_termination()


if __name__ == "__main__":
    loop_name = _common.install_uvloop()
    _common.run(main(_common.address_arg()))
