"""Go rpcx's own client (tests/interop/goclient, built against rpcx v1.9.4) calling the Python example server."""

from __future__ import annotations

import pytest

from .conftest import run_go_client

# every check the Go suite runs; each must report "ok" (see tests/interop/README.md)
CHECKS = {
    "mul", "add", "big", "fail", "unknown_service", "unknown_method", "metadata",
    "gzip", "oneway", "heartbeat", "concurrent", "push",
}


def _suite_results(stdout: str) -> dict[str, str]:
    results = {}
    for line in stdout.splitlines():
        if line.startswith("ok "):
            results[line[3:].strip()] = "ok"
        elif line.startswith("FAIL "):
            name, _, why = line[5:].partition(":")
            results[name.strip()] = why.strip() or "failed"
    return results


@pytest.mark.parametrize("codec", ["json", "msgpack", "protobuf"])
def test_go_suite_against_python_server(go_bin, start_py_server, codec):
    server = start_py_server()
    out = run_go_client(go_bin, server.address, "--suite", "--codec", codec)
    results = _suite_results(out.stdout)
    failed = {k: v for k, v in results.items() if v != "ok"}
    assert not failed, f"Go client checks failed against the Python server: {failed}\n{out.stderr[-2000:]}"
    assert CHECKS <= set(results), f"checks missing from the Go suite output: {CHECKS - set(results)}"
    assert out.returncode == 0, out.stderr[-2000:]


def test_go_client_plain_call_each_codec(go_bin, start_py_server):
    server = start_py_server()
    for codec, expected in [("msgpack", "10 * 20 = 200"), ("json", "10 * 20 = 200"),
                            ("protobuf", "10 * 20 = 200"), ("raw", "echo: hello")]:
        out = run_go_client(go_bin, server.address, "--codec", codec)
        assert out.returncode == 0, f"{codec}: {out.stderr}"
        assert out.stdout.strip() == expected, codec


def test_go_client_with_auth(go_bin, start_py_server):
    server = start_py_server("--auth", "s3cret")
    out = run_go_client(go_bin, server.address, "--suite", "--auth", "s3cret", "--only", "mul,auth")
    assert _suite_results(out.stdout) == {"mul": "ok", "auth": "ok"}, out.stdout + out.stderr
    # and a client without the token is refused
    out = run_go_client(go_bin, server.address)
    assert out.returncode != 0
    assert "invalid token" in out.stderr


def test_go_client_over_tls(go_bin, start_py_server, tls_cert):
    cert, key = tls_cert
    server = start_py_server("--cert", cert, "--key", key)
    out = run_go_client(go_bin, server.address, "--tls", "--insecure", "--suite", "--only", "mul,fail,gzip,concurrent")
    assert out.returncode == 0, out.stdout + out.stderr
    assert set(_suite_results(out.stdout).values()) == {"ok"}


def test_go_client_over_unix_socket(go_bin, start_py_server, tmp_path):
    server = start_py_server(address=f"unix@{tmp_path}/arith.sock")
    out = run_go_client(go_bin, server.address, "--suite", "--only", "mul,metadata,push,concurrent")
    assert out.returncode == 0, out.stdout + out.stderr
    assert set(_suite_results(out.stdout).values()) == {"ok"}


def test_go_suite_raw_codec_against_python_server(go_bin, start_py_server):
    """With SerializeNone the Go suite runs its raw-bytes checks (struct checks report skip)."""
    server = start_py_server()
    out = run_go_client(go_bin, server.address, "--suite", "--codec", "raw")
    results = _suite_results(out.stdout)
    assert out.returncode == 0, out.stdout + out.stderr
    assert set(results.values()) == {"ok"}
    assert {"unknown_service", "unknown_method", "metadata", "gzip", "oneway", "heartbeat", "concurrent", "push"} <= set(results)
