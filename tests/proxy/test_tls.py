"""TLS on both sides of the proxy: clients reach it over TLS, it reaches the servers over TLS."""

from __future__ import annotations

import os
import ssl
import sys

import pytest

from rpcx import Client, ServiceError
from rpcx.client import Option
from rpcx.transport import server_tls_context

sys.path.insert(0, os.path.dirname(os.path.dirname(__file__)))
from arith_service import Args, Reply  # noqa: E402


async def test_tls_on_both_sides(proxy_factory, server_factory, tls_files) -> None:
    cert, key = tls_files
    _, upstream = await server_factory(tls=server_tls_context(cert, key))
    _, paddr = await proxy_factory({
        "tls": {"cert": cert, "key": key},
        "clusters": {"up": {"servers": [upstream], "tls": {"ca": cert}}},
        "default": {"cluster": "up"},
    })
    trusted = ssl.create_default_context(cafile=cert)
    async with await Client.connect(paddr, Option(tls=trusted)) as c:
        assert await c.call("Arith", "Mul", Args(3, 5), Reply) == Reply(15)


async def test_upstream_certificate_not_trusted_is_a_clear_error(proxy_factory, server_factory, tls_files) -> None:
    cert, key = tls_files
    _, upstream = await server_factory(tls=server_tls_context(cert, key))
    _, paddr = await proxy_factory({"clusters": {"up": {"servers": [upstream], "tls": True}},
                                    "default": {"cluster": "up"}})
    async with await Client.connect(paddr) as c:
        with pytest.raises(ServiceError, match=f"rpcx proxy: cannot connect to upstream {upstream}: .*certificate"):
            await c.call("Arith", "Mul", Args(3, 5), Reply)


async def test_tls_and_plain_rpcx_on_one_port(proxy_factory, server, tls_files, caplog) -> None:
    """tls: {plaintext: true}: the first byte tells TLS (0x16) from rpcx (0x08); a client speaking
    neither is closed with a log line, and the others carry on."""
    import asyncio
    import logging

    cert, key = tls_files
    proxy, paddr = await proxy_factory({"tls": {"cert": cert, "key": key, "plaintext": True},
                                        "clusters": {"up": {"servers": [server]}}, "default": {"cluster": "up"}})
    trusted = ssl.create_default_context(cafile=cert)
    async with await Client.connect(paddr, Option(tls=trusted)) as tls_client, await Client.connect(paddr) as plain:
        assert await tls_client.call("Arith", "Mul", Args(3, 5), Reply) == Reply(15)
        assert await plain.call("Arith", "Mul", Args(4, 5), Reply) == Reply(20)
        tls_down = [d for d in proxy._downstreams if d.transport.get_extra_info("ssl_object") is not None]
        assert len(tls_down) == 1 and proxy.clients == 2
        host, port = paddr.partition("@")[2].rsplit(":", 1)
        with caplog.at_level(logging.WARNING, logger="rpcx.proxy"):
            for junk in (b"GET / HTTP/1.1\r\n\r\n", b"hello"):
                reader, writer = await asyncio.open_connection(host, int(port))
                writer.write(junk)
                assert await asyncio.wait_for(reader.read(), 10) == b""  # closed, nothing said
                writer.close()
        logged = [r.getMessage() for r in caplog.records]
        assert any("it speaks HTTP, not rpcx (first bytes b'GET / HTTP/1.1\\r\\n')" in m for m in logged), logged
        assert any("it speaks neither rpcx nor TLS (first bytes b'hello')" in m for m in logged), logged
        assert await asyncio.gather(tls_client.call("Arith", "Mul", Args(2, 2), Reply),
                                    plain.call("Arith", "Mul", Args(3, 3), Reply)) == [Reply(4), Reply(9)]


async def test_a_tls_client_on_a_plain_port_is_told_why(proxy_factory, server, tls_files, caplog) -> None:
    import logging

    cert, _ = tls_files
    _, paddr = await proxy_factory({"clusters": {"up": {"servers": [server]}}, "default": {"cluster": "up"}})
    with caplog.at_level(logging.WARNING, logger="rpcx.proxy"):
        with pytest.raises(Exception):
            async with await Client.connect(paddr, Option(tls=ssl.create_default_context(cafile=cert),
                                                          connect_timeout=5)) as c:
                await c.call("Arith", "Mul", Args(3, 5), Reply)
    assert any("wrong magic number: 22: it speaks TLS, and this listener takes plain rpcx only" in r.getMessage()
               for r in caplog.records)
    async with await Client.connect(paddr) as c:  # the port still serves rpcx
        assert await c.call("Arith", "Mul", Args(3, 5), Reply) == Reply(15)


def test_plaintext_needs_true_or_false() -> None:
    from rpcx.proxy import ConfigError, parse_config

    with pytest.raises(ConfigError, match="tls.plaintext: expected true or false, got 'yes'"):
        parse_config({"listen": "tcp@127.0.0.1:0", "tls": {"cert": "c", "key": "k", "plaintext": "yes"},
                      "clusters": {"up": {"servers": ["tcp@127.0.0.1:1"]}}, "default": {"cluster": "up"}})


async def test_detecting_port_closes_silent_clients_and_bad_handshakes(proxy_factory, server, tls_files, caplog) -> None:
    import asyncio
    import logging

    cert, key = tls_files
    proxy, paddr = await proxy_factory({"tls": {"cert": cert, "key": key, "plaintext": True}, "frame_timeout": "300ms",
                                        "clusters": {"up": {"servers": [server]}}, "default": {"cluster": "up"}})
    host, port = paddr.partition("@")[2].rsplit(":", 1)
    with caplog.at_level(logging.WARNING, logger="rpcx.proxy"):
        reader, writer = await asyncio.open_connection(host, int(port))  # says nothing
        assert await asyncio.wait_for(reader.read(), 10) == b""
        writer.close()
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(b"\x16\x03\x01\x00\x05hello")  # a TLS record that is no ClientHello
        await asyncio.wait_for(reader.read(), 10)
        writer.close()
    logged = [r.getMessage() for r in caplog.records]
    assert any("it sent nothing within 0.3s" in m for m in logged), logged
    assert any("TLS handshake failed" in m for m in logged), logged
    assert proxy.clients == 0
    async with await Client.connect(paddr) as c:
        assert await c.call("Arith", "Mul", Args(3, 5), Reply) == Reply(15)
