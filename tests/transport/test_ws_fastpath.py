"""The ws fast path (rpcx/transport/_wsframe.py) against wsproto alone: the same byte streams, cut at
random places, with pings, fragmented messages, empty and long frames and frames that break RFC 6455,
fed to a WebSocketTransport with the fast path and to one without (``fast=False``, wsproto alone),
on both sides. Each socket read must deliver the same bytes to rpcx, and the same bytes must go out
(pongs, closes, and the echo of what was delivered, the mask key fixed by patching os.urandom)."""

from __future__ import annotations

import asyncio
import os
import random
import struct
from typing import Any

import pytest

from rpcx.transport._wsframe import FrameReader, encode, unmask
from rpcx.transport.ws import WebSocketTransport, _connection
from wsproto.connection import ConnectionType


class _Raw:
    """A socket transport that records what is written to it."""

    def __init__(self) -> None:
        self.out: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.out.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default


class _Echo(asyncio.Protocol):
    """Records each delivery and writes it back, so both paths' write sides are compared too."""

    def __init__(self) -> None:
        self.got: list[bytes] = []
        self.eof = False

    def connection_made(self, transport: Any) -> None:
        self.t = transport

    def data_received(self, data: bytes) -> None:
        self.got.append(data)
        self.t.write(data)

    def eof_received(self) -> None:
        self.eof = True


def _frame(first: int, payload: bytes, masked: bool, rng: random.Random, long8: bool = False) -> bytes:
    n = len(payload)
    bit = 0x80 if masked else 0
    if long8:
        head = bytes((first, bit | 127)) + struct.pack(">Q", n)
    elif n < 126:
        head = bytes((first, bit | n))
    elif n < 0x10000:
        head = bytes((first, bit | 126)) + struct.pack(">H", n)
    else:
        head = bytes((first, bit | 127)) + struct.pack(">Q", n)
    if not masked:
        return head + payload
    key = bytes(rng.getrandbits(8) for _ in range(4))
    return head + key + unmask(payload, key)


def _stream(rng: random.Random, masked: bool, bad: str | None, plain: bool) -> bytes:
    """Frames a peer may send: data frames of all length forms, text ones, empty ones, pings and pongs,
    fragmented messages with pings between the fragments (not when ``plain``, so that the fast path
    meets the bad frame); then maybe one bad frame and more data."""
    parts = []
    kinds = ["bin", "text", "empty", "long"] if plain else ["bin", "bin", "text", "empty", "ping", "pong", "frag", "mid", "long"]
    for _ in range(rng.randint(3, 12)):
        kind = rng.choice(kinds)
        if kind in ("bin", "text"):
            size = rng.choice([1, 5, 125, 126, 581, 4000, 70000])
            parts.append(_frame(0x82 if kind == "bin" else 0x81, rng.randbytes(size), masked, rng))
        elif kind == "empty":
            parts.append(_frame(0x82, b"", masked, rng))
        elif kind == "long":  # a long frame whose payload comes in a separate read in most cuts
            parts.append(_frame(0x82, rng.randbytes(200_000), masked, rng))
        elif kind in ("ping", "pong"):
            parts.append(_frame(0x89 if kind == "ping" else 0x8A, rng.randbytes(rng.randint(0, 125)), masked, rng))
        else:  # a message in 2 to 4 fragments, with a ping between two of them
            n = rng.randint(2, 4)
            for i in range(n):
                first = (0x02 if i == 0 else 0x00) | (0x80 if i == n - 1 else 0)
                parts.append(_frame(first, rng.randbytes(rng.randint(0, 300)), masked, rng))
                if kind == "mid" and i == 0:
                    parts.append(_frame(0x89, b"mid", masked, rng))
    if bad == "unmasked":
        parts.append(_frame(0x82, b"hello", not masked, rng))
    elif bad == "reserved_opcode":
        parts.append(_frame(0x83, b"hello", masked, rng))
    elif bad == "rsv1":
        parts.append(_frame(0xC2, b"hello", masked, rng))
    elif bad == "long_ping":
        parts.append(_frame(0x89, b"p" * 126, masked, rng))
    elif bad == "continuation_first":
        parts.append(_frame(0x80, b"hello", masked, rng))
    elif bad == "non_minimal_length":
        parts.append(_frame(0x82, b"x" * 300, masked, rng, long8=True))
    elif bad == "close":
        parts.append(_frame(0x88, struct.pack(">H", 1000) + b"bye", masked, rng))
    if bad:
        parts.append(_frame(0x82, b"after the end", masked, rng))
    return b"".join(parts)


