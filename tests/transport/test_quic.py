"""The quic network's own rules: TLS is required and taken, ALPN ``rpcx`` only, a FIN ends the
QUIC connection (no idle wait), bad datagrams and foreign ALPNs harm no one."""

from __future__ import annotations

import asyncio
import socket
import ssl
from typing import Iterator

import pytest

pytest.importorskip("aioquic", reason="the quic transport needs the quic extra")

from aioquic.asyncio.client import connect as aioquic_connect  # noqa: E402
from aioquic.quic.configuration import QuicConfiguration  # noqa: E402

from rpcx import Client, Option, RpcxError, SerializeType  # noqa: E402
from rpcx.testing.harness import ConformanceService, RawPeer, quic_case, request, self_signed_cert, until  # noqa: E402
from rpcx.transport import listen, takes_tls, tls_for  # noqa: E402
from rpcx.transport.quic import QuicStreamTransport  # noqa: E402
from rpcx.server import Server  # noqa: E402

from rpcx.testing.harness import WAIT  # noqa: E402


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    yield self_signed_cert(str(tmp_path_factory.mktemp("quic")))


async def _server(cert: tuple[str, str]) -> tuple[Server, str]:
    srv = Server(tls=quic_case(*cert).server_tls)
    srv.register(ConformanceService(), name="Conformance")
    return srv, await srv.start("quic@127.0.0.1:0")


async def _echo_ok(addr: str) -> None:
    async with await Client.connect(addr, Option(connect_timeout=WAIT)) as c:
        got = await c.call("Conformance", "Echo", b"still here", bytes, serialize_type=SerializeType.NONE, timeout=WAIT)
        assert got == b"still here"


def test_quic_takes_tls() -> None:
    ctx = ssl.create_default_context()
    assert takes_tls("quic") and tls_for("quic", ctx) is ctx


async def test_listen_needs_a_certificate_from_files() -> None:
    with pytest.raises(RpcxError, match="TLSConfig must be configured"):
        await listen("quic@127.0.0.1:0", asyncio.Protocol)
    # a context whose files are unknown cannot be handed to aioquic: the error says what to use
    with pytest.raises(RpcxError, match="server_tls_context"):
        await listen("quic@127.0.0.1:0", asyncio.Protocol, ssl=ssl.create_default_context(ssl.Purpose.CLIENT_AUTH))


async def test_wrong_alpn_is_refused_and_others_carry_on(cert: tuple[str, str]) -> None:
    srv, addr = await _server(cert)
    try:
        host, port = addr.removeprefix("quic@").rsplit(":", 1)
        config = QuicConfiguration(is_client=True, alpn_protocols=["h3"], verify_mode=ssl.CERT_NONE)
        with pytest.raises(ConnectionError):
            async with aioquic_connect(host, int(port), configuration=config):
                pass
        assert not srv.connections
        await _echo_ok(addr)
    finally:
        await srv.close()


async def test_garbage_datagrams_harm_no_one(cert: tuple[str, str]) -> None:
    srv, addr = await _server(cert)
    try:
        host, port = addr.removeprefix("quic@").rsplit(":", 1)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for n in range(50):
                s.sendto(bytes([n]) * (n * 20 + 1), (host, int(port)))
        await _echo_ok(addr)
    finally:
        await srv.close()


async def test_peer_fin_closes_the_quic_connection(cert: tuple[str, str]) -> None:
    """A client half-closes its stream (as Go's Close does): the server answers, closes, and the
    QUIC connection ends at once (the client's UDP endpoint closes), not after an idle timeout."""
    srv, addr = await _server(cert)
    try:
        peer = await RawPeer.open(quic_case(*cert), addr)
        t = peer.transport
        assert isinstance(t, QuicStreamTransport)
        peer.send(request("Echo", b"bye"))
        t.write_eof()
        frames = await peer.wait_closed()
        assert [f.payload for f in frames] == [b"bye"]
        await until(lambda: t._conn._transport is not None and t._conn._transport.is_closing(),
                    "the client's QUIC connection to end")
        await until(lambda: not srv.connections, "the server to forget the connection")
        await _echo_ok(addr)
    finally:
        await srv.close()


async def test_other_streams_are_refused(cert: tuple[str, str]) -> None:
    """One stream per connection, as Go: a second stream the client opens is reset, the rpcx one
    carries on."""
    srv, addr = await _server(cert)
    try:
        peer = await RawPeer.open(quic_case(*cert), addr)
        t = peer.transport
        assert isinstance(t, QuicStreamTransport)
        peer.send(request("Echo", b"one"))
        assert (await peer.recv()).payload == b"one"
        quic = t._conn._quic
        other = quic.get_next_available_stream_id()
        quic.send_stream_data(other, request("Echo", b"two"))
        t._conn.transmit()
        peer.send(request("Echo", b"three", seq=3))
        m = await peer.recv()
        assert m is not None and m.payload == b"three"
        assert len(srv.connections) == 1
        t.close()
        await peer.wait_closed()
    finally:
        await srv.close()
