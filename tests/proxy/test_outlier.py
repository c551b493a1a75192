"""Outlier ejection per cluster: real server processes (``rpcx serve``), one of them failing, are
ejected after consecutive errors, for a time that grows with each ejection, never more than the
maximum share of the cluster, and come back after it; the error-rate rule and panic routing on
the detector itself."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from rpcx import Client, ServiceError
from rpcx.client.discovery import KVPair, MultipleServersDiscovery
from rpcx.client.selector import Outcome
from rpcx.proxy import Cluster, ConfigError, ProxyApp, parse_config
from rpcx.proxy.outlier import OutlierConfig, OutlierDetector
from rpcx.transport.tcp import split_host_port

HERE = Path(__file__).resolve().parent
WAIT = 10.0


@pytest.fixture
def serve() -> Iterator[Any]:
    """``serve("Healthy" | "Failing") -> address``: an ``rpcx serve`` process, stopped by PID."""
    procs: list[subprocess.Popen[str]] = []

    def start(cls: str) -> str:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
        proc = subprocess.Popen([sys.executable, "-m", "rpcx", "serve", "tcp@127.0.0.1:0", f"flaky_service:{cls}",
                                 "--name", "Svc"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        procs.append(proc)
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("serving "), (line, proc.stderr.read() if proc.stderr else "")
        return line.split(" ", 1)[1]

    yield start
    for proc in procs:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()


async def clusters(admin: str) -> Any:
    host, port = split_host_port(admin.partition("@")[2])
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(b"GET /clusters HTTP/1.1\r\n\r\n")
    data = await asyncio.wait_for(reader.read(), WAIT)
    writer.close()
    return json.loads(data.partition(b"\r\n\r\n")[2])


async def start_app(tmp_path: Path, servers: list[str], outlier: str) -> ProxyApp:
    cfg = tmp_path / "proxy.yaml"
    cfg.write_text("listen: tcp@127.0.0.1:0\nadmin: tcp@127.0.0.1:0\nmetrics: true\n"
                   f"clusters: {{svc: {{servers: [{', '.join(servers)}], outlier: {outlier}}}}}\n"
                   "default: {cluster: svc}\n")
    app = ProxyApp(str(cfg))
    await app.start()
    return app


async def call_many(address: str, n: int) -> tuple[int, int]:
    """``n`` calls one after another: (answers from Healthy, errors from Failing)."""
    ok = failed = 0
    async with await Client.connect(address) as c:
        for _ in range(n):
            try:
                assert await c.call("Svc", "Who", {}) == "healthy"
                ok += 1
            except ServiceError as exc:
                assert "failing on purpose" in str(exc)
                failed += 1
    return ok, failed


async def test_a_failing_server_is_ejected_and_comes_back_for_longer_each_time(tmp_path: Path, serve) -> None:
    good1, bad, good2 = serve("Healthy"), serve("Failing"), serve("Healthy")
    app = await start_app(tmp_path, [good1, bad, good2],
                          "{consecutive_errors: 3, base_ejection_time: 2s, max_ejection_percent: 50}")
    assert app.admin is not None and app.proxy is not None
    admin = app.admin.address
    [paddr] = [lst.address for lst in app.proxy._listeners]
    try:
        # round robin: every third call goes to the failing server until its third error ejects it
        ok, failed = await call_many(paddr, 60)
        assert (ok, failed) == (57, 3)
        view = (await clusters(admin))["svc"]["outliers"]
        assert view[bad]["ejected"] is True and view[bad]["ejections"] == 1
        assert view[bad]["last_ejection_time"] == 2.0
        assert view[good1]["ejected"] is False and view[good1]["ejections"] == 0
        from prometheus_client import generate_latest  # the same state on /metrics
        m = app.proxy.metrics.registry
        assert m.get_sample_value("rpcx_proxy_outlier_ejected", {"cluster": "svc", "server": bad}) == 1
        assert m.get_sample_value("rpcx_proxy_outlier_ejected", {"cluster": "svc", "server": good1}) == 0
        assert m.get_sample_value("rpcx_proxy_outlier_ejections_total", {"cluster": "svc", "server": bad}) == 1
        assert b"rpcx_proxy_outlier_ejected" in generate_latest(m)
        # back after its time (polled: no timing assert)
        async with asyncio.timeout(WAIT):
            while (await clusters(admin))["svc"]["outliers"][bad]["ejected_for"] > 0:
                await asyncio.sleep(0.1)
        ok, failed = await call_many(paddr, 30)
        assert failed == 3  # it took calls again, and was ejected again ...
        view = (await clusters(admin))["svc"]["outliers"]
        assert view[bad]["ejected"] is True and view[bad]["ejections"] == 2
        assert view[bad]["last_ejection_time"] == 4.0  # ... for twice the base time
    finally:
        await app.aclose()


async def test_no_more_than_the_maximum_share_is_ejected(tmp_path: Path, serve) -> None:
    good, bad1, bad2 = serve("Healthy"), serve("Failing"), serve("Failing")
    app = await start_app(tmp_path, [good, bad1, bad2],
                          "{consecutive_errors: 2, base_ejection_time: 60s, max_ejection_percent: 34}")
    assert app.admin is not None and app.proxy is not None
    [paddr] = [lst.address for lst in app.proxy._listeners]
    try:
        ok, failed = await call_many(paddr, 60)
        view = (await clusters(app.admin.address))["svc"]["outliers"]
        # one of three may be out (34%): the other failing server keeps taking (and failing) calls
        assert sorted(v["ejected"] for v in view.values()) == [False, False, True]
        assert not view[good]["ejected"]
        assert ok + failed == 60 and ok >= 20 and failed > 20
    finally:
        await app.aclose()


def test_error_rate_over_a_window() -> None:
    d = OutlierDetector(OutlierConfig(consecutive_errors=0, error_rate=0.5, min_calls=4, window=10,
                                      max_ejection_percent=100))
    outcomes = [Outcome.SUCCESS, Outcome.TIMEOUT, Outcome.SUCCESS]
    assert [d.record("a", o, float(t), servers=1) for t, o in enumerate(outcomes)] == [False, False, False]
    assert d.record("a", Outcome.DIAL_ERROR, 3.0, servers=1) is True  # 2 errors in 4 calls
    # a new window starts the counts over: 1 error in 1 call is under min_calls
    d2 = OutlierDetector(OutlierConfig(consecutive_errors=0, error_rate=0.5, min_calls=2, window=1))
    assert d2.record("a", Outcome.SUCCESS, 0.0, servers=1) is False
    assert d2.record("a", Outcome.SERVICE_ERROR, 5.0, servers=1) is False
    # only the configured kinds count
    d3 = OutlierDetector(OutlierConfig(consecutive_errors=1, errors=frozenset({"timeout"})))
    assert d3.record("a", Outcome.SERVICE_ERROR, 0.0, servers=1) is False
    assert d3.record("a", Outcome.TIMEOUT, 0.0, servers=1) is True


def test_when_every_server_is_ejected_calls_still_go_somewhere() -> None:
    c = Cluster("c", MultipleServersDiscovery([KVPair("tcp@127.0.0.1:1")]),
                outlier=OutlierConfig(consecutive_errors=1, max_ejection_percent=100))
    c.report("tcp@127.0.0.1:1", Outcome.CONNECTION_ERROR)
    assert c.outlier is not None and c.outlier.ejected_count(time.monotonic()) == 1
    assert c.pick_server() == "tcp@127.0.0.1:1"  # panic routing
    c2 = Cluster("c", MultipleServersDiscovery([KVPair("tcp@127.0.0.1:1"), KVPair("tcp@127.0.0.1:2")]),
                 outlier=OutlierConfig(consecutive_errors=1, max_ejection_percent=100))
    c2.report("tcp@127.0.0.1:1", Outcome.CONNECTION_ERROR)
    assert {c2.pick_server() for _ in range(6)} == {"tcp@127.0.0.1:2"}


@pytest.mark.parametrize("outlier, message", [
    ({"consecutive_errors": -1}, "clusters.c.outlier.consecutive_errors: expected a whole number >= 0, got -1"),
    ({"consecutive_errors": 0}, "clusters.c.outlier: consecutive_errors is 0 and no error_rate"),
    ({"error_rate": 2}, "clusters.c.outlier.error_rate: 2 is out of range (0 to 1)"),
    ({"base_ejection_time": "soon"}, "clusters.c.outlier.base_ejection_time: expected a duration"),
    ({"base_ejection_time": "10s", "max_ejection_time": "5s"},
     "clusters.c.outlier.max_ejection_time: must be at least base_ejection_time (10s)"),
    ({"max_ejection_percent": 101}, "clusters.c.outlier.max_ejection_percent: 101 is out of range (0 to 100)"),
    ({"errors": ["service_error", "oops"]}, "clusters.c.outlier.errors[1]: unknown error kind 'oops'"),
    ({"consecutive": 3}, "clusters.c.outlier.consecutive: unknown key"),
])
def test_outlier_config_mistakes(outlier: Any, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config({"listen": "tcp@127.0.0.1:0", "clusters": {"c": {"servers": ["tcp@127.0.0.1:1"],
                                                                     "outlier": outlier}},
                      "default": {"cluster": "c"}})
    assert message in str(err.value)


def test_outlier_true_means_the_defaults() -> None:
    cfg = parse_config({"listen": "tcp@127.0.0.1:0", "clusters": {"c": {"servers": ["tcp@127.0.0.1:1"],
                                                                       "outlier": True}},
                        "default": {"cluster": "c"}})
    assert cfg.clusters["c"].outlier == OutlierConfig()
