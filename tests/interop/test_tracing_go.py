"""One trace across Go and Python: the W3C trace context in rpcx metadata, as Go's rpcx-plugins
OpenTelemetry plugins carry it (tests/interop/gootel, a Go rpcx peer printing its spans as JSON).

Go client span -> Python server span, and Python client span -> Go server span."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path

from arith_service import Args, Reply
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from rpcx import FailMode, Option, Peer2PeerDiscovery, SelectMode, SerializeType, XClient
from rpcx.plugins.tracing import ClientTracing, ServerTracing

from .conftest import start

WAIT = 10.0
W3C = TraceContextTextMapPropagator()


def tracing() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


async def test_go_client_span_is_the_parent_of_the_python_server_span(go_bin: Path, server_factory) -> None:
    provider, exporter = tracing()
    srv, addr = await server_factory()
    srv.add_plugin(ServerTracing(provider, W3C))
    proc = await asyncio.create_subprocess_exec(str(go_bin / "gootel"), "call", addr,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), WAIT * 3)
    assert proc.returncode == 0, err.decode()
    lines = out.decode().splitlines()
    assert 'reply {"C":42}' in lines
    (go_span,) = [json.loads(line) for line in lines if line.startswith("{")]
    assert go_span["span"] == "rpcx.client.Arith.Mul" and go_span["parent_span_id"] == ""
    (py_span,) = exporter.get_finished_spans()
    assert py_span.name == "rpcx.service.Arith.Mul" and py_span.kind is SpanKind.SERVER
    assert f"{py_span.context.trace_id:032x}" == go_span["trace_id"]
    assert f"{py_span.parent.span_id:016x}" == go_span["span_id"] and py_span.parent.is_remote
    assert dict(py_span.attributes) == go_span["attrs"]  # the same rpc.* attributes as Go's span


async def test_python_client_span_is_the_parent_of_the_go_server_span(go_bin: Path) -> None:
    provider, exporter = tracing()
    peer = start([str(go_bin / "gootel"), "serve", "tcp@127.0.0.1:0"])
    try:
        async with XClient("Arith", FailMode.FAILFAST, SelectMode.RANDOM, Peer2PeerDiscovery(peer.address),
                           Option(serialize_type=SerializeType.JSON)) as xc:
            xc.plugins.add(ClientTracing(provider, W3C))
            assert await xc.call("Mul", Args(6, 7), Reply, timeout=WAIT) == Reply(42)
        assert peer.proc.stdout is not None
        # the Go server prints its span when it ends it, after writing the reply
        line = await asyncio.wait_for(asyncio.to_thread(peer.proc.stdout.readline), WAIT)
    finally:
        peer.stop()
    go_span = json.loads(line)
    (py_span,) = exporter.get_finished_spans()
    assert py_span.name == "rpcx.client.Arith.Mul"
    assert go_span["span"] == "rpcx.service.Arith.Mul" and go_span["kind"] == "server"
    assert go_span["trace_id"] == f"{py_span.context.trace_id:032x}"
    assert go_span["parent_span_id"] == f"{py_span.context.span_id:016x}" and go_span["remote_parent"]
    assert go_span["attrs"] == dict(py_span.attributes)


def test_gootel_stops_on_sigterm(go_bin: Path) -> None:
    """The peer the tests start is stopped by PID and exits cleanly (nothing left behind)."""
    peer = start([str(go_bin / "gootel"), "serve", "tcp@127.0.0.1:0"])
    os.kill(peer.proc.pid, signal.SIGTERM)
    assert peer.proc.wait(timeout=WAIT) == 0
