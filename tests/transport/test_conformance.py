"""The transport conformance suite (rpcx.testing.transport_conformance) over every network we ship:
tcp, tcp with TLS, unix, memory, http (CONNECT, plain and inside TLS), ws, wss, reuseport, quic and kcp, all on
loopback or in process."""

from __future__ import annotations

import shutil
import tempfile
from typing import Iterator

import pytest

from rpcx.testing.transport_conformance import (
    CHECKS,
    NotCapable,
    TransportCase,
    http_case,
    https_case,
    kcp_case,
    memory_case,
    quic_case,
    reuseport_case,
    self_signed_cert,
    tcp_case,
    tls_case,
    unix_case,
    ws_case,
    wss_case,
)


@pytest.fixture(scope="module")
def short_dir() -> Iterator[str]:
    # unix socket paths are limited to ~100 bytes; pytest's tmp_path can be longer
    d = tempfile.mkdtemp(prefix="rpcx-conf-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module", params=["tcp", "tls", "unix", "memory", "http", "https", "ws", "wss", "reuseport", "quic", "kcp"])
def case(request: pytest.FixtureRequest, short_dir: str) -> TransportCase:
    if request.param == "tcp":
        return tcp_case()
    if request.param == "kcp":
        return kcp_case()
    if request.param == "quic":
        pytest.importorskip("aioquic", reason="the quic transport needs the quic extra")
    if request.param in ("tls", "https", "wss", "quic"):
        try:
            cert, key = self_signed_cert(short_dir)
        except RuntimeError as exc:
            pytest.skip(str(exc))
        return {"tls": tls_case, "https": https_case, "wss": wss_case, "quic": quic_case}[request.param](cert, key)
    if request.param == "http":
        return http_case()
    if request.param == "ws":
        return ws_case()
    if request.param == "reuseport":
        return reuseport_case()
    if request.param == "unix":
        return unix_case(short_dir)
    return memory_case()


@pytest.mark.parametrize("check", list(CHECKS))
async def test_conformance(case: TransportCase, check: str) -> None:
    try:
        await CHECKS[check](case)
    except NotCapable as exc:
        pytest.skip(f"declared capability: {exc}")
