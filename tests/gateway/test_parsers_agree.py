"""The two HTTP parsers of the gateway give the same bytes: each request below goes to a server
whose gateway reads with h11 (the definition) and to one reading with httptools; everything each
writes back until it closes must be equal (``Date`` aside)."""

from __future__ import annotations

import asyncio
import re

import pytest
from conftest import WAIT
from test_gateway import MUL, RPC, request

from rpcx.gateway import CorsOptions, enable_gateway
from rpcx.protocol import Limits
from rpcx.transport.tcp import split_host_port

JSONRPC_MUL = b'{"jsonrpc":"2.0","method":"Arith.Mul","params":{"A":3,"B":4},"id":1}'
CASES = {
    "invoke": request(headers=MUL, body=b'{"A":10,"B":20}'),
    "invoke by path": request(path="/Arith", headers={"X-RPCX-SerializeType": "1", "X-RPCX-ServiceMethod": "Mul",
                                                      "X-RPCX-Meta": "a=1&b=x%20y"}, body=b'{"A":1,"B":2}'),
    "missing method": request(headers={"X-RPCX-SerializeType": "1", "X-RPCX-ServicePath": "Arith"}, body=b"{}"),
    "bad message id": request(headers={**MUL, "X-RPCX-MessageID": "abc"}, body=b"{}"),
    "unknown service": request(headers={**MUL, "X-RPCX-ServicePath": "Nope"}, body=b"{}"),
    "service error": request(headers={**MUL, "X-RPCX-ServiceMethod": "Fail"}, body=b"{}"),
    "oneway": request(headers={**MUL, "X-RPCX-Oneway": "true"}, body=b'{"A":1,"B":2}'),
    "options": request("OPTIONS"),
    "delete": request("DELETE", headers=MUL),
    "head": request("HEAD", headers=MUL, body=b'{"A":1,"B":2}'),
    "jsonrpc": request(headers=RPC, body=JSONRPC_MUL),
    "jsonrpc batch": request(headers=RPC, body=b"[" + JSONRPC_MUL + b',{"jsonrpc":"2.0","method":"x"},1]'),
    "jsonrpc notification": request(headers=RPC, body=b'{"jsonrpc":"2.0","method":"Arith.Mul","params":{}}'),
    "jsonrpc parse error": request(headers=RPC, body=b'{"jsonrpc":'),
    "cors preflight": request("OPTIONS", headers={"Origin": "http://a.example", "Access-Control-Request-Method": "POST"}),
    "cors actual": request(headers={**MUL, "Origin": "http://a.example"}, body=b'{"A":2,"B":2}'),
    "http/1.0": b"POST / HTTP/1.0\r\nContent-Length: 13\r\n" + b"".join(
        f"{k}: {v}\r\n".encode() for k, v in MUL.items()) + b"\r\n" + b'{"A":1,"B":1}',
    "connection close": request(headers={**MUL, "Connection": "close"}, body=b'{"A":1,"B":3}'),
    "chunked": (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                + b"".join(f"{k}: {v}\r\n".encode() for k, v in MUL.items())
                + b"\r\n5\r\n{\"A\":\r\n8\r\n5,\"B\":5}\r\n0\r\n\r\n"),
    "pipelined": request(headers=MUL, body=b'{"A":1,"B":2}') + request(headers=RPC, body=JSONRPC_MUL) * 2,
    "pipelined then junk": request(headers=MUL, body=b'{"A":1,"B":2}') + b"GET / HTTP/1.1\r\n\x00\r\n\r\n",
    "body too large": request(headers=MUL, body=b"x" * 3000),
    "head too large": b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n",
    "no version": b"GET /\r\n\r\n",
    "http/9.9": b"POST / HTTP/9.9\r\nHost: x\r\n\r\n",
    "bad length": b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    "console": request("GET", "/_rpcx/console/api/call"),
}


async def exchange(address: str, data: bytes) -> bytes:
    """Send ``data``, end our side, and read everything until the server closes."""
    host, port = split_host_port(address.partition("@")[2])
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(data)
    writer.write_eof()
    out = await asyncio.wait_for(reader.read(), WAIT)
    writer.close()
    return re.sub(rb"\r\nDate: [^\r]*", b"\r\nDate: -", out)


@pytest.fixture
async def pair(server_factory):
    addrs = {}
    for parser in ("h11", "httptools"):
        srv, addr = await server_factory(limits=Limits(max_message_length=2000))
        enable_gateway(srv, parser=parser, cors=CorsOptions.allow_all(), console=True)
        addrs[parser] = addr
    return addrs


@pytest.mark.parametrize("case", list(CASES))
async def test_h11_and_httptools_answer_the_same_bytes(pair, case: str) -> None:
    data = CASES[case]
    h11_out = await exchange(pair["h11"], data)
    fast_out = await exchange(pair["httptools"], data)
    assert fast_out == h11_out
    assert h11_out.startswith(b"HTTP/1.1 ")
