"""The Python rpcx server of the benchmark: rpcx-benchmark's Hello.Say on the rpcx package.

    .venv/bin/python bench/py_rpcx_server.py [ADDRESS] [--metrics] [--tracing root|traced|traced-lean]
                                                           (default 127.0.0.1:0)

Prints ``serving tcp@HOST:PORT`` when ready and serves until killed. Uses uvloop when installed.
The handler is a plain (sync) method, as in Go: set Field1 and Field2 and return the message.
``--metrics`` adds :class:`rpcx.plugins.metrics.ServerMetrics`; ``--tracing`` adds
:class:`rpcx.plugins.tracing.ServerTracing` with an SDK tracer provider whose batch processor hands
the spans to an exporter that drops them (``root``: a span for every call, Go's way; ``traced``: only
for calls that carry a trace context; ``traced-lean``: that without Go's span events)
(bench/observability.py).
"""

from __future__ import annotations

import sys

import _common  # noqa: F401 - puts bench/ on sys.path first

from benchpb.benchmark_pb2 import BenchmarkMessage

import rpcx


class Hello:
    def say(self, args: BenchmarkMessage) -> BenchmarkMessage:
        args.field1 = "OK"
        args.field2 = 100
        return args


def observability(server: rpcx.Server, flags: list[str]) -> None:
    if "--metrics" in flags:
        from rpcx.plugins.metrics import ServerMetrics

        server.add_plugin(ServerMetrics())
    if "--tracing" in flags:
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

        from rpcx.plugins.tracing import ServerTracing

        class Drop(SpanExporter):
            def export(self, spans):  # type: ignore[no-untyped-def]
                return SpanExportResult.SUCCESS

        provider = TracerProvider()
        provider.add_span_processor(BatchSpanProcessor(Drop()))
        mode = flags[flags.index("--tracing") + 1]
        server.add_plugin(ServerTracing(provider, root_spans=mode == "root", events=mode != "traced-lean"))


async def main(address: str, flags: list[str]) -> None:
    server = rpcx.Server()
    server.register_name("Hello", Hello())
    observability(server, flags)
    host, port = _common.split_address(address)
    bound = await server.start(f"tcp@{host}:{port}")
    _common.ready(f"serving {bound} ({loop_name})")
    await server.wait_closed()


if __name__ == "__main__":
    loop_name = _common.install_uvloop()
    args = [a for a in sys.argv[1:] if not a.startswith("--") and a not in ("root", "traced", "traced-lean")]
    _common.run(main(args[0] if args else "127.0.0.1:0", sys.argv[1:]))