def _cuts(rng: random.Random, data: bytes) -> list[bytes]:
    """Random reads: mostly small ones (cutting headers), some large."""
    out, pos = [], 0
    while pos < len(data):
        step = rng.choice([1, 2, 3, 7, 14, 100, 1000, 70000])
        out.append(data[pos:pos + step])
        pos += step
    return out


def _run(reads: list[bytes], client: bool, fast: bool, seed: int, monkeypatch: pytest.MonkeyPatch) -> tuple:
    keys = random.Random(seed)
    monkeypatch.setattr(os, "urandom", lambda n: keys.randbytes(n))  # wsproto's and ours: the same keys
    proto = _Echo()
    raw = _Raw()
    ws = WebSocketTransport(_connection(ConnectionType.CLIENT if client else ConnectionType.SERVER), proto, fast=fast)
    ws.connection_made(raw)
    deliveries = []
    for chunk in reads:
        if raw.closed:
            break
        before = len(proto.got)
        ws.data_received(chunk)
        deliveries.append(b"".join(proto.got[before:]))
    return deliveries, b"".join(raw.out), raw.closed, proto.eof


@pytest.mark.parametrize("client", [False, True], ids=["server", "client"])
@pytest.mark.parametrize("bad", [None, "unmasked", "reserved_opcode", "rsv1", "long_ping", "continuation_first",
                                 "non_minimal_length", "close"])
def test_fast_path_delivers_and_writes_as_wsproto(client: bool, bad: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    for seed in range(12):
        rng = random.Random(f"{client}-{bad}-{seed}")
        data = _stream(rng, masked=not client, bad=bad, plain=seed % 2 == 1)
        reads = _cuts(rng, data)
        fast = _run(reads, client, True, seed, monkeypatch)
        slow = _run(reads, client, False, seed, monkeypatch)
        assert fast[0] == slow[0], (seed, "deliveries differ")
        assert fast[1] == slow[1], (seed, "outgoing bytes differ")
        assert fast[2:] == slow[2:], seed
        if bad:  # the stream's end was seen, and its close sent
            assert slow[2] and slow[3], seed
        assert b"".join(slow[0])  # data did flow


def test_reader_hands_over_at_the_first_frame_it_does_not_take() -> None:
    out: list[bytes] = []
    reader = FrameReader(client=False)
    ping = b"\x89\x80\0\0\0\0"
    assert reader.feed(b"\x82\x83abcd" + unmask(b"xyz", b"abcd") + ping + b"\x82\x80\0\0\0\0", out) \
        == ping + b"\x82\x80\0\0\0\0"
    assert out == [b"xyz"] and reader.idle()
    # a header held in parts, then found to use a non-minimal length: handed over whole
    assert reader.feed(b"\x82\xfe\x00", out) is None and not reader.idle()
    assert reader.feed(b"\x05abcd", out) == b"\x82\xfe\x00\x05abcd"


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536])
@pytest.mark.parametrize("client", [False, True])
def test_encode_matches_wsproto(size: int, client: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    from wsproto.events import BytesMessage

    payload = random.Random(size).randbytes(size)
    monkeypatch.setattr(os, "urandom", lambda n: b"\x01\x02\x03\x04"[:n])
    conn = _connection(ConnectionType.CLIENT if client else ConnectionType.SERVER)
    assert encode(payload, client) == conn.send(BytesMessage(data=payload))
