"""The gateway on the rpcx port: protocol choice, HTTP invoke and JSON-RPC through the one dispatch
path, batches, limits and bad input (Go comparisons are in tests/interop/test_gateway_against_go.py)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from arith_service import Args, Reply
from conftest import WAIT

from rpcx import Client
from rpcx.gateway import enable_gateway
from rpcx.protocol import Limits
from rpcx.transport.tcp import split_host_port

MUL = {"X-RPCX-SerializeType": "1", "X-RPCX-ServicePath": "Arith", "X-RPCX-ServiceMethod": "Mul"}
RPC = {"X-JSONRPC-2.0": "true"}


def request(method: str = "POST", path: str = "/", headers: dict[str, str] | None = None, body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: x", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class Http:
    """A raw HTTP/1.1 peer: write any bytes, read Content-Length framed answers."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, address: str, **kw: Any) -> "Http":
        host, port = split_host_port(address.partition("@")[2])
        return cls(*await asyncio.open_connection(host, port, **kw))

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def answer(self) -> tuple[int, dict[str, str], bytes]:
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), WAIT)
        status, *lines = head.decode("latin-1").rstrip("\r\n").split("\r\n")
        headers = {n.lower(): v.strip() for n, _, v in (line.partition(":") for line in lines)}
        body = await asyncio.wait_for(self.reader.readexactly(int(headers.get("content-length", "0"))), WAIT)
        return int(status.split()[1]), headers, body

    async def closed_by_server(self) -> bytes:
        """Everything left until the server closes (fails if it does not within WAIT)."""
        return await asyncio.wait_for(self.reader.read(), WAIT)

    async def close(self) -> None:
        self.writer.close()


@pytest.fixture(params=["h11", "httptools"])
async def gw(server_factory, request):
    """Every gateway test runs on both HTTP parsers: h11 (the definition) and httptools."""

    async def make(**options: Any):
        switches = {k: options.pop(k) for k in ("disable_http_gateway", "disable_jsonrpc") if k in options}
        srv, addr = await server_factory(**options)
        enable_gateway(srv, parser=request.param, **switches)
        return srv, addr

    return make


async def test_rpcx_http_and_jsonrpc_on_one_port(gw) -> None:
    _, addr = await gw()
    async with await Client.connect(addr) as c:
        assert await c.call("Arith", "Mul", Args(6, 7), Reply) == Reply(42)
    h = await Http.open(addr)
    await h.send(request(headers=MUL, body=b'{"A":6,"B":7}'))
    status, headers, body = await h.answer()
    assert (status, body, headers["x-rpcx-meta"]) == (200, b'{"C":42}', "")
    j = await Http.open(addr)
    await j.send(request(headers=RPC, body=b'{"jsonrpc":"2.0","method":"Arith.Add","params":{"A":6,"B":7},"id":7}'))
    assert (await j.answer())[2] == b'{"jsonrpc":"2.0","result":{"C":13},"id":7}'
    await h.close()
    await j.close()


async def test_keep_alive_and_pipelining_answer_in_order(gw) -> None:
    _, addr = await gw()
    h = await Http.open(addr)
    await h.send(b"".join(request(headers=MUL, body=json.dumps({"A": i, "B": 2}).encode()) for i in range(20)))
    for i in range(20):
        status, _, body = await h.answer()
        assert (status, json.loads(body)) == (200, {"C": 2 * i})
    await h.send(request(headers=MUL, body=b'{"A":5,"B":5}'))  # the connection is still usable
    assert (await h.answer())[2] == b'{"C":25}'
    await h.close()


async def test_the_first_request_chooses_the_protocol_for_the_connection(gw) -> None:
    _, addr = await gw()
    j = await Http.open(addr)
    await j.send(request(headers=RPC, body=b'{"jsonrpc":"2.0","method":"Arith.Mul","params":{"A":2,"B":3},"id":1}'))
    assert json.loads((await j.answer())[2])["result"] == {"C": 6}
    await j.send(request(headers=MUL, body=b'{"A":2,"B":3}'))  # no JSON-RPC header: still JSON-RPC,
    assert (await j.answer())[::2] == (200, b"")  # so a request object without "id": a notification
    await j.send(request(headers=MUL, body=b'{"A":'))
    assert json.loads((await j.answer())[2])["error"]["code"] == -32700
    await j.close()


