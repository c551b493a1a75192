"""Prometheus metrics of the proxy, scraped from the admin endpoint's /metrics: exact counts per
route, service and method under bounded load, faults by kind, retries, calls in flight, upstream
connections, and counts kept across a configuration reload."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from rpcx import Client, ServiceError
from rpcx.client import Option
from rpcx.protocol.constants import SerializeType
from rpcx.proxy import ProxyApp
from rpcx.transport.tcp import split_host_port

sys.path.insert(0, os.path.dirname(os.path.dirname(__file__)))
from conftest import WAIT, dead_address  # noqa: E402

RAW = Option(serialize_type=SerializeType.NONE)


async def get(address: str, path: str) -> tuple[int, str, bytes]:
    host, port = split_host_port(address.partition("@")[2])
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    data = await asyncio.wait_for(reader.read(), WAIT)
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    ctype = next(line.split(b":", 1)[1].strip().decode() for line in head.split(b"\r\n")
                 if line.lower().startswith(b"content-type:"))
    return int(head.split(b" ")[1]), ctype, body


async def scrape(address: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics: (name, sorted labels) -> value."""
    status, ctype, body = await get(address, "/metrics")
    assert status == 200 and ctype.startswith("text/plain")
    out = {}
    for fam in text_string_to_metric_families(body.decode()):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def start_app(tmp_path: Path, text: str) -> tuple[ProxyApp, str, str, Path]:
    cfg = tmp_path / "proxy.yaml"
    cfg.write_text(text)
    app = ProxyApp(str(cfg))
    [paddr] = await app.start()
    assert app.admin is not None
    return app, paddr, app.admin.address, cfg


async def test_exact_counts_per_route_service_and_method_faults_and_latency(tmp_path: Path, echo_upstream) -> None:
    import random

    text = ("listen: tcp@127.0.0.1:0\nadmin: tcp@127.0.0.1:0\nmetrics: true\n"
            f"clusters: {{up: {{servers: [{echo_upstream.address}]}}}}\n"
            "routes:\n"
            "  - {name: boom, match: {method: Boom}, cluster: up, faults: {abort: {percent: 50, error: boom}}}\n"
            "  - {name: slow, match: {method: Slow}, cluster: up, faults: {delay: {percent: 100, duration: 1ms}}}\n"
            "default: {cluster: up}\n")
    cfg = tmp_path / "proxy.yaml"
    cfg.write_text(text)
    app = ProxyApp(str(cfg), rng=random.Random(7))
    [paddr] = await app.start()
    assert app.admin is not None
    admin = app.admin.address
    calls = {("Arith", "Mul"): 300, ("Arith", "Add"): 120, ("Other", "Boom"): 200, ("Arith", "Slow"): 48}
    aborted = 0
    mid: list[dict] = []
    try:
        async def client(n: int) -> int:
            seen = 0
            async with await Client.connect(paddr, RAW) as c:
                for (svc, meth), total in calls.items():
                    share = total // 4
                    results = await asyncio.gather(*(c.call(svc, meth, b"x") for _ in range(share)),
                                                   return_exceptions=True)
                    for r in results:
                        if isinstance(r, ServiceError):
                            assert str(r) == "boom"
                            seen += 1
                        else:
                            assert r == b"x"
                    if n == 0 and meth == "Add":
                        mid.append(await scrape(admin))  # a scrape while the other clients call
            return seen

        aborted = sum(await asyncio.wait_for(asyncio.gather(*(client(i) for i in range(4))), 60))
        s = await scrape(admin)
    finally:
        await app.aclose()
    # the scrape under load parsed, and counted no more than was sent
    assert mid and value(mid[0], "rpcx_proxy_calls_total", route="default", service="Arith", method="Mul") <= 300
    assert value(s, "rpcx_proxy_calls_total", route="default", service="Arith", method="Mul") == 300
    assert value(s, "rpcx_proxy_calls_total", route="default", service="Arith", method="Add") == 120
    assert value(s, "rpcx_proxy_calls_total", route="boom", service="Other", method="Boom") == 200
    assert value(s, "rpcx_proxy_calls_total", route="slow", service="Arith", method="Slow") == 48
    assert 0 < aborted < 200
    assert value(s, "rpcx_proxy_errors_total", route="boom", service="Other", method="Boom") == aborted
    assert value(s, "rpcx_proxy_faults_total", route="boom", service="Other", method="Boom", kind="abort") == aborted
    assert value(s, "rpcx_proxy_faults_total", route="slow", service="Arith", method="Slow", kind="delay") == 48
    assert value(s, "rpcx_proxy_faults_total", route="slow", service="Arith", method="Slow", kind="abort") == 0
    assert value(s, "rpcx_proxy_errors_total", route="default", service="Arith", method="Mul") == 0
    # downstream latency: every call; upstream latency: only those that reached upstream
    assert value(s, "rpcx_proxy_call_duration_seconds_count", route="boom", service="Other", method="Boom") == 200
    assert value(s, "rpcx_proxy_upstream_duration_seconds_count", route="boom", service="Other",
                 method="Boom") == 200 - aborted
    assert value(s, "rpcx_proxy_upstream_duration_seconds_bucket", route="default", service="Arith", method="Mul",
                 le="+Inf") == 300
    # a delayed call waited at least its delay: none in the buckets under 1 ms
    assert value(s, "rpcx_proxy_call_duration_seconds_bucket", route="slow", service="Arith", method="Slow",
                 le="0.0005") == 0
    assert value(s, "rpcx_proxy_active_calls", route="default", service="Arith", method="Mul") == 0
    assert len(echo_upstream.frames) == 300 + 120 + 48 + 200 - aborted


