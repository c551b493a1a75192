"""The admin HTTP endpoint: health, config, clusters, reload, and bad requests."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from rpcx import Client
from rpcx.client import Option
from rpcx.protocol.constants import SerializeType
from rpcx.proxy import ProxyApp
from rpcx.transport.tcp import split_host_port

WAIT = 10.0


async def http(address: str, request: bytes) -> tuple[int, object]:
    host, port = split_host_port(address.partition("@")[2])
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(request)
    data = await asyncio.wait_for(reader.read(), WAIT)
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), json.loads(body)


async def test_admin_endpoints(tmp_path: Path, echo_upstream) -> None:
    cfg = tmp_path / "proxy.yaml"
    text = ("listen: tcp@127.0.0.1:0\nadmin: tcp@127.0.0.1:0\n"
            f"clusters: {{up: {{servers: [{echo_upstream.address}], breaker: {{failures: 3}}}}}}\n"
            "routes: [{name: m, match: {method: {prefix: M}}, cluster: up, timeout: 1s}]\n"
            "default: {cluster: up}\n")
    cfg.write_text(text)
    app = ProxyApp(str(cfg))
    [paddr] = await app.start()
    assert app.admin is not None
    admin = app.admin.address
    try:
        async with await Client.connect(paddr, Option(serialize_type=SerializeType.NONE)) as c:
            assert await c.call("S", "Mul", b"x") == b"x"
            status, body = await http(admin, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            assert status == 200 and body == {"status": "ok", "clients": 1, "reloads": 0}
        status, body = await http(admin, b"GET /config HTTP/1.1\r\n\r\n")
        assert status == 200
        assert body["routes"][0]["name"] == "m" and body["routes"][0]["timeout"] == 1.0
        assert body["routes"][0]["match"]["method"] == {"prefix": "M"}
        assert body["clusters"]["up"]["retries"] == 0
        status, body = await http(admin, b"GET /clusters HTTP/1.1\r\n\r\n")
        assert status == 200
        assert body["up"]["connections"] == {echo_upstream.address: 1}
        assert body["up"]["breakers"] == {echo_upstream.address: "closed"}
        cfg.write_text(text.replace("timeout: 1s", "timeout: 2s"))
        assert await http(admin, b"POST /reload HTTP/1.1\r\n\r\n") == (200, {"reloaded": True})
        status, body = await http(admin, b"GET /config HTTP/1.1\r\n\r\n")
        assert body["routes"][0]["timeout"] == 2.0
        cfg.write_text(text.replace("cluster: up, timeout", "cluster: nope, timeout"))
        status, body = await http(admin, b"POST /reload HTTP/1.1\r\n\r\n")
        assert status == 400 and "routes[0].cluster: unknown cluster 'nope'" in body["error"]
        assert (await http(admin, b"GET /nothing HTTP/1.1\r\n\r\n"))[0] == 404
        assert (await http(admin, b"POST /health HTTP/1.1\r\n\r\n"))[0] == 405
        assert (await http(admin, b"hello\r\n\r\n"))[0] == 400
        assert (await http(admin, b"GET /" + b"x" * 9000 + b" HTTP/1.1\r\n\r\n"))[0] == 400  # over 8 KiB
    finally:
        await app.aclose()
