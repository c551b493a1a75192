"""An independent kcp-go peer: Debian's ``kcptun-server`` (kcp-go 5.6, the same wire as rpcx's
5.4.20) in front of a Python rpcx tcp server. Our kcp transport dials it with kcptun's key
derivation (``pbkdf2(sha1, KEY, "kcp-go", 4096, 32)``, AES), opens one smux v1 stream inside (kcptun
multiplexes with smux: ``ver u8 = 1 | cmd u8 (0 SYN, 1 FIN, 2 PSH, 3 NOP) | len u16 | sid u32``,
little-endian) and makes rpcx calls through it, large ones included."""

from __future__ import annotations

import asyncio
import random
import shutil
import socket
import struct
import subprocess
from typing import Any

import pytest

pytest.importorskip("cryptography", reason="the kcp transport needs the kcp extra")

from rpcx import RpcxConnectionError, Server  # noqa: E402
from rpcx.protocol import FrameDecoder, Limits, Message  # noqa: E402
from rpcx.testing.harness import WAIT, ConformanceService, request  # noqa: E402
from rpcx.transport import dial  # noqa: E402
from rpcx.transport.kcp import block_from_password  # noqa: E402

KEY = "kcptun-test-key"
SYN, FIN, PSH, NOP = range(4)
_HDR = struct.Struct("<BBHI")


class _SmuxStream(asyncio.Protocol):
    """smux v1, client side, one stream (sid 1) carrying rpcx frames."""

    def __init__(self) -> None:
        self.transport: Any = None
        self.buf = b""
        self.decoder = FrameDecoder(Limits(0, 0))
        self.frames: asyncio.Queue[Message] = asyncio.Queue()

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        transport.write(_HDR.pack(1, SYN, 0, 1))

    def send(self, data: bytes) -> None:
        for i in range(0, len(data), 65535):
            chunk = data[i:i + 65535]
            self.transport.write(_HDR.pack(1, PSH, len(chunk), 1) + chunk)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while len(self.buf) >= _HDR.size:
            ver, cmd, length, sid = _HDR.unpack_from(self.buf)
            assert ver == 1, f"smux version {ver}"
            if len(self.buf) < _HDR.size + length:
                return
            body, self.buf = self.buf[_HDR.size:_HDR.size + length], self.buf[_HDR.size + length:]
            if cmd == PSH and sid == 1:
                for m in self.decoder.feed(body):
                    self.frames.put_nowait(m)


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_rpcx_through_kcptun_server() -> None:
    if shutil.which("kcptun-server") is None:
        pytest.fail("Debian's kcptun is not installed: run .ci/registry-servers (apt-get install kcptun)")
    srv = Server()
    srv.register(ConformanceService(), name="Conformance")
    target = (await srv.start("tcp@127.0.0.1:0")).split("@", 1)[1]
    port = _free_udp_port()
    proc = subprocess.Popen(
        ["kcptun-server", "-l", f"127.0.0.1:{port}", "-t", target, "--key", KEY, "--crypt", "aes", "--nocomp",
         "--datashard", "10", "--parityshard", "3", "--smuxver", "1", "--quiet"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    transport = None
    try:
        block = block_from_password(KEY, salt=b"kcp-go")
        loop = asyncio.get_running_loop()
        end = loop.time() + WAIT
        while True:  # until kcptun has bound its port (before that, the dial's probe meets ICMP errors)
            try:
                transport, peer = await dial(f"kcp@127.0.0.1:{port}", _SmuxStream, block=block, timeout=1.0)
                break
            except RpcxConnectionError:
                if loop.time() > end or proc.poll() is not None:
                    raise
                await asyncio.sleep(0.1)
        assert isinstance(peer, _SmuxStream)
        payloads = [b"hello"] + [random.Random(i).randbytes(n) for i, n in enumerate((1, 1348, 70_000, 300_000))]
        for seq, p in enumerate(payloads, 1):
            peer.send(request("Echo", p, seq=seq))
        for seq, p in enumerate(payloads, 1):
            m = await asyncio.wait_for(peer.frames.get(), WAIT * 2)
            assert (m.seq, m.payload) == (seq, p)
        stats = transport.get_extra_info("kcp_stats")
        assert stats.in_csum_errors == 0 and stats.kcp_in_errors == 0, stats
    finally:
        if transport is not None:
            transport.abort()
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        await srv.close()
