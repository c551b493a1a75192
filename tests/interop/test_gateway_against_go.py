"""HTTP invoke and JSON-RPC 2.0: the same requests to Go rpcx's gateway (tests/interop/goserver,
cmux on its rpcx port) and to the Python example server (``--gateway``) get the same answers.

Compared: the status line and every response header in order (``Date`` aside, the clock), and the
body, byte for byte, except where the answer quotes an error text that comes from each language's
JSON parser (those cases compare status, headers and the JSON-RPC error code only).
"""

from __future__ import annotations

import json
import socket
import sys

import msgpack
import pytest
from .conftest import EXAMPLES, Peer, free_port, start

MUL = {"X-RPCX-MessageID": "12345", "X-RPCX-SerializeType": "1", "X-RPCX-ServicePath": "Arith",
       "X-RPCX-ServiceMethod": "Mul"}
JSONRPC = {"X-JSONRPC-2.0": "true", "Content-Type": "application/json"}


def _request(method: str, path: str, headers: dict[str, str], body: bytes) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _read_answers(sock: socket.socket, heads: list[bool]) -> list[tuple[str, list[tuple[str, str]], bytes]]:
    """Read one HTTP answer (Content-Length framed) per request (``heads``: was it a HEAD)."""
    count = len(heads)
    buf = b""
    out = []
    while len(out) < count:
        while b"\r\n\r\n" not in buf:
            chunk = sock.recv(65536)
            assert chunk, f"connection closed after {len(out)} answers: {buf!r}"
            buf += chunk
        head, buf = buf.split(b"\r\n\r\n", 1)
        status, *lines = head.decode("latin-1").split("\r\n")
        headers = [(n, v.strip()) for n, _, v in (line.partition(":") for line in lines)]
        length = 0 if heads[len(out)] else int(dict(headers).get("Content-Length", "0"))
        while len(buf) < length:
            chunk = sock.recv(65536)
            assert chunk, "connection closed inside a body"
            buf += chunk
        body, buf = buf[:length], buf[length:]
        out.append((status, [(n, v) for n, v in headers if n != "Date"], body))
    return out


def _ask(peer: Peer, *requests: bytes) -> list[tuple[str, list[tuple[str, str]], bytes]]:
    """Send the requests pipelined in one write on one connection; return the answers."""
    host, port = peer.address.partition("@")[2].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(b"".join(requests))
        return _read_answers(sock, [r.startswith(b"HEAD ") for r in requests])


INVOKE_CASES = {
    "mul": ("POST", "/", {**MUL, "X-RPCX-Meta": "a=1&b=x%20y"}, b'{"A":10,"B":20}'),
    "mul by GET, service path from the URL": ("GET", "/Arith", {k: v for k, v in MUL.items() if "Path" not in k},
                                             b'{"A":2,"B":3}'),
    "mul by PUT": ("PUT", "/", MUL, b'{"A":-4,"B":5}'),
    "service error": ("POST", "/", {**MUL, "X-RPCX-ServiceMethod": "Fail"}, b'{"A":1,"B":2}'),
    "unknown service": ("POST", "/", {**MUL, "X-RPCX-ServicePath": "Nope"}, b"{}"),
    "unknown method": ("POST", "/", {**MUL, "X-RPCX-ServiceMethod": "Nope"}, b"{}"),
    "no service method": ("POST", "/", {k: v for k, v in MUL.items() if "Method" not in k}, b"{}"),
    "no serialize type": ("POST", "/", {k: v for k, v in MUL.items() if "Serialize" not in k}, b"{}"),
    "no service path at all": ("POST", "/", {k: v for k, v in MUL.items() if "Path" not in k}, b"{}"),
    "bad message id": ("POST", "/", {**MUL, "X-RPCX-MessageID": "abc"}, b"{}"),
    "bad serialize type": ("POST", "/", {**MUL, "X-RPCX-SerializeType": "json"}, b"{}"),
    "unknown codec": ("POST", "/", {**MUL, "X-RPCX-SerializeType": "9"}, b"{}"),
    "bad metadata escape": ("POST", "/", {**MUL, "X-RPCX-Meta": "a=%zz"}, b"{}"),
    "oneway": ("POST", "/", {**MUL, "X-RPCX-Oneway": "true"}, b'{"A":1,"B":2}'),
    "version echoed": ("POST", "/", {**MUL, "X-RPCX-Version": "7"}, b'{"A":1,"B":2}'),
    "DELETE is 405": ("DELETE", "/Arith", MUL, b""),
    "HEAD is 405": ("HEAD", "/Arith", MUL, b""),
    "OPTIONS": ("OPTIONS", "/Arith", {}, b""),
}