@pytest.mark.parametrize("value", ["TRUE", "True", "1", "yes"])
async def test_only_the_exact_value_true_selects_jsonrpc(gw, value: str) -> None:
    _, addr = await gw()
    h = await Http.open(addr)
    await h.send(request(headers={"x-jsonrpc-2.0": value}, body=b'{"jsonrpc":"2.0","method":"Arith.Mul","id":1}'))
    status, headers, body = await h.answer()
    assert (status, headers["x-rpcx-errormessage"], body) == (200, "empty servicepath", b"")
    await h.close()


async def test_header_name_is_case_insensitive(gw) -> None:
    _, addr = await gw()
    h = await Http.open(addr)
    await h.send(request(headers={"x-jsonrpc-2.0": "true"},
                         body=b'{"jsonrpc":"2.0","method":"Arith.Mul","params":{"A":2,"B":3},"id":1}'))
    assert json.loads((await h.answer())[2])["result"] == {"C": 6}
    await h.close()


async def test_jsonrpc_switched_off_serves_http_invoke(gw) -> None:
    _, addr = await gw(disable_jsonrpc=True)
    h = await Http.open(addr)
    await h.send(request(headers={**RPC, **MUL}, body=b'{"A":2,"B":3}'))
    assert (await h.answer())[2] == b'{"C":6}'
    await h.close()


async def test_http_invoke_switched_off_closes_plain_http(gw) -> None:
    _, addr = await gw(disable_http_gateway=True)
    h = await Http.open(addr)
    await h.send(request(headers=MUL, body=b'{"A":2,"B":3}'))
    assert await h.closed_by_server() == b""
    j = await Http.open(addr)
    await j.send(request(headers=RPC, body=b'{"jsonrpc":"2.0","method":"Arith.Mul","params":{"A":2,"B":3},"id":1}'))
    assert json.loads((await j.answer())[2])["result"] == {"C": 6}
    await j.close()


async def test_both_switched_off_registers_nothing(server_factory) -> None:
    srv, _ = await server_factory()
    enable_gateway(srv, disable_http_gateway=True, disable_jsonrpc=True)
    assert srv._protocols == []


async def test_metadata_in_and_out_and_auth_header(gw) -> None:
    seen: list[str] = []

    def auth(ctx, token: str) -> None:
        seen.append(token)
        if token != "Bearer ok":
            raise PermissionError("bad token")

    srv, addr = await gw(auth=auth)
    h = await Http.open(addr)
    await h.send(request(headers={**MUL, "Authorization": "Bearer ok"}, body=b'{"A":1,"B":2}'))
    assert (await h.answer())[:1] == (200,)
    await h.send(request(headers={**MUL, "Authorization": "nope"}, body=b'{"A":1,"B":2}'))
    status, headers, _ = await h.answer()
    assert (status, headers["x-rpcx-errormessage"]) == (401, "bad token")
    await h.send(request(headers={**MUL, "Authorization": "Bearer ok"}, body=b'{"A":1,"B":3}'))
    assert (await h.answer())[2] == b'{"C":3}'  # a refusal does not close an HTTP connection
    assert seen == ["Bearer ok", "nope", "Bearer ok"]
    await h.close()


async def test_reply_metadata_becomes_x_rpcx_meta(gw) -> None:
    srv, addr = await gw()

    class Meta:
        async def echo(self, ctx, data: bytes) -> bytes:
            ctx.response_metadata.update({"k": ctx.metadata.get("k", ""), "z": "a b&c"})
            return data

    srv.register(Meta())
    h = await Http.open(addr)
    await h.send(request(headers={"X-RPCX-SerializeType": "0", "X-RPCX-ServiceMethod": "Echo",
                                  "X-RPCX-Meta": "k=v%3D1"}, path="/Meta", body=b"\x00raw"))
    status, headers, body = await h.answer()
    assert (status, body, headers["x-rpcx-meta"]) == (200, b"\x00raw", "k=v%3D1&z=a+b%26c")
    assert headers["content-type"] == "application/octet-stream"
    await h.close()


async def test_post_read_request_refusal_is_a_500_text(gw) -> None:
    srv, addr = await gw()

    class Refuse:
        def post_read_request(self, msg) -> None:
            raise RuntimeError("not today")

    srv.add_plugin(Refuse())
    h = await Http.open(addr)
    await h.send(request(headers=MUL, body=b'{"A":1,"B":2}'))
    status, headers, body = await h.answer()
    assert (status, body, headers["content-type"]) == (500, b"not today\n", "text/plain; charset=utf-8")
    await h.close()