async def test_active_calls_upstream_connections_and_unfinished(tmp_path: Path, echo_upstream, raw) -> None:
    from rpcx.protocol import Message

    app, paddr, admin, _ = await start_app(tmp_path, (
        "listen: tcp@127.0.0.1:0\nadmin: tcp@127.0.0.1:0\nmetrics: {buckets: [1ms, 10ms, 100ms]}\n"
        f"clusters: {{up: {{servers: [{echo_upstream.address}], connections_per_server: 2}}}}\n"
        "default: {cluster: up}\n"))
    try:
        echo_upstream.hold = True
        peer = await raw(paddr)
        for i in range(7):
            await peer.send(Message(service_path="S", service_method="M", seq=i + 1))
        async with asyncio.timeout(WAIT):
            while len(echo_upstream.held) < 7:
                await asyncio.sleep(0.01)
        s = await scrape(admin)
        assert value(s, "rpcx_proxy_active_calls", route="default", service="S", method="M") == 7
        assert value(s, "rpcx_proxy_upstream_connections", cluster="up", server=echo_upstream.address) == 2
        assert value(s, "rpcx_proxy_clients") == 1
        await peer.aclose()  # the client leaves: its 7 calls end unfinished
        async with asyncio.timeout(WAIT):
            while app.proxy is not None and app.proxy.clients:
                await asyncio.sleep(0.01)
        s = await scrape(admin)
        assert value(s, "rpcx_proxy_active_calls", route="default", service="S", method="M") == 0
        assert value(s, "rpcx_proxy_unfinished_total", route="default", service="S", method="M") == 7
        assert value(s, "rpcx_proxy_calls_total", route="default", service="S", method="M") == 7
        assert value(s, "rpcx_proxy_call_duration_seconds_bucket", route="default", service="S", method="M",
                     le="+Inf") == 7
        assert ("rpcx_proxy_call_duration_seconds_bucket",
                (("le", "0.01"), ("method", "M"), ("route", "default"), ("service", "S"))) in s
    finally:
        await app.aclose()