@pytest.fixture(scope="module")
def servers(go_bin) -> tuple[Peer, Peer]:
    go = start([str(go_bin / "goserver"), "tcp@127.0.0.1:0"])
    py = start([sys.executable, str(EXAMPLES / "server.py"), f"tcp@127.0.0.1:{free_port()}", "--gateway"])
    yield go, py
    assert go.stop() == 0
    assert py.stop() == 0


@pytest.mark.parametrize("case", list(INVOKE_CASES))
def test_http_invoke_same_answer_as_go(servers, case: str) -> None:
    go, py = servers
    req = _request(*INVOKE_CASES[case])
    [go_answer] = _ask(go, req)
    [py_answer] = _ask(py, req)
    assert py_answer == go_answer


def test_http_invoke_answers(servers) -> None:
    """What the comparison above is comparing: Go's answers are what the docs say."""
    go, _ = servers
    [(status, headers, body)] = _ask(go, _request(*INVOKE_CASES["mul"]))
    assert status == "HTTP/1.1 200 OK" and body == b'{"C":200}'
    [(status, headers, body)] = _ask(go, _request(*INVOKE_CASES["service error"]))
    assert status.startswith("HTTP/1.1 500") and ("X-Rpcx-Errormessage", "arith failed on purpose") in headers


def test_msgpack_same_answer_as_go(servers) -> None:
    """MessagePack: the same status and headers; the bodies decode to the same reply (Go's msgpack
    writes an int64 in 9 bytes, Python's in as few as fit: both read either; so the length and the
    Content-Type net/http sniffs from those bytes differ too)."""
    go, py = servers
    req = _request("POST", "/", {**MUL, "X-RPCX-SerializeType": "3"}, msgpack.packb({"A": 6, "B": 7}))
    [(gs, gh, gb)] = _ask(go, req)
    [(ps, ph, pb)] = _ask(py, req)
    assert gs == ps == "HTTP/1.1 200 OK"
    body_headers = ("Content-Length", "Content-Type")
    assert [h for h in ph if h[0] not in body_headers] == [h for h in gh if h[0] not in body_headers]
    assert msgpack.unpackb(pb) == msgpack.unpackb(gb) == {"C": 42}


def test_pipelined_requests_same_answers_as_go(servers) -> None:
    go, py = servers
    reqs = [_request(*INVOKE_CASES[c]) for c in ("mul", "service error", "mul by PUT", "unknown service")]
    go_answers = _ask(go, *reqs)
    assert _ask(py, *reqs) == go_answers
    assert [a[2] for a in go_answers][0] == b'{"C":200}'


