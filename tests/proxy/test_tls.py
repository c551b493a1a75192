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
