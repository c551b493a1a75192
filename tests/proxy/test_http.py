"""HTTP invoke and JSON-RPC on the proxy's port (``http: true``): each request is routed like an rpcx
call (routes on X-RPCX-Meta, faults, timeouts, observers), and with ``http`` off an HTTP client is
closed as before. Go servers behind the proxy: tests/interop/test_proxy_go.py."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import socket
import ssl
import struct
import sys
from typing import Any

from rpcx import Client
from rpcx.client import Option
from rpcx.transport.tcp import split_host_port

from rpcx.proxy import AccessLog, parse_config
from rpcx.proxy.config import ConfigError

sys.path.insert(0, os.path.dirname(os.path.dirname(__file__)))
from arith_service import Args, Reply  # noqa: E402
from conftest import WAIT  # noqa: E402

from .conftest import Recorder  # noqa: E402

import pytest  # noqa: E402

MUL = {"X-RPCX-SerializeType": "1", "X-RPCX-ServicePath": "Arith", "X-RPCX-ServiceMethod": "Mul"}
RPC = {"X-JSONRPC-2.0": "true"}


def request(headers: dict[str, str], body: bytes, path: str = "/") -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: x", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class Http:
    """A raw HTTP/1.1 peer reading Content-Length framed answers."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, address: str, **kw: Any) -> "Http":
        host, port = split_host_port(address.partition("@")[2])
        return cls(*await asyncio.open_connection(host, port, **kw))

    @property
    def local(self) -> str:
        host, port = self.writer.get_extra_info("sockname")[:2]
        return f"{host}:{port}"

    async def call(self, data: bytes) -> tuple[int, dict[str, str], bytes]:
        self.writer.write(data)
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), WAIT)
        status, *lines = head.decode("latin-1").rstrip("\r\n").split("\r\n")
        headers = {n.lower(): v.strip() for n, _, v in (line.partition(":") for line in lines)}
        body = await asyncio.wait_for(self.reader.readexactly(int(headers.get("content-length", "0"))), WAIT)
        return int(status.split()[1]), headers, body

    async def close(self) -> None:
        self.writer.close()


def config(**top: Any) -> dict[str, Any]:
    return {"http": True, **top}


async def test_http_invoke_and_jsonrpc_through_the_proxy_to_a_python_server(proxy_factory, server) -> None:
    out = io.StringIO()
    rec = Recorder()
    proxy, paddr = await proxy_factory(config(clusters={"a": {"servers": [server]}}, default={"cluster": "a"}),
                                       observers=[AccessLog(None, stream=out), rec])
    h = await Http.open(paddr)
    status, headers, body = await h.call(request({**MUL, "X-RPCX-MessageID": "12"}, b'{"A":6,"B":7}'))
    assert (status, body, headers["x-rpcx-messageid"]) == (200, b'{"C":42}', "12")
    # keep-alive: the next request on the connection goes the same way
    status, headers, body = await h.call(request({**MUL, "X-RPCX-ServiceMethod": "Fail"}, b'{"A":1,"B":1}'))
    assert (status, headers["x-rpcx-messagestatustype"], headers["x-rpcx-errormessage"]) == \
        (500, "Error", "arith failed on purpose")
    j = await Http.open(paddr)
    status, _, body = await j.call(request(RPC, b'{"jsonrpc":"2.0","method":"Arith.Add","params":{"A":6,"B":7},"id":7}'))
    assert (status, body) == (200, b'{"jsonrpc":"2.0","result":{"C":13},"id":7}')
    assert proxy.clients == 2  # the HTTP connections count as clients
    # rpcx clients on the same port carry on beside them
    async with await Client.connect(paddr) as c:
        assert await c.call("Arith", "Mul", Args(2, 3), Reply) == Reply(6)
    await rec.wait_for(4)
    # the access log has a line per HTTP call, with the HTTP client's address
    lines = [json.loads(x) for x in out.getvalue().splitlines()]
    assert [(r["client"], r["method"], r["status"], r["upstream"]) for r in lines[:3]] == [
        (h.local, "Mul", "ok", server), (h.local, "Fail", "error", server), (j.local, "Add", "ok", server)]
    assert lines[1]["error"] == "arith failed on purpose" and lines[0]["route"] == "default"
    await h.close()
    await j.close()