async def test_retries_are_counted(tmp_path: Path, echo_upstream) -> None:
    dead = dead_address()
    app, paddr, admin, _ = await start_app(tmp_path, (
        "listen: tcp@127.0.0.1:0\nadmin: tcp@127.0.0.1:0\nmetrics: true\n"
        f"clusters: {{c: {{servers: [{dead}, {echo_upstream.address}], retries: 1}}}}\n"
        "routes: [{name: r, match: {service: S}, cluster: c}]\n"))
    try:
        async with await Client.connect(paddr, RAW) as c:
            for i in range(10):  # one at a time: round robin sends each first to the dead server
                assert await c.call("S", "M", b"%d" % i) == b"%d" % i
            with_error = await asyncio.gather(c.call("T", "M", b""), return_exceptions=True)
        s = await scrape(admin)
    finally:
        await app.aclose()
    assert value(s, "rpcx_proxy_retries_total", route="r", service="S", method="M") == 10
    assert value(s, "rpcx_proxy_calls_total", route="r", service="S", method="M") == 10
    assert value(s, "rpcx_proxy_errors_total", route="r", service="S", method="M") == 0
    # a call no route took is counted under route "(none)"
    assert isinstance(with_error[0], ServiceError)
    assert value(s, "rpcx_proxy_errors_total", route="(none)", service="T", method="M") == 1


async def test_a_reload_keeps_the_counts(tmp_path: Path, echo_upstream) -> None:
    text = ("listen: tcp@127.0.0.1:0\nadmin: tcp@127.0.0.1:0\nmetrics: true\n"
            f"clusters: {{up: {{servers: [{echo_upstream.address}]}}}}\n"
            "routes: [{name: r, match: {service: S}, cluster: up}]\n")
    app, paddr, admin, cfg = await start_app(tmp_path, text)
    try:
        async with await Client.connect(paddr, RAW) as c:
            await asyncio.gather(*(c.call("S", "M", b"a") for _ in range(25)))
            cfg.write_text(text.replace("routes: [", "access_log: {path: '-', filter: 'False'}\n"
                                                     "routes: [{name: r2, match: {method: N}, cluster: up}, "))
            assert await app.reload() is None
            await asyncio.gather(*(c.call("S", "M", b"a") for _ in range(15)))
            await asyncio.gather(*(c.call("S", "N", b"a") for _ in range(5)))
        s = await scrape(admin)
    finally:
        await app.aclose()
    assert value(s, "rpcx_proxy_calls_total", route="r", service="S", method="M") == 40
    assert value(s, "rpcx_proxy_calls_total", route="r2", service="S", method="N") == 5


async def test_metrics_endpoint_of_its_own_and_metrics_off(tmp_path: Path, echo_upstream) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    app, paddr, admin, _ = await start_app(tmp_path, (
        f"listen: tcp@127.0.0.1:0\nadmin: tcp@127.0.0.1:0\nmetrics: {{listen: tcp@127.0.0.1:{port}}}\n"
        f"clusters: {{up: {{servers: [{echo_upstream.address}]}}}}\ndefault: {{cluster: up}}\n"))
    try:
        async with await Client.connect(paddr, RAW) as c:
            assert await c.call("S", "M", b"a") == b"a"
        s = await scrape(f"tcp@127.0.0.1:{port}")
        assert value(s, "rpcx_proxy_calls_total", route="default", service="S", method="M") == 1
        assert (await get(f"tcp@127.0.0.1:{port}", "/config"))[0] == 404  # only /metrics there
    finally:
        await app.aclose()
    app, paddr, admin, _ = await start_app(tmp_path, (
        "listen: tcp@127.0.0.1:0\nadmin: tcp@127.0.0.1:0\n"
        f"clusters: {{up: {{servers: [{echo_upstream.address}]}}}}\ndefault: {{cluster: up}}\n"))
    try:
        status, _, body = await get(admin, "/metrics")
        assert status == 404 and b"metrics: true" in body
    finally:
        await app.aclose()