async def test_jsonrpc_batch_as_the_spec_says(gw) -> None:
    _, addr = await gw()
    h = await Http.open(addr)
    batch = [
        {"jsonrpc": "2.0", "method": "Arith.Mul", "params": {"A": 2, "B": 3}, "id": 1},
        {"jsonrpc": "2.0", "method": "Arith.Mul", "params": {"A": 2, "B": 4}},  # notification: no answer
        {"jsonrpc": "2.0", "method": "Arith.Fail", "params": {}, "id": "f"},
        5,
        {"jsonrpc": "2.0", "method": "NoDot", "id": 3},
    ]
    await h.send(request(headers=RPC, body=json.dumps(batch).encode()))
    status, headers, body = await h.answer()
    assert status == 200 and headers["context-type"] == "application/json"
    got = json.loads(body)
    assert got[0] == {"jsonrpc": "2.0", "result": {"C": 6}, "id": 1}
    assert got[1]["id"] == "f" and got[1]["error"]["code"] == -32603
    assert got[2] == {"jsonrpc": "2.0", "error": {"code": -32600, "message": "invalid request: not a JSON object",
                                                  "data": None}, "id": None}
    assert got[3]["error"]["code"] == -32601 and got[3]["id"] == 3
    assert len(got) == 4
    await h.send(request(headers=RPC, body=b"[]"))
    assert json.loads((await h.answer())[2])["error"]["code"] == -32600
    await h.send(request(headers=RPC, body=b'[{"jsonrpc":"2.0","method":"Arith.Mul","params":{"A":1,"B":1}}]'))
    status, headers, body = await h.answer()  # only notifications: nothing to answer
    assert (status, body, "context-type" in headers) == (200, b"", False)
    await h.close()


async def test_jsonrpc_notification_runs_the_call(gw) -> None:
    srv, addr = await gw()
    calls: list[Any] = []

    class Note:
        def hit(self, args: dict) -> dict:
            calls.append(args)
            return {}

    srv.register(Note())
    h = await Http.open(addr)
    await h.send(request(headers=RPC, body=b'{"jsonrpc":"2.0","method":"Note.Hit","params":{"n":1}}'))
    status, headers, body = await h.answer()
    assert (status, body, "content-type" in headers) == (200, b"", False)
    assert calls == [{"n": 1}]
    await h.close()


# -- bounds and bad input -------------------------------------------------------------------------
async def test_oversized_body_is_413_and_closed(gw) -> None:
    _, addr = await gw(limits=Limits(max_message_length=1000))
    h = await Http.open(addr)
    await h.send(request(headers=MUL, body=b"x" * 5000))
    status, _, _ = await h.answer()
    assert status == 413
    assert await h.closed_by_server() == b""
    ok = await Http.open(addr)  # others carry on
    await ok.send(request(headers=MUL, body=b'{"A":1,"B":2}'))
    assert (await ok.answer())[2] == b'{"C":2}'
    await ok.close()


async def test_chunked_body_over_the_limit_is_413(gw) -> None:
    _, addr = await gw(limits=Limits(max_message_length=1000))
    h = await Http.open(addr)
    head = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n" + "".join(f"{k}: {v}\r\n" for k, v in MUL.items())
    await h.send(head.encode() + b"\r\n" + b"".join(b"200\r\n" + b"x" * 512 + b"\r\n" for _ in range(4)))
    assert (await h.answer())[0] == 413
    assert await h.closed_by_server() == b""


