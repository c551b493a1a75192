"""Server metrics (Prometheus, scraped from a real endpoint during load) and server tracing
(OpenTelemetry), and that both leave the fast path on: the calls are answered by serve_read (the C
one, or its Python twin under RPCX_PURE_PYTHON=1)."""

from __future__ import annotations

import asyncio
import urllib.request
from typing import Any

import pytest
from arith_service import FAIL_TEXT, Args, Reply
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from prometheus_client.parser import text_string_to_metric_families

import rpcx.server.connection as connection_module
from rpcx import Client, ServiceError
from rpcx.plugins.metrics import ServerMetrics
from rpcx.plugins.tracing import ServerTracing
from rpcx.protocol.decoder import py_split_frames

WAIT = 10.0


def scrape(port: int) -> dict[tuple[str, frozenset], float]:
    """One GET of the metrics endpoint, parsed: (sample name, labels) -> value."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=WAIT) as r:
        text = r.read().decode()
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def val(samples: dict, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


@pytest.fixture
def fast_reads(monkeypatch) -> list[int]:
    """One entry per request frame the fast path answered (in a read serve_read took whole)."""
    served: list[int] = []
    real = connection_module.serve_read

    def counting(data: bytes, *args: Any) -> Any:
        out = real(data, *args)
        if out is not None:
            served.extend([1] * len(py_split_frames(data, 0)[0]))
        return out

    monkeypatch.setattr(connection_module, "serve_read", counting)
    return served


@pytest.fixture
def endpoint():
    started = []

    def start(metrics: ServerMetrics) -> int:
        httpd, port = metrics.serve(0, "127.0.0.1")
        started.append(httpd)
        return port

    yield start
    for httpd in started:
        httpd.shutdown()
        httpd.server_close()


async def test_metrics_scraped_during_load_count_calls_errors_and_connections(server_factory, endpoint, fast_reads) -> None:
    metrics = ServerMetrics()
    srv, addr = await server_factory()
    srv.add_plugin(metrics)
    assert srv._fast_enabled, "metrics must not turn the fast path off"
    port = endpoint(metrics)
    n_mul, n_fail, workers = 400, 60, 8
    scrapes: list[dict] = []

    async with await Client.connect(addr) as c1, await Client.connect(addr) as c2:
        async def mul_worker(c: Client, k: int) -> None:
            for i in range(k, n_mul, workers):
                assert await c.call("Arith", "Mul", Args(i, 2), Reply, timeout=WAIT) == Reply(2 * i)

        async def fail_worker() -> None:
            for _ in range(n_fail):
                with pytest.raises(ServiceError, match=FAIL_TEXT):
                    await c2.call("Arith", "Fail", Args(1, 1), Reply, timeout=WAIT)

        load = asyncio.gather(*(mul_worker(c1 if k % 2 else c2, k) for k in range(workers)), fail_worker())

        async def scraper() -> None:
            for _ in range(20):  # bounded: at most 20 scrapes while the load runs
                scrapes.append(await asyncio.to_thread(scrape, port))
                if load.done():
                    return
                await asyncio.sleep(0.005)

        await asyncio.wait_for(asyncio.gather(load, scraper()), WAIT * 3)
        final = await asyncio.to_thread(scrape, port)
        assert val(final, "rpcx_server_connections") == 2

    assert val(final, "rpcx_server_calls_total", service="Arith", method="Mul") == n_mul
    assert val(final, "rpcx_server_calls_total", service="Arith", method="Fail") == n_fail
    assert val(final, "rpcx_server_errors_total", service="Arith", method="Fail") == n_fail
    assert val(final, "rpcx_server_errors_total", service="Arith", method="Mul") is None
    assert val(final, "rpcx_server_call_duration_seconds_count", service="Arith", method="Mul") == n_mul
    assert val(final, "rpcx_server_call_duration_seconds_bucket", service="Arith", method="Mul", le="+Inf") == n_mul
    assert val(final, "rpcx_server_in_flight", service="Arith", method="Mul") == 0
    assert 0 < val(final, "rpcx_server_call_duration_seconds_sum", service="Arith", method="Mul") < WAIT * 3
    # the scrapes during the load saw the counts grow, never past the truth
    seen = [val(s, "rpcx_server_calls_total", service="Arith", method="Mul") or 0 for s in scrapes]
    assert seen == sorted(seen) and seen[-1] <= n_mul and len(scrapes) >= 1
    # and most calls were answered by the fast path (not: the first of each method, and reads that
    # end inside a frame)
    assert len(fast_reads) >= (n_mul + n_fail) // 2


async def test_metrics_count_errors_before_the_method_and_unknown_methods(server_factory) -> None:
    metrics = ServerMetrics()
    srv, addr = await server_factory()
    srv.add_plugin(metrics)
    async with await Client.connect(addr) as c:
        assert await c.call("Arith", "Mul", Args(2, 3), Reply, timeout=WAIT) == Reply(6)
        with pytest.raises(ServiceError):  # arguments that do not decode: the method never runs
            await c.call("Arith", "Mul", b"\xc1 not msgpack", Reply, timeout=WAIT)
        with pytest.raises(ServiceError, match="can't find method"):
            await c.call("Arith", "Nope", Args(), Reply, timeout=WAIT)
    reg = metrics.registry
    assert reg.get_sample_value("rpcx_server_calls_total", {"service": "Arith", "method": "Mul"}) == 1
    assert reg.get_sample_value("rpcx_server_errors_total", {"service": "Arith", "method": "Mul"}) == 1
    assert reg.get_sample_value("rpcx_server_errors_total", {"service": "(unknown)", "method": "(unknown)"}) == 1


async def test_metrics_added_after_calls_started_and_async_methods(server_factory) -> None:
    """A plugin added while the server runs sees the next calls (the call plans are made again),
    and an async method (full path) is timed while it is awaited."""
    srv, addr = await server_factory()
    async with await Client.connect(addr) as c:
        assert await c.call("Arith", "Mul", Args(2, 3), Reply, timeout=WAIT) == Reply(6)
        metrics = ServerMetrics()
        srv.add_plugin(metrics)
        assert await c.call("Arith", "Mul", Args(2, 4), Reply, timeout=WAIT) == Reply(8)
        assert await c.call("Arith", "Echo", b"hi", timeout=WAIT) == b"hi"
    reg = metrics.registry
    assert reg.get_sample_value("rpcx_server_calls_total", {"service": "Arith", "method": "Mul"}) == 1
    assert reg.get_sample_value("rpcx_server_calls_total", {"service": "Arith", "method": "Echo"}) == 1
    assert reg.get_sample_value("rpcx_server_in_flight", {"service": "Arith", "method": "Echo"}) == 0


def tracing() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def traceparent(trace_id: int, span_id: int) -> dict[str, str]:
    return {"traceparent": f"00-{trace_id:032x}-{span_id:016x}-01"}


async def test_server_span_continues_the_callers_trace_on_the_fast_path(server_factory, fast_reads) -> None:
    provider, exporter = tracing()
    srv, addr = await server_factory()
    srv.add_plugin(ServerTracing(provider, TraceContextTextMapPropagator()))
    assert srv._fast_enabled
    tid, sid = 0x0AF7651916CD43DD8448EB211C80319C, 0xB7AD6B7169203331
    async with await Client.connect(addr) as c:
        for i in range(5):
            md = traceparent(tid + i, sid + i)
            assert await c.call("Arith", "Mul", Args(i, 3), Reply, metadata=md, timeout=WAIT) == Reply(3 * i)
        with pytest.raises(ServiceError, match=FAIL_TEXT):
            await c.call("Arith", "Fail", Args(), Reply, metadata=traceparent(tid, sid), timeout=WAIT)
    spans = exporter.get_finished_spans()
    muls = [s for s in spans if s.name == "rpcx.service.Arith.Mul"]
    assert len(muls) == 5
    for i, s in enumerate(muls):
        assert s.kind is SpanKind.SERVER
        assert s.context.trace_id == tid + i and s.parent.span_id == sid + i and s.parent.is_remote
        assert dict(s.attributes) == {"rpc.system": "rpcx", "rpc.service": "Arith", "rpc.method": "Mul"}
        assert s.status.status_code is StatusCode.OK
        assert [e.name for e in s.events] == ["rpcx.pre.handle.request", "rpcx.post.write.response"]
        assert s.events[0].attributes["rpcx.pre.handle.request.metadata"] == (
            f"map[traceparent:00-{tid + i:032x}-{sid + i:016x}-01]")
    (fail,) = [s for s in spans if s.name == "rpcx.service.Arith.Fail"]
    assert fail.status.status_code is StatusCode.ERROR and fail.status.description == FAIL_TEXT
    assert len(fast_reads) >= 3, "traced calls of a plain method are still served by the fast path"


async def test_root_spans_off_leaves_untraced_calls_without_a_span(server_factory, fast_reads) -> None:
    provider, exporter = tracing()
    srv, addr = await server_factory()
    srv.add_plugin(ServerTracing(provider, TraceContextTextMapPropagator(), root_spans=False, events=False))
    async with await Client.connect(addr) as c:
        for i in range(6):
            assert await c.call("Arith", "Mul", Args(i, 2), Reply, metadata={"x": "y"}, timeout=WAIT) == Reply(2 * i)
        assert await c.call("Arith", "Mul", Args(1, 2), Reply, metadata=traceparent(5, 6), timeout=WAIT) == Reply(2)
    (span,) = exporter.get_finished_spans()
    assert span.context.trace_id == 5 and span.parent.span_id == 6 and not span.events
    assert len(fast_reads) >= 5


async def test_root_spans_on_every_call_gets_a_span_and_async_methods_too(server_factory) -> None:
    provider, exporter = tracing()
    srv, addr = await server_factory()
    srv.add_plugin(ServerTracing(provider, TraceContextTextMapPropagator()))
    async with await Client.connect(addr) as c:
        assert await c.call("Arith", "Mul", Args(2, 2), Reply, timeout=WAIT) == Reply(4)
        md: dict[str, str] = {}
        assert await c.call("Arith", "Echo", b"x", metadata={"k": "v", **traceparent(7, 8)},
                            response_metadata=md, timeout=WAIT) == b"x"
    mul, echo = sorted(exporter.get_finished_spans(), key=lambda s: s.name, reverse=True)
    assert mul.name == "rpcx.service.Arith.Mul" and mul.parent is None  # a new trace, as Go starts one
    assert echo.name == "rpcx.service.Arith.Echo" and echo.context.trace_id == 7 and echo.parent.span_id == 8
    assert echo.events[1].attributes["rpcx.post.write.response.metadata"] == "map[k:v]"


async def test_metrics_of_methods_run_in_threads_are_exact(server_factory) -> None:
    """sync_handlers="thread": the wrapper runs in the executor's threads and counts under the lock."""
    metrics = ServerMetrics()
    srv, addr = await server_factory(sync_handlers="thread")
    srv.add_plugin(metrics)
    async with await Client.connect(addr) as c:
        got = await asyncio.gather(*(c.call("Arith", "Mul", Args(i, 3), Reply, timeout=WAIT) for i in range(200)))
    assert got == [Reply(3 * i) for i in range(200)]
    reg = metrics.registry
    assert reg.get_sample_value("rpcx_server_calls_total", {"service": "Arith", "method": "Mul"}) == 200
    assert reg.get_sample_value("rpcx_server_in_flight", {"service": "Arith", "method": "Mul"}) == 0
    assert reg.get_sample_value("rpcx_server_call_duration_seconds_count", {"service": "Arith", "method": "Mul"}) == 200


