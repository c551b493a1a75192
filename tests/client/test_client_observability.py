"""Client metrics (per attempt, breaker states) and client tracing on XClient, against real
loopback servers; a trace carried Python client -> Python server -> Python client -> Python server."""

from __future__ import annotations

import pytest
from arith_service import FAIL_TEXT, Args, Reply
from conftest import dead_address
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from rpcx import FailMode, KVPair, MultipleServersDiscovery, Option, SelectMode, ServiceError, XClient
from rpcx.client.breaker import CircuitBreaker
from rpcx.errors import RpcxError
from rpcx.plugins.metrics import ClientMetrics
from rpcx.plugins.tracing import ClientTracing, ServerTracing

WAIT = 10.0
W3C = TraceContextTextMapPropagator()


def xclient(*addrs: str, service: str = "Arith", **opt) -> XClient:
    return XClient(service, FailMode.FAILFAST, SelectMode.ROUND_ROBIN,
                   MultipleServersDiscovery([KVPair(a) for a in addrs]), Option(**opt))


def tracing() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


async def test_client_metrics_count_attempts_errors_and_show_breaker_states(server) -> None:
    dead = dead_address()
    m = ClientMetrics()
    get = m.registry.get_sample_value
    async with xclient(server, dead, dial_backoff=None, connect_timeout=2.0,
                       breaker=lambda: CircuitBreaker(failures=2, cooldown=3600)) as xc:
        m.attach(xc)
        ok = failed = 0
        for i in range(12):
            try:
                assert await xc.call("Mul", Args(i, 2), Reply, timeout=WAIT) == Reply(2 * i)
                ok += 1
            except RpcxError:
                failed += 1
        with pytest.raises(ServiceError, match=FAIL_TEXT):
            while True:  # round robin: until the live server gets it
                try:
                    await xc.call("Fail", Args(), Reply, timeout=WAIT)
                except ServiceError:
                    raise
                except RpcxError:
                    pass
        states = xc.breaker_state()
        assert states[dead].value == "open" and states[server].value == "closed"
        assert get("rpcx_client_breaker_state", {"service": "Arith", "server": dead, "state": "open"}) == 1
        assert get("rpcx_client_breaker_state", {"service": "Arith", "server": dead, "state": "closed"}) == 0
        assert get("rpcx_client_breaker_state", {"service": "Arith", "server": server, "state": "closed"}) == 1
        assert get("rpcx_client_connections") == 1
    assert ok == 6 and failed == 6
    # the dead server was attempted twice (then its breaker shed the attempts before any plugin ran)
    assert get("rpcx_client_errors_total", {"service": "Arith", "method": "Mul", "outcome": "dial_error"}) == 2
    assert get("rpcx_client_calls_total", {"service": "Arith", "method": "Mul"}) == ok + 2
    assert get("rpcx_client_errors_total", {"service": "Arith", "method": "Fail", "outcome": "service_error"}) == 1
    assert get("rpcx_client_call_duration_seconds_count", {"service": "Arith", "method": "Mul"}) == ok + 2
    assert get("rpcx_client_in_flight", {"service": "Arith", "method": "Mul"}) == 0
    assert get("rpcx_client_connections") == 0  # aclose closed it


async def test_client_span_is_the_parent_of_the_server_span(server_factory) -> None:
    cprov, cexp = tracing()
    sprov, sexp = tracing()  # two providers, as two processes would have
    srv, addr = await server_factory()
    srv.add_plugin(ServerTracing(sprov, W3C))
    async with xclient(addr) as xc:
        xc.plugins.add(ClientTracing(cprov, W3C))
        assert await xc.call("Mul", Args(6, 7), Reply, timeout=WAIT) == Reply(42)
        with pytest.raises(ServiceError):
            await xc.call("Fail", Args(), Reply, timeout=WAIT)
    (cmul, cfail), (smul, sfail) = cexp.get_finished_spans(), sexp.get_finished_spans()
    assert cmul.name == "rpcx.client.Arith.Mul" and cmul.kind is SpanKind.INTERNAL and cmul.parent is None
    assert dict(cmul.attributes) == {"rpc.system": "rpcx", "rpc.service": "Arith", "rpc.method": "Mul"}
    assert [e.name for e in cmul.events] == ["PreCall", "PostCall"]
    assert cmul.status.status_code is StatusCode.OK
    assert smul.context.trace_id == cmul.context.trace_id and smul.parent.span_id == cmul.context.span_id
    assert cfail.status.status_code is StatusCode.ERROR and FAIL_TEXT in cfail.status.description
    assert sfail.parent.span_id == cfail.context.span_id