def test_auth_same_answers_as_go(go_bin) -> None:
    go = start([str(go_bin / "goserver"), "tcp@127.0.0.1:0", "--auth", "s3cret"])
    py = start([sys.executable, str(EXAMPLES / "server.py"), f"tcp@127.0.0.1:{free_port()}", "--gateway",
                "--auth", "s3cret"])
    try:
        cases = [
            _request("POST", "/", {**MUL, "Authorization": "wrong"}, b'{"A":1,"B":2}'),
            _request("POST", "/", MUL, b'{"A":1,"B":2}'),
            _request("POST", "/", {**MUL, "Authorization": "s3cret"}, b'{"A":3,"B":2}'),
        ]
        for req in cases:
            go_answer = _ask(go, req)
            assert _ask(py, req) == go_answer
        assert _ask(go, cases[0])[0][0] == "HTTP/1.1 401 Unauthorized"
        for body in (
            {"jsonrpc": "2.0", "method": "Arith.Mul", "params": {"A": 3, "B": 4}, "id": 1},
        ):
            for auth in ({"Authorization": "wrong"}, {"Authorization": "s3cret"}):
                req = _request("POST", "/", {**JSONRPC, **auth}, json.dumps(body).encode())
                assert _ask(py, req) == _ask(go, req)
    finally:
        assert go.stop() == 0
        assert py.stop() == 0


JSONRPC_CASES = {
    "call": {"jsonrpc": "2.0", "method": "Arith.Mul", "params": {"A": 3, "B": 4}, "id": 1},
    "string id": {"jsonrpc": "2.0", "method": "Arith.Add", "params": {"A": 3, "B": 4}, "id": "abc"},
    "service error": {"jsonrpc": "2.0", "method": "Arith.Fail", "params": {"A": 3, "B": 4}, "id": "x"},
    "no service in method": {"jsonrpc": "2.0", "method": "Mul", "params": {}, "id": 2},
    "unknown service": {"jsonrpc": "2.0", "method": "Nope.Mul", "params": {}, "id": 3},
    "unknown method": {"jsonrpc": "2.0", "method": "Arith.Nope", "params": {}, "id": 4},
    "notification": {"jsonrpc": "2.0", "method": "Arith.Mul", "params": {"A": 3, "B": 4}},
    "null id is a notification": {"jsonrpc": "2.0", "method": "Arith.Mul", "params": {"A": 3, "B": 4}, "id": None},
    "wrong version": {"jsonrpc": "1.0", "method": "Arith.Mul", "params": {"A": 3, "B": 4}, "id": 1},
    "fractional id": {"jsonrpc": "2.0", "method": "Arith.Mul", "params": {"A": 3, "B": 4}, "id": 1.5},
    "metadata": {"jsonrpc": "2.0", "method": "Arith.Mul", "params": {"A": 1, "B": 1}, "id": 9},
}


@pytest.mark.parametrize("case", list(JSONRPC_CASES))
def test_jsonrpc_same_answer_as_go(servers, case: str) -> None:
    go, py = servers
    headers = {**JSONRPC, "X-RPCX-Meta": "k=v"} if case == "metadata" else JSONRPC
    req = _request("POST", "/", headers, json.dumps(JSONRPC_CASES[case]).encode())
    [go_answer] = _ask(go, req)
    [py_answer] = _ask(py, req)
    assert py_answer == go_answer


@pytest.mark.parametrize("body", [b"{bad", b""])
def test_jsonrpc_parse_error_like_go(servers, body: bytes) -> None:
    """A body that is not JSON: the same status, headers and error code; the message is each
    language's JSON parser's own text."""
    go, py = servers
    req = _request("POST", "/", JSONRPC, body)
    [(gs, gh, gb)] = _ask(go, req)
    [(ps, ph, pb)] = _ask(py, req)
    assert (ps, [n for n, _ in ph]) == (gs, [n for n, _ in gh])
    go_doc, py_doc = json.loads(gb), json.loads(pb)
    assert py_doc["error"]["code"] == go_doc["error"]["code"] == -32700
    assert "id" not in go_doc and "id" not in py_doc


def test_connection_keeps_its_protocol_like_go(servers) -> None:
    """cmux picks the protocol on the first request; later requests on the connection keep it."""
    go, py = servers
    first = _request("POST", "/", JSONRPC, json.dumps(JSONRPC_CASES["call"]).encode())
    second = _request(*INVOKE_CASES["mul"])  # an HTTP-invoke request, on a JSON-RPC connection
    go_answers = _ask(go, first, second)
    assert _ask(py, first, second) == go_answers
    # and the other way round: JSON-RPC's header on an HTTP-invoke connection is not JSON-RPC
    go_answers = _ask(go, second, first)
    assert _ask(py, second, first) == go_answers
    assert go_answers[1][2] == b""  # Go's gateway: no X-RPCX headers, answered as a bad invoke


