"""The transport contract's checks: explicit options, one TLS rule, modules that break the contract."""

from __future__ import annotations

import asyncio
import logging
import ssl
import sys
import types
from pathlib import Path

import pytest

from rpcx import Client, Option, RpcxError, Server
from rpcx.transport import TRANSPORTS, ConnectionTransport, dial, listen, takes_tls, tls_for, transport_for
from rpcx.transport import base


def test_the_tls_rule_is_gos() -> None:
    assert [takes_tls(n) for n in ("tcp", "tcp4", "tcp6")] == [True, True, True]
    assert [takes_tls(n) for n in ("unix", "memory", "memu")] == [False, False, False]
    with pytest.raises(RpcxError, match="unsupported"):
        takes_tls("carrier-pigeon")


def test_asyncio_transports_keep_the_contract() -> None:
    assert issubclass(asyncio.Transport, ConnectionTransport)
    assert not isinstance(object(), ConnectionTransport)


async def test_unknown_options_name_the_option_the_network_and_what_is_accepted() -> None:
    with pytest.raises(TypeError) as info:
        await listen("tcp@127.0.0.1:0", asyncio.Protocol, backlogg=5)
    text = str(info.value)
    assert "'backlogg'" in text and "tcp" in text and "backlog, reuse_port, ssl" in text
    with pytest.raises(TypeError, match="unix.*server_hostname, ssl, timeout"):
        await dial("unix@/nonexistent.sock", asyncio.Protocol, tiemout=1)
    with pytest.raises(TypeError, match="memory network.*'reuse_port'; it accepts: ssl"):
        await listen("memory@opts", asyncio.Protocol, reuse_port=True)


async def test_tls_where_the_network_takes_none_is_refused(tmp_path: Path) -> None:
    ctx = ssl.create_default_context()
    with pytest.raises(RpcxError, match="unix network does not take TLS"):
        await listen(f"unix@{tmp_path}/a.sock", asyncio.Protocol, ssl=ctx)
    with pytest.raises(RpcxError, match="memory network does not take TLS"):
        await dial("memory@tls", asyncio.Protocol, ssl=ctx)
    assert not (tmp_path / "a.sock").exists()


def test_tls_for_hands_the_context_only_where_it_applies_and_warns_once(caplog, monkeypatch) -> None:
    monkeypatch.setattr(base, "_tls_ignored", set())
    ctx = ssl.create_default_context()
    assert tls_for("tcp", ctx) is ctx and tls_for("unix", None) is None
    with caplog.at_level(logging.WARNING, logger="rpcx.transport"):
        assert tls_for("unix", ctx) is None
        assert tls_for("unix", ctx) is None
    warnings = [r.getMessage() for r in caplog.records if r.name == "rpcx.transport"]
    assert len(warnings) == 1 and "unix network does not take it" in warnings[0]


async def test_server_and_client_with_tls_talk_plain_text_on_unix(tmp_path: Path, monkeypatch) -> None:
    """Go's server ignores its TLS config on unix, so a Python client must not try TLS there."""
    monkeypatch.setattr(base, "_tls_ignored", set())
    srv = Server(tls=ssl.create_default_context(ssl.Purpose.CLIENT_AUTH))
    srv.register_function("Svc", lambda data: data, name="Echo")
    addr = await srv.start(f"unix@{tmp_path}/tls.sock")
    try:
        async with await Client.connect(addr, Option(tls=ssl.create_default_context())) as c:
            assert await c.call("Svc", "Echo", b"plain", bytes, serialize_type=0) == b"plain"
    finally:
        await srv.close()


def _fake_module(monkeypatch, name: str, module: types.ModuleType) -> None:
    monkeypatch.setitem(sys.modules, f"rpcx_fake_{name}", module)
    monkeypatch.setitem(TRANSPORTS, name, (f"rpcx_fake_{name}", None))


def test_a_module_that_breaks_the_contract_is_reported(monkeypatch) -> None:
    async def listen_kw(addr, factory, *, ssl=None, **options):  # type: ignore[no-untyped-def]
        pass

    async def dial_ok(addr, factory, *, ssl=None, timeout=None, server_hostname=None):  # type: ignore[no-untyped-def]
        pass

    async def dial_short(addr, factory, *, ssl=None):  # type: ignore[no-untyped-def]
        pass

    no_flag = types.ModuleType("no_flag")
    no_flag.listen, no_flag.dial = listen_kw, dial_ok  # type: ignore[attr-defined]
    _fake_module(monkeypatch, "noflag", no_flag)
    with pytest.raises(TypeError, match="must declare TLS"):
        transport_for("noflag")

    swallower = types.ModuleType("swallower")
    swallower.TLS, swallower.listen, swallower.dial = False, listen_kw, dial_ok  # type: ignore[attr-defined]
    _fake_module(monkeypatch, "swallow", swallower)
    with pytest.raises(TypeError, match=r"listen takes \*\*kwargs"):
        transport_for("swallow")

    short = types.ModuleType("short")
    short.TLS, short.dial = False, dial_short  # type: ignore[attr-defined]
    short.listen = dial_short  # type: ignore[attr-defined]
    _fake_module(monkeypatch, "short", short)
    with pytest.raises(TypeError, match="dial must accept server_hostname, timeout"):
        transport_for("short")


async def test_a_misspelled_server_option_is_caught() -> None:
    srv = Server()
    try:
        with pytest.raises(TypeError, match="tcp network.*'backlogg'"):
            await srv.start("tcp@127.0.0.1:0", backlogg=16)
    finally:
        await srv.close()