async def test_route_chosen_by_http_metadata_and_payload_untouched(proxy_factory, server, echo_upstream) -> None:
    """X-RPCX-Meta routes the call; the echo upstream sees the request exactly as the gateway made
    it (the route's metadata edit included) and its reply frame comes back as the HTTP answer."""
    _, paddr = await proxy_factory(config(
        clusters={"py": {"servers": [server]}, "echo": {"servers": [echo_upstream.address]}},
        routes=[{"name": "b", "match": {"metadata": {"tenant": {"exact": "b"}}}, "cluster": "echo",
                 "metadata": {"set": {"via": "proxy"}}}],
        default={"cluster": "py"}))
    h = await Http.open(paddr)
    raw = b"\x00\xff raw \x80 bytes"
    status, headers, body = await h.call(request(
        {"X-RPCX-SerializeType": "0", "X-RPCX-ServicePath": "Arith", "X-RPCX-ServiceMethod": "Echo",
         "X-RPCX-Meta": "tenant=b&k=v%3D1"}, raw))
    assert (status, body) == (200, raw)
    assert headers["x-rpcx-meta"] and dict(x.split("=", 1) for x in headers["x-rpcx-meta"].split("&")) == \
        {"tenant": "b", "k": "v%3D1", "via": "proxy"}
    [frame] = echo_upstream.frames
    assert frame.endswith(len(raw).to_bytes(4, "big") + raw)
    # no tenant: the default route, the Python server
    status, _, body = await h.call(request(MUL, b'{"A":3,"B":3}'))
    assert (status, body, len(echo_upstream.frames)) == (200, b'{"C":9}', 1)
    await h.close()


async def test_abort_fault_is_the_gateways_error_answer(proxy_factory, server) -> None:
    rec = Recorder()
    _, paddr = await proxy_factory(config(
        clusters={"a": {"servers": [server]}},
        routes=[{"name": "boom", "match": {"method": {"exact": "Mul"}}, "cluster": "a",
                 "faults": {"abort": {"percent": 100, "error": "boom"}}}],
        default={"cluster": "a"}), observers=[rec])
    h = await Http.open(paddr)
    status, headers, _ = await h.call(request(MUL, b'{"A":6,"B":7}'))
    assert (status, headers["x-rpcx-messagestatustype"], headers["x-rpcx-errormessage"]) == (500, "Error", "boom")
    j = await Http.open(paddr)
    _, _, body = await j.call(request(RPC, b'{"jsonrpc":"2.0","method":"Arith.Mul","params":{"A":1,"B":1},"id":1}'))
    assert json.loads(body)["error"]["message"] == "boom"
    [r1, r2] = await rec.wait_for(2)
    assert (r1.fault, r1.status, r1.route, r2.fault) == ("abort", "error", "boom", "abort")
    await h.close()
    await j.close()


async def test_route_timeout_and_client_leaving(proxy_factory, echo_upstream) -> None:
    rec = Recorder()
    _, paddr = await proxy_factory(config(
        clusters={"a": {"servers": [echo_upstream.address]}},
        routes=[{"name": "mul", "match": {"method": {"exact": "Mul"}}, "cluster": "a", "timeout": "200ms"}],
        default={"cluster": "a"}), observers=[rec])
    echo_upstream.hold = True
    h = await Http.open(paddr)
    status, headers, _ = await h.call(request(MUL, b"{}"))
    assert (status, headers["x-rpcx-errormessage"]) == \
        (500, "rpcx proxy: call timed out after 200 ms (route mul)")
    # __ServerTimeout went upstream, as for an rpcx call on a route with a timeout
    assert b"__ServerTimeout" in echo_upstream.frames[0]
    # a client that leaves before its reply (a call with no timeout): the call is recorded unfinished
    h.writer.write(request({**MUL, "X-RPCX-ServiceMethod": "Add"}, b"{}"))
    async with asyncio.timeout(WAIT):
        while len(echo_upstream.frames) < 2:
            await asyncio.sleep(0.01)
    # a reset, not a FIN: after a FIN the HTTP side still owes (and waits to write) the answer
    sock = h.writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    h.writer.transport.abort()
    records = await rec.wait_for(2)
    assert [r.status for r in records] == ["error", "unfinished"]


async def test_http_disabled_is_closed_as_before(proxy_factory, server, caplog) -> None:
    _, paddr = await proxy_factory({"clusters": {"a": {"servers": [server]}}, "default": {"cluster": "a"}})
    h = await Http.open(paddr)
    with caplog.at_level(logging.WARNING, logger="rpcx.proxy"):
        h.writer.write(request(MUL, b'{"A":6,"B":7}'))
        assert await asyncio.wait_for(h.reader.read(), WAIT) == b""  # closed, nothing said
    assert any("it speaks HTTP, not rpcx" in r.getMessage() for r in caplog.records)
    await h.close()


async def test_junk_still_closed_with_http_on(proxy_factory, server, caplog) -> None:
    _, paddr = await proxy_factory(config(clusters={"a": {"servers": [server]}}, default={"cluster": "a"}))
    for junk in (b"hello there", b"GEX / HTTP/1.1\r\n\r\n"):
        h = await Http.open(paddr)
        h.writer.write(junk)
        assert await asyncio.wait_for(h.reader.read(), WAIT) == b""
        await h.close()
    h = await Http.open(paddr)  # a short first read that may be HTTP waits for more
    h.writer.write(b"PO")
    await asyncio.sleep(0.05)
    assert (await h.call(request(MUL, b'{"A":2,"B":2}')[2:]))[2] == b'{"C":4}'
    await h.close()