CORS_CASES = {
    "preflight": ("OPTIONS", "/", {"Origin": "https://app.example", "Access-Control-Request-Method": "POST",
                                   "Access-Control-Request-Headers": "x-rpcx-servicepath,x-rpcx-servicemethod"}, b""),
    "preflight without origin": ("OPTIONS", "/", {"Access-Control-Request-Method": "POST"}, b""),
    "preflight for a method not allowed": ("OPTIONS", "/", {"Origin": "https://a.example",
                                                            "Access-Control-Request-Method": "TRACE"}, b""),
    "actual request": ("POST", "/", {**MUL, "Origin": "https://app.example"}, b'{"A":3,"B":3}'),
    "actual request without origin": ("POST", "/", MUL, b'{"A":3,"B":3}'),
    "error with origin": ("POST", "/", {**MUL, "X-RPCX-ServiceMethod": "Fail", "Origin": "https://a.example"}, b"{}"),
    "405 with origin": ("DELETE", "/", {**MUL, "Origin": "https://a.example"}, b""),
    "plain OPTIONS": ("OPTIONS", "/", {"Origin": "https://a.example"}, b""),
}


@pytest.fixture(scope="module")
def cors_servers(go_bin) -> tuple[Peer, Peer]:
    go = start([str(go_bin / "goserver"), "tcp@127.0.0.1:0", "--cors"])
    py = start([sys.executable, str(EXAMPLES / "server.py"), f"tcp@127.0.0.1:{free_port()}", "--gateway", "--cors"])
    yield go, py
    assert go.stop() == 0
    assert py.stop() == 0


@pytest.mark.parametrize("case", list(CORS_CASES))
def test_cors_same_answer_as_go(cors_servers, case: str) -> None:
    go, py = cors_servers
    req = _request(*CORS_CASES[case])
    [go_answer] = _ask(go, req)
    assert _ask(py, req) == [go_answer]
    if case == "preflight":
        assert go_answer[0] == "HTTP/1.1 204 No Content"
        assert ("Access-Control-Allow-Origin", "*") in go_answer[1]


def test_cors_on_jsonrpc_same_answer_as_go(cors_servers) -> None:
    go, py = cors_servers
    body = json.dumps(JSONRPC_CASES["call"]).encode()
    req = _request("POST", "/", {**JSONRPC, "Origin": "https://app.example"}, body)
    assert _ask(py, req) == _ask(go, req)


async def test_standalone_gateway_in_front_of_the_go_server(servers) -> None:
    """The Python standalone gateway forwards to Go's rpcx server; its answers are the ones Go's own
    same-port gateway gives for the same requests."""
    import asyncio

    from rpcx.client import Peer2PeerDiscovery
    from rpcx.gateway.standalone import StandaloneGateway

    go, _ = servers
    gw = StandaloneGateway(Peer2PeerDiscovery(go.address), timeout=30.0)
    gaddr = await gw.start("tcp@127.0.0.1:0")
    try:
        via = Peer(None, gaddr)  # type: ignore[arg-type]
        for case in ("mul", "service error", "unknown service", "unknown method", "mul by PUT"):
            req = _request(*INVOKE_CASES[case])
            assert await asyncio.to_thread(_ask, via, req) == await asyncio.to_thread(_ask, go, req), case
        req = _request("POST", "/", JSONRPC, json.dumps(JSONRPC_CASES["call"]).encode())
        assert await asyncio.to_thread(_ask, via, req) == await asyncio.to_thread(_ask, go, req)
    finally:
        await gw.aclose()
