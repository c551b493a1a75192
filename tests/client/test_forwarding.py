"""Forwarding primitives on a real connection: a frame sent on unchanged but for its seq, and a
message whose payload is still compressed sent as it is (not gzipped twice)."""

from __future__ import annotations

import pytest
from arith_service import Args, Reply
from conftest import WAIT

from rpcx import Client
from rpcx.codec.base import CodecRegistry
from rpcx.protocol import CompressType, FrameHeader, Role, RpcxConnection, parse_frame


def _request(payload: bytes, *, method: str = "Echo", ser: int = 0, compress: int = 0, oneway: bool = False) -> bytes:
    # a frame as another client wrote it, with a seq this connection never allocated
    other = RpcxConnection(Role.CLIENT)
    for _ in range(41):
        other.send_call("X", "Y", b"")
    return other.send_call("Arith", method, payload, serialize_type=ser, compress_type=compress, oneway=oneway)[1]


async def test_send_frame_forwards_a_request_and_returns_its_reply(server) -> None:
    async with await Client.connect(server) as c:
        await c.call("Arith", "Mul", Args(1, 1), Reply, timeout=WAIT)  # seq 0 is taken: 41 must be rewritten
        mul = _request(CodecRegistry().get(3).encode(Args(6, 7)), method="Mul", ser=3)
        assert FrameHeader.parse(mul).seq == 41
        res = await c.send_frame(mul, timeout=WAIT)
        assert res is not None and res.seq == 1 and CodecRegistry().get(3).decode(res.payload, Reply) == Reply(42)
        assert await c.send_frame(_request(b"x", oneway=True)) is None
        assert c.pending == 0


async def test_a_compressed_frame_is_forwarded_compressed(server) -> None:
    big = bytes(range(256)) * 40
    frame = _request(big, compress=CompressType.GZIP)
    assert FrameHeader.parse(frame).compress_type == CompressType.GZIP
    async with await Client.connect(server) as c:
        res = await c.send_frame(bytearray(frame), timeout=WAIT)
        assert res is not None and res.payload == big  # the server inflated what was sent, once


@pytest.mark.parametrize("decompress", [True, False])
async def test_send_raw_sends_a_still_compressed_payload_as_it_is(server, decompress: bool) -> None:
    big = b"q" * 5000
    msg = parse_frame(_request(big, compress=CompressType.GZIP), decompress=decompress)
    assert msg.compressed is not decompress
    async with await Client.connect(server) as c:
        res = await c.send_raw(msg, timeout=WAIT)
        assert res.payload == big and res.error is None