async def test_oversized_headers_are_431(gw) -> None:
    _, addr = await gw()
    h = await Http.open(addr)
    await h.send(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n")
    assert (await h.answer())[0] == 431
    assert await h.closed_by_server() == b""


@pytest.mark.parametrize("junk, status", [(b"GET / HTTP/1.1\r\n\x00\x01\x02\r\n\r\n", 400),
                                          (b"POST / HTTP/9.9\r\nHost: x\r\n\r\n", 505),
                                          (b"GET /\r\n\r\n", 400),
                                          (b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400)])
async def test_malformed_http_is_4xx_and_closed(gw, junk: bytes, status: int) -> None:
    _, addr = await gw()
    h = await Http.open(addr)
    await h.send(junk)
    assert (await h.answer())[0] == status
    assert await h.closed_by_server() == b""


async def test_malformed_json_is_a_parse_error(gw) -> None:
    _, addr = await gw()
    h = await Http.open(addr)
    for body in (b'{"jsonrpc":', b"\xff\xfe", b"17"):
        await h.send(request(headers=RPC, body=body))
        doc = json.loads((await h.answer())[2])
        assert doc["error"]["code"] == -32700 and "id" not in doc
    await h.close()


async def test_slow_client_is_closed(gw) -> None:
    _, addr = await gw(frame_timeout=0.3)
    h = await Http.open(addr)
    await h.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n")  # headers never finish
    assert await h.closed_by_server() == b""
    b = await Http.open(addr)
    await b.send(request(headers=MUL, body=b'{"A":1,"B":1}'))  # a whole request, ...
    await b.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n{")  # ... then a body that never ends
    status, _, _ = await b.answer()
    assert status == 200
    assert await b.closed_by_server() == b""


async def test_idle_keep_alive_connection_stays_open(gw) -> None:
    _, addr = await gw(frame_timeout=0.2)
    h = await Http.open(addr)
    await h.send(request(headers=MUL, body=b'{"A":1,"B":2}'))
    await h.answer()
    await asyncio.sleep(0.5)  # idle between requests is not a slow request (Go keeps it too)
    await h.send(request(headers=MUL, body=b'{"A":2,"B":2}'))
    assert (await h.answer())[2] == b'{"C":4}'
    await h.close()


async def test_pipelining_flood_is_bounded_and_answered(gw) -> None:
    _, addr = await gw()
    h = await Http.open(addr)
    n = 2000
    one = request(headers=MUL, body=b'{"A":1,"B":1}')

    async def flood() -> None:
        await h.send(one * n)

    sender = asyncio.create_task(flood())
    for _ in range(n):
        assert (await h.answer())[2] == b'{"C":1}'
    await asyncio.wait_for(sender, WAIT)
    await h.close()


async def test_tls_on_the_same_port(gw, tmp_path) -> None:
    import ssl
    import subprocess

    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1", "-days", "1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    sctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    sctx.load_cert_chain(cert, key)
    _, addr = await gw(tls=sctx)
    cctx = ssl.create_default_context(cafile=str(cert))
    h = await Http.open(addr, ssl=cctx)
    await h.send(request(headers=MUL, body=b'{"A":3,"B":3}'))
    assert (await h.answer())[2] == b'{"C":9}'
    await h.close()
    from rpcx import Option

    async with await Client.connect(addr, Option(tls=cctx)) as c:
        assert await c.call("Arith", "Mul", Args(2, 2), Reply) == Reply(4)


async def test_a_peer_that_does_not_read_its_answers_bounds_the_server(gw) -> None:
    """Pipelined requests whose answers are never read: the server stops answering (and reading)
    once its write buffer is full, instead of buffering answers without bound; reading them all
    later gets every answer."""
    srv, addr = await gw()

    class Big:
        def blob(self, args: dict) -> dict:
            return {"x": "y" * 100_000}

    srv.register(Big())
    h = await Http.open(addr)
    n = 200  # 20 MB of answers if all were written at once
    req = request(headers={"X-RPCX-SerializeType": "1", "X-RPCX-ServicePath": "Big", "X-RPCX-ServiceMethod": "Blob"},
                  body=b"{}")
    h.writer.write(req * n)
    await asyncio.sleep(0.5)  # let the server answer as much as it will
    [conn] = list(srv.connections)
    buffered = conn.transport.get_write_buffer_size()
    assert buffered < 4_000_000, buffered
    for _ in range(n):
        status, _, body = await h.answer()
        assert status == 200 and len(body) > 100_000
    await h.close()


async def test_shutdown_closes_keep_alive_http_connections(gw) -> None:
    srv, addr = await gw()
    h = await Http.open(addr)
    await h.send(request(headers=MUL, body=b'{"A":1,"B":2}'))
    await h.answer()
    assert await asyncio.wait_for(srv.shutdown(timeout=WAIT), WAIT + 1)
    assert await h.closed_by_server() == b""


async def test_error_texts_with_newlines_and_unicode_still_get_an_answer(gw) -> None:
    srv, addr = await gw()

    class Odd:
        def fail(self, args: dict) -> dict:
            raise ValueError("first line\r\nsecond line: ünïcode\x00")

    srv.register(Odd())
    h = await Http.open(addr)
    await h.send(request(path="/Odd", headers={"X-RPCX-SerializeType": "1", "X-RPCX-ServiceMethod": "Fail"}, body=b"{}"))
    status, headers, _ = await h.answer()
    assert status == 500
    assert headers["x-rpcx-errormessage"].encode("latin-1").decode() == "first line  second line: ünïcode"
    await h.send(request(headers=MUL, body=b'{"A":2,"B":2}'))  # the connection carries on
    assert (await h.answer())[2] == b'{"C":4}'
    await h.close()