async def test_broken_observer_plugins_do_not_break_calls(server_factory, caplog) -> None:
    class Broken:
        def wrap_method(self, service, method, func, is_async):
            raise RuntimeError("no wrapper today")

        def error_response(self, req, error):
            raise RuntimeError("no counting today")

    srv, addr = await server_factory()
    srv.add_plugin(Broken())
    async with await Client.connect(addr) as c:
        assert await c.call("Arith", "Mul", Args(2, 5), Reply, timeout=WAIT) == Reply(10)
        with pytest.raises(ServiceError, match=FAIL_TEXT):
            await c.call("Arith", "Fail", Args(), Reply, timeout=WAIT)
    assert "no wrapper today" in caplog.text


async def test_metrics_and_tracing_together_keep_the_fast_path(server_factory, fast_reads) -> None:
    provider, exporter = tracing()
    metrics = ServerMetrics()
    srv, addr = await server_factory()
    srv.add_plugin(metrics)
    srv.add_plugin(ServerTracing(provider, TraceContextTextMapPropagator()))
    assert srv._fast_enabled
    async with await Client.connect(addr) as c:
        for i in range(10):
            md = traceparent(100 + i, 200 + i)
            assert await c.call("Arith", "Mul", Args(i, i), Reply, metadata=md, timeout=WAIT) == Reply(i * i)
    assert len(fast_reads) >= 8
    spans = exporter.get_finished_spans()
    assert [s.context.trace_id for s in spans] == [100 + i for i in range(10)]
    assert metrics.registry.get_sample_value("rpcx_server_calls_total", {"service": "Arith", "method": "Mul"}) == 10
