"""``rpcx serve --gateway`` and ``rpcx gateway``: real processes, answering HTTP invoke and JSON-RPC
(the standalone gateway in front of Go's rpcx server)."""

from __future__ import annotations

import json
import subprocess
import sys

from .conftest import EXAMPLES, free_port, start
from .test_gateway_against_go import INVOKE_CASES, JSONRPC, _ask, _request


def test_serve_with_gateway_answers_http_and_rpcx() -> None:
    peer = start([sys.executable, "-m", "rpcx", "serve", f"tcp@127.0.0.1:{free_port()}", "arith:Arith",
                  "--name", "Arith", "--gateway"], cwd=EXAMPLES)
    try:
        [(status, _, body)] = _ask(peer, _request(*INVOKE_CASES["mul"]))
        assert (status, body) == ("HTTP/1.1 200 OK", b'{"C":200}')
        out = subprocess.run([sys.executable, "-m", "rpcx", "call", peer.address, "Arith.Mul", '{"A":2,"B":21}'],
                             capture_output=True, text=True, timeout=60)
        assert json.loads(out.stdout) == {"C": 42}
    finally:
        assert peer.stop() == 0


def test_gateway_command_in_front_of_go(start_go_server) -> None:
    go = start_go_server()
    gw = start([sys.executable, "-m", "rpcx", "gateway", f"tcp@127.0.0.1:{free_port()}",
                "--registry", f"peer2peer://{go.address}"])
    try:
        for case in ("mul", "service error", "unknown service"):
            req = _request(*INVOKE_CASES[case])
            assert _ask(gw, req) == _ask(go, req), case
        body = json.dumps({"jsonrpc": "2.0", "method": "Arith.Add", "params": {"A": 2, "B": 3}, "id": 1}).encode()
        [(_, _, answer)] = _ask(gw, _request("POST", "/", JSONRPC, body))
        assert answer == b'{"jsonrpc":"2.0","result":{"C":5},"id":1}'
    finally:
        assert gw.stop() == 0


def test_gateway_command_usage_errors_exit_2() -> None:
    for argv in (["--registry", "ftp://x"], ["--registry", "peer2peer://"], []):
        out = subprocess.run([sys.executable, "-m", "rpcx", "gateway", "tcp@127.0.0.1:0", *argv],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 2, (argv, out.stderr)
        assert out.stderr.startswith("rpcx gateway: ") or "usage:" in out.stderr
