"""Go rpcx on both sides of the proxy: Go's own client (tests/interop/goclient) runs its whole
interop suite through ``rpcx proxy -c`` (a separate process, as users run it) to a Go rpcx server,
and the Python client calls the Go server through it too. The access log goes to a file."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from rpcx import Client, ServiceError

from .conftest import run_go_client, start
from .test_go_client_to_python_server import CHECKS, _suite_results


def write_config(tmp_path: Path, upstream: str, log_filter: str = 'status != "ok"') -> tuple[Path, Path]:
    log = tmp_path / "access.log"
    cfg = tmp_path / "proxy.yaml"
    cfg.write_text(
        "listen: tcp@127.0.0.1:0\n"
        f"clusters: {{go: {{servers: [{upstream}]}}}}\n"
        "routes:\n"
        # Go's push check sends metadata push=p1: its own upstream connection carries the push back
        "  - {name: push, match: {metadata: {push: {present: true}}}, cluster: go, pin_upstream: true}\n"
        "  - {name: boom, match: {method: Boom}, cluster: go, faults: {abort: {percent: 100, error: boom}}}\n"
        "default: {cluster: go}\n"
        f"access_log: {{path: '{log}', filter: '{log_filter}'}}\n"
    )
    return cfg, log


def start_proxy(cfg: Path):
    return start([sys.executable, "-m", "rpcx", "proxy", "-c", str(cfg), "--seed", "1"])


def test_go_client_suite_through_the_proxy_to_a_go_server(go_bin, start_go_server, tmp_path) -> None:
    server = start_go_server()
    cfg, log = write_config(tmp_path, server.address)
    proxy = start_proxy(cfg)
    try:
        for codec in ("msgpack", "json"):
            out = run_go_client(go_bin, proxy.address, "--suite", "--codec", codec)
            results = _suite_results(out.stdout)
            failed = {k: v for k, v in results.items() if v != "ok"}
            assert not failed, f"Go checks failed through the proxy ({codec}): {failed}\n{out.stderr[-2000:]}"
            assert CHECKS <= set(results), CHECKS - set(results)
    finally:
        assert proxy.stop() == 0
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    # the suite's Fail, unknown service and unknown method checks are error replies from Go, logged
    assert any(r["method"] == "Fail" and r["status"] == "error" and r["error"] == "arith failed on purpose"
               for r in lines)
    assert all(r["status"] != "ok" for r in lines)


async def test_python_client_through_the_proxy_to_a_go_server(go_bin, start_go_server, tmp_path) -> None:
    server = start_go_server()
    cfg, log = write_config(tmp_path, server.address, log_filter="True")
    proxy = await asyncio.to_thread(start_proxy, cfg)
    try:
        async with await Client.connect(proxy.address) as c:
            replies = await asyncio.gather(*(c.call("Arith", "Mul", {"A": i, "B": 2}) for i in range(500)))
            assert [r["C"] for r in replies] == [2 * i for i in range(500)]
            try:
                await c.call("Arith", "Boom", {"A": 1, "B": 1})
                raise AssertionError("the abort fault did not fire")
            except ServiceError as exc:
                assert str(exc) == "boom"
    finally:
        assert await asyncio.to_thread(proxy.stop) == 0
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    assert len(lines) == 501 and sum(r["fault"] == "abort" for r in lines) == 1


def test_go_client_over_tls_through_the_proxy_to_a_go_tls_server(go_bin, start_go_server, tls_cert, tmp_path) -> None:
    cert, key = tls_cert
    server = start_go_server("--cert", cert, "--key", key)
    cfg = tmp_path / "proxy.yaml"
    cfg.write_text(
        "listen: tcp@127.0.0.1:0\n"
        f"tls: {{cert: '{cert}', key: '{key}'}}\n"
        f"clusters: {{go: {{servers: [{server.address}], tls: {{ca: '{cert}'}}}}}}\n"
        "default: {cluster: go}\n"
    )
    proxy = start_proxy(cfg)
    try:
        out = run_go_client(go_bin, proxy.address, "--tls", "--insecure", "--suite", "--only", "mul,fail,gzip,concurrent")
        assert _suite_results(out.stdout) == {"mul": "ok", "fail": "ok", "gzip": "ok", "concurrent": "ok"}, \
            out.stdout + out.stderr[-2000:]
    finally:
        assert proxy.stop() == 0


async def test_go_and_python_clients_at_once_get_only_their_own_replies(go_bin, start_go_server, tmp_path) -> None:
    """Three Go clients (the suite's 1000-call concurrent check each, plus metadata and gzip checks)
    and four Python clients (2000 calls each, every reply checked) share the proxy's two upstream
    connections to one Go server at the same time."""
    server = start_go_server()
    cfg, _ = write_config(tmp_path, server.address)
    proxy = await asyncio.to_thread(start_proxy, cfg)
    try:
        async def python_client(k: int) -> list[str]:
            bad = []
            async with await Client.connect(proxy.address) as c:
                sem = asyncio.Semaphore(100)

                async def one(i: int) -> None:
                    async with sem:
                        r = await c.call("Arith", "Mul", {"A": i, "B": k + 2})
                        if r["C"] != i * (k + 2):
                            bad.append(f"client {k}: Mul({i}, {k + 2}) = {r['C']}")

                await asyncio.gather(*(one(i) for i in range(2000)))
            return bad

        go_runs = [asyncio.to_thread(run_go_client, go_bin, proxy.address, "--suite", "--only",
                                     "concurrent,metadata,gzip") for _ in range(3)]
        results = await asyncio.gather(*go_runs, *(python_client(k) for k in range(4)))
    finally:
        assert await asyncio.to_thread(proxy.stop) == 0
    for out in results[:3]:
        assert _suite_results(out.stdout) == {"concurrent": "ok", "metadata": "ok", "gzip": "ok"}, \
            out.stdout + out.stderr[-2000:]
    assert [bad for bad in results[3:] if bad] == []


def _http(address: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
    import http.client

    host, _, port = address.partition("@")[2].rpartition(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.request("POST", "/", body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def test_http_invoke_and_jsonrpc_through_the_proxy_to_a_go_server(go_bin, start_go_server, tmp_path) -> None:
    """http: true: HTTP invoke and JSON-RPC on the proxy's port reach a Go server, routed like rpcx
    calls (a route chosen by X-RPCX-Meta aborts), and each is an access log line."""
    server = start_go_server()
    log = tmp_path / "access.log"
    cfg = tmp_path / "proxy.yaml"
    cfg.write_text(
        "listen: tcp@127.0.0.1:0\n"
        "http: true\n"
        f"clusters: {{go: {{servers: [{server.address}]}}}}\n"
        "routes:\n"
        "  - {name: boom, match: {metadata: {chaos: {exact: 'on'}}}, cluster: go,"
        " faults: {abort: {percent: 100, error: boom}}}\n"
        "default: {cluster: go}\n"
        f"access_log: {{path: '{log}'}}\n"
    )
    proxy = start_proxy(cfg)
    mul = {"X-RPCX-SerializeType": "1", "X-RPCX-ServicePath": "Arith", "X-RPCX-ServiceMethod": "Mul"}
    try:
        status, headers, body = _http(proxy.address, {**mul, "X-RPCX-MessageID": "9"}, b'{"A":6,"B":7}')
        assert (status, json.loads(body), headers["x-rpcx-messageid"]) == (200, {"C": 42}, "9")
        status, headers, _ = _http(proxy.address, {**mul, "X-RPCX-ServiceMethod": "Fail"}, b'{"A":1,"B":1}')
        assert (status, headers["x-rpcx-errormessage"]) == (500, "arith failed on purpose")
        status, headers, _ = _http(proxy.address, {**mul, "X-RPCX-Meta": "chaos=on"}, b'{"A":6,"B":7}')
        assert (status, headers["x-rpcx-messagestatustype"], headers["x-rpcx-errormessage"]) == (500, "Error", "boom")
        status, _, body = _http(proxy.address, {"X-JSONRPC-2.0": "true"},
                                b'{"jsonrpc":"2.0","method":"Arith.Add","params":{"A":6,"B":7},"id":"a"}')
        assert (status, json.loads(body)) == (200, {"jsonrpc": "2.0", "result": {"C": 13}, "id": "a"})
    finally:
        assert proxy.stop() == 0
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    assert [(r["method"], r["status"], r["route"], r["fault"]) for r in lines] == [
        ("Mul", "ok", "default", None), ("Fail", "error", "default", None), ("Mul", "error", "boom", "abort"),
        ("Add", "ok", "default", None)]
    assert all(r["upstream"] == server.address for r in lines if r["fault"] is None)