async def test_http_with_tls_and_plaintext_on_one_port(proxy_factory, server, tls_files) -> None:
    cert, key = tls_files
    _, paddr = await proxy_factory(config(tls={"cert": cert, "key": key, "plaintext": True},
                                          clusters={"a": {"servers": [server]}}, default={"cluster": "a"}))
    for kw in ({}, {"ssl": ssl.create_default_context(cafile=cert)}):
        h = await Http.open(paddr, **kw)
        assert (await h.call(request(MUL, b'{"A":4,"B":5}')))[2] == b'{"C":20}'
        await h.close()
    async with await Client.connect(paddr) as c:
        assert await c.call("Arith", "Mul", Args(2, 3), Reply) == Reply(6)
    async with await Client.connect(paddr, Option(tls=ssl.create_default_context(cafile=cert))) as c:
        assert await c.call("Arith", "Mul", Args(2, 4), Reply) == Reply(8)


def test_http_key_is_checked() -> None:
    base = {"listen": "tcp@127.0.0.1:0", "clusters": {"a": {"servers": ["tcp@127.0.0.1:1"]}},
            "default": {"cluster": "a"}}
    assert parse_config(base).http is False and parse_config({**base, "http": True}).http is True
    with pytest.raises(ConfigError, match="http: expected true or false, got 'yes'"):
        parse_config({**base, "http": "yes"})


async def test_oneway_http_call_is_forwarded_and_answered_empty(proxy_factory, echo_upstream) -> None:
    rec = Recorder()
    _, paddr = await proxy_factory(config(clusters={"a": {"servers": [echo_upstream.address]}},
                                          default={"cluster": "a"}), observers=[rec])
    h = await Http.open(paddr)
    status, _, body = await h.call(request({**MUL, "X-RPCX-Oneway": "true"}, b'{"A":1,"B":1}'))
    assert (status, body) == (200, b"")
    await asyncio.wait_for(echo_upstream.arrived.wait(), WAIT)
    [frame] = echo_upstream.frames
    assert frame[2] & 0x20 and frame.endswith(b'{"A":1,"B":1}')  # sent oneway, payload as it came
    [r] = await rec.wait_for(1)
    assert (r.oneway, r.status) == (True, "ok")
    await h.close()


async def test_pinned_upstream_belongs_to_the_http_connection(proxy_factory, server, caplog) -> None:
    """pin_upstream: the HTTP connection gets its own upstream connection; a server push on it is
    not an HTTP answer (dropped with a log line), and the reply still is."""
    proxy, paddr = await proxy_factory(config(
        clusters={"up": {"servers": [server]}},
        default={"cluster": "up", "pin_upstream": True}))
    echo = {"X-RPCX-SerializeType": "0", "X-RPCX-ServicePath": "Arith", "X-RPCX-ServiceMethod": "Echo"}
    h = await Http.open(paddr)
    with caplog.at_level(logging.INFO, logger="rpcx.proxy"):
        for i in range(3):
            status, _, body = await h.call(request({**echo, "X-RPCX-Meta": "push=p1"}, b"pushed%d" % i))
            assert (status, body) == (200, b"pushed%d" % i)
        async with asyncio.timeout(WAIT):
            while not any("no request waits for it" in r.getMessage() for r in caplog.records):
                await asyncio.sleep(0.01)
    [down] = [d for d in proxy._downstreams]
    assert len(down.pinned) == 1 and proxy.pushes_dropped == 0
    [up] = down.pinned.values()
    await h.close()
    async with asyncio.timeout(WAIT):
        while not up.closed:
            await asyncio.sleep(0.01)


async def test_http_calls_are_counted_by_the_metrics(tmp_path, server) -> None:
    from .test_metrics import scrape, start_app, value

    app, paddr, admin, _ = await start_app(tmp_path, (
        "listen: tcp@127.0.0.1:0\nadmin: tcp@127.0.0.1:0\nmetrics: true\nhttp: true\n"
        f"clusters: {{up: {{servers: [{server}]}}}}\ndefault: {{cluster: up}}\n"))
    try:
        h = await Http.open(paddr)
        for i in range(3):
            assert (await h.call(request(MUL, b'{"A":%d,"B":2}' % i)))[2] == b'{"C":%d}' % (2 * i)
        j = await Http.open(paddr)
        await j.call(request(RPC, b'{"jsonrpc":"2.0","method":"Arith.Fail","params":{"A":1,"B":1},"id":1}'))
        s = await scrape(admin)
        await h.close()
        await j.close()
    finally:
        await app.aclose()
    assert value(s, "rpcx_proxy_calls_total", route="default", service="Arith", method="Mul") == 3
    assert value(s, "rpcx_proxy_calls_total", route="default", service="Arith", method="Fail") == 1
    assert value(s, "rpcx_proxy_errors_total", route="default", service="Arith", method="Fail") == 1