async def test_client_span_parent_from_metadata_or_the_current_span(server) -> None:
    prov, exp = tracing()
    async with xclient(server) as xc:
        xc.plugins.add(ClientTracing(prov, W3C))
        md = {"traceparent": f"00-{0xABC:032x}-{0xDEF:016x}-01"}
        assert await xc.call("Mul", Args(1, 1), Reply, metadata=md, timeout=WAIT) == Reply(1)
        with prov.get_tracer("test").start_as_current_span("outer") as outer:
            assert await xc.call("Mul", Args(1, 2), Reply, timeout=WAIT) == Reply(2)
    from_md, in_span, outer_span = exp.get_finished_spans()  # in the order they ended
    assert from_md.context.trace_id == 0xABC and from_md.parent.span_id == 0xDEF  # Go's rule
    assert outer_span.name == "outer" and in_span.name == "rpcx.client.Arith.Mul"
    assert in_span.parent.span_id == outer.get_span_context().span_id


class Front:
    """A service that calls Arith.Mul through another XClient: the trace must go through it."""

    def __init__(self, back: XClient) -> None:
        self.back = back

    async def twice(self, args: Args) -> Reply:
        r = await self.back.call("Mul", args, Reply, timeout=WAIT)
        return Reply(r.C * 2)


async def test_trace_runs_through_a_python_service_that_calls_another(server_factory) -> None:
    prov, exp = tracing()  # one exporter sees every span of the chain
    back_srv, back_addr = await server_factory()
    back_srv.add_plugin(ServerTracing(prov, W3C))
    front_srv, front_addr = await server_factory(register=False)
    async with xclient(back_addr) as back, xclient(front_addr, service="Front") as front:
        back.plugins.add(ClientTracing(prov, W3C))
        front.plugins.add(ClientTracing(prov, W3C))
        front_srv.register(Front(back))
        front_srv.add_plugin(ServerTracing(prov, W3C))
        assert await front.call("Twice", Args(3, 4), Reply, timeout=WAIT) == Reply(24)
    spans = {s.name: s for s in exp.get_finished_spans()}
    chain = ["rpcx.client.Front.Twice", "rpcx.service.Front.Twice", "rpcx.client.Arith.Mul", "rpcx.service.Arith.Mul"]
    assert sorted(spans) == sorted(chain)
    assert len({spans[n].context.trace_id for n in chain}) == 1
    for parent, child in zip(chain, chain[1:]):
        assert spans[child].parent.span_id == spans[parent].context.span_id, (parent, child)
    assert trace.get_current_span().get_span_context().is_valid is False  # nothing leaked into the test


async def test_pre_call_returning_metadata_adds_it_to_that_attempt_only(server_factory) -> None:
    seen: list[dict] = []

    class Peek:
        def peek(self, ctx, args: Args) -> Reply:
            seen.append({k: v for k, v in ctx.metadata.items() if k != "__ServerTimeout"})
            return Reply(args.A)

    class AddMeta:
        n = 0

        def pre_call(self, call, key):
            AddMeta.n += 1
            return {"attempt": str(AddMeta.n)}

    class ReturnsTrue:
        def pre_call(self, call, key):
            return True  # not a mapping: ignored, as before

    srv, addr = await server_factory(register=False)
    srv.register(Peek())
    async with xclient(addr, service="Peek") as xc:
        xc.plugins.add(ReturnsTrue())
        xc.plugins.add(AddMeta())
        assert await xc.call("Peek", Args(1), Reply, metadata={"k": "v"}, timeout=WAIT) == Reply(1)
        assert await xc.call("Peek", Args(2), Reply, timeout=WAIT) == Reply(2)
    assert seen == [{"k": "v", "attempt": "1"}, {"attempt": "2"}]
