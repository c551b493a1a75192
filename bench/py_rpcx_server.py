"""The Python rpcx server of the benchmark: rpcx-benchmark's Hello.Say on the rpcx package.

    .venv/bin/python bench/py_rpcx_server.py [ADDRESS] [--cert F --key F] [--count]
                                             [--metrics] [--tracing root|traced|traced-lean]

ADDRESS is ``HOST:PORT`` (tcp, default 127.0.0.1:0) or any ``network@address`` (bench/transports.py
runs it on each network; TLS from --cert/--key). Prints ``serving NETWORK@ADDRESS`` when ready and
serves until killed; with --count it prints ``calls N`` (the calls it served) on SIGTERM before
exiting, for the reuseport scaling figure. Uses uvloop when installed.
The handler is a plain (sync) method, as in Go: set Field1 and Field2 and return the message.
``--metrics`` adds :class:`rpcx.plugins.metrics.ServerMetrics`; ``--tracing`` adds
:class:`rpcx.plugins.tracing.ServerTracing` with an SDK tracer provider whose batch processor hands
the spans to an exporter that drops them (``root``: a span for every call, Go's way; ``traced``: only
for calls that carry a trace context; ``traced-lean``: that without Go's span events)
(bench/observability.py).
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


def observability(server: rpcx.Server, metrics: bool, tracing: str | None) -> None:
    if metrics:
        from rpcx.plugins.metrics import ServerMetrics

        server.add_plugin(ServerMetrics())
    if tracing:
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

        from rpcx.plugins.tracing import ServerTracing

        class Drop(SpanExporter):
            def export(self, spans):  # type: ignore[no-untyped-def]
                return SpanExportResult.SUCCESS

        provider = TracerProvider()
        provider.add_span_processor(BatchSpanProcessor(Drop()))
        server.add_plugin(ServerTracing(provider, root_spans=tracing == "root", events=tracing != "traced-lean"))


async def main(address: str, cert: str | None, key: str | None, count: bool, metrics: bool, tracing: str | None) -> None:
    tls = server_tls_context(cert, key) if cert else None
    server = rpcx.Server(tls=tls)
    server.register_name("Hello", CountingHello() if count else Hello())
    observability(server, metrics, tracing)
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
    ap.add_argument("--metrics", action="store_true", help="add ServerMetrics")
    ap.add_argument("--tracing", choices=("root", "traced", "traced-lean"), help="add ServerTracing")
    a = ap.parse_args()
    loop_name = _common.install_uvloop()
    _common.run(main(a.address, a.cert, a.key, a.count, a.metrics, a.tracing))
