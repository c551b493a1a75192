"""The kcp network's layers and sessions, Python to Python on loopback: the crypt and Reed-Solomon
against vectors from Go (kcp-go v5.4.20, klauspost/reedsolomon v1.12.4), FEC recovery, the ARQ in
message mode and under loss, a lossy link (a relay dropping 10% of datagrams), session replacement,
idle timeouts, and bad input (garbage, another key, a flood of peers)."""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import socket
import struct

import pytest

pytest.importorskip("cryptography", reason="the kcp transport needs the kcp extra")

from rpcx import Client, Option, RpcxConnectionError, RpcxError, SerializeType, Server  # noqa: E402
from rpcx.testing.harness import ConformanceService  # noqa: E402
from rpcx.testing.udp_relay import LossyRelay  # noqa: E402
from rpcx.transport import listen  # noqa: E402
from rpcx.transport.kcp import SNMP, AESBlockCrypt, KcpListener, block_from_password  # noqa: E402
from rpcx.transport.kcp.arq import CMD_PUSH, CMD_WASK, Kcp  # noqa: E402
from rpcx.transport.kcp.crypt import open_datagram, seal  # noqa: E402
from rpcx.transport.kcp.fec import TYPE_DATA, TYPE_PARITY, FecDecoder, FecEncoder  # noqa: E402
from rpcx.transport.kcp.reedsolomon import ReedSolomon  # noqa: E402

from rpcx.testing.harness import WAIT  # noqa: E402

KEY = block_from_password("rpcx-key")
RAW = SerializeType.NONE


# -- layers against Go's bytes ------------------------------------------------------------------
def test_aes_cfb_and_key_derivation_match_kcp_go() -> None:
    # printed by a Go program: kcp.NewAESBlockCrypt(make([]byte, 32)).Encrypt(0..39), and
    # pbkdf2.Key("rpcx-key", "rpcx-salt", 4096, 32, sha1.New)
    block = AESBlockCrypt(bytes(32))
    assert block.encrypt(bytes(range(40))).hex() == (
        "d8cf712fb2b5f6b6bfaadbec63575a312670d898eda9a9de79c83de14c599d3aff4d33d41710e8e8")
    assert block.decrypt(block.encrypt(b"x" * 1400)) == b"x" * 1400
    import hashlib

    assert hashlib.pbkdf2_hmac("sha1", b"rpcx-key", b"rpcx-salt", 4096, 32).hex() == (
        "5f9d2ef0a6ed0eadb0a23ad75c5e93898821ebca13a778efa8586fc8002ad083")
    with pytest.raises(ValueError, match="16, 24 or 32"):
        AESBlockCrypt(b"short")


def test_sealed_datagram_layout_and_checksum() -> None:
    d = seal(KEY, b"body")
    assert len(d) == 20 + 4
    plain = KEY.decrypt(d)
    assert plain[20:] == b"body" and struct.unpack("<I", plain[16:20])[0] == __import__("zlib").crc32(b"body")
    assert open_datagram(KEY, d) == b"body"
    assert open_datagram(block_from_password("other"), d) is None
    assert open_datagram(KEY, b"short") is None
    flipped = bytearray(d)
    flipped[-1] ^= 1
    assert open_datagram(KEY, bytes(flipped)) is None


def test_reed_solomon_parity_matches_klauspost() -> None:
    # reedsolomon.New(10, 3).Encode on shards i: bytes(i*31 + j*7 + 1 for j in 0..7), printed by Go
    rs = ReedSolomon(10, 3)
    data = [bytes((i * 31 + j * 7 + 1) & 255 for j in range(8)) for i in range(10)]
    assert [p.hex() for p in rs.encode(data)] == ["0b174524e32a0ebc", "8cb464cec271ef8e", "8c3b832af68e5770"]


def test_reed_solomon_recovers_every_pattern_of_three_losses() -> None:
    rs = ReedSolomon(10, 3)
    rng = random.Random(5)
    data = [rng.randbytes(50) for _ in range(10)]
    full = data + rs.encode(data)
    for lost in itertools.combinations(range(13), 3):
        shards: list[bytes | None] = [None if i in lost else s for i, s in enumerate(full)]
        assert rs.reconstruct_data(shards)[:10] == data, lost
    with pytest.raises(ValueError, match="too few"):
        rs.reconstruct_data([None] * 4 + full[4:13])


def test_fec_seqids_parity_and_recovery() -> None:
    enc, dec = FecEncoder(), FecDecoder()
    payloads = [bytes([i]) * (10 + 37 * i) for i in range(20)]
    shards = [s for p in payloads for s in enc.encode(p)]
    assert len(shards) == 26  # two groups of 10 data + 3 parity
    seq_flags = [struct.unpack_from("<IH", s) for s in shards]
    assert [s for s, _ in seq_flags] == list(range(26))
    assert [f for _, f in seq_flags] == ([TYPE_DATA] * 10 + [TYPE_PARITY] * 3) * 2
    assert struct.unpack_from("<H", shards[0], 6)[0] == 2 + len(payloads[0])
    # lose three data shards of each group: the parity brings them back
    lost = {1, 5, 9, 13, 14, 22}
    got = []
    for i, s in enumerate(shards):
        if i not in lost:
            got += dec.decode(s)
    assert sorted(got) == sorted(payloads[i] for i in (1, 5, 9, 10, 11, 19))
    assert dec.recovered == 6 and dec.parity_received == 6


def test_fec_decoder_holds_a_bounded_window() -> None:
    enc, dec = FecEncoder(), FecDecoder()
    shards = [s for i in range(130) for s in enc.encode(b"%d" % i)]
    # only 6 shards of each group arrive: nothing can be rebuilt, and at most 39 shards are held
    for i, s in enumerate(shards):
        if i % 13 < 6:
            assert dec.decode(s) == []
        assert dec._held <= 39
    assert dec.recovered == 0
    # a group finished (all data shards arrived) ignores its late parity shards and duplicates
    dec2, enc2 = FecDecoder(), FecEncoder()
    group = [s for i in range(10) for s in enc2.encode(b"x%d" % i)]
    for s in group[:10]:
        dec2.decode(s)
    assert dec2._held == 0 and dec2.decode(group[10]) == [] and dec2.decode(group[3]) == [] and dec2._held == 0


def test_fec_seqid_wraps_at_a_multiple_of_the_group() -> None:
    enc = FecEncoder()
    enc.next = enc.paws - 13
    for i in range(10):
        enc.encode(b"x")
    assert enc.next == 0 and enc.paws % 13 == 0


# -- the ARQ -----------------------------------------------------------------------------------
def _pipe(loss: float, seed: int, stream_a: bool) -> tuple[Kcp, Kcp, list[bytes], list[bytes]]:
    rng = random.Random(seed)
    to_b: list[bytes] = []
    to_a: list[bytes] = []
    a = Kcp(0xDEADBEEF, lambda d: None if rng.random() < loss else to_b.append(d), reserved=28)
    b = Kcp(0xDEADBEEF, lambda d: None if rng.random() < loss else to_a.append(d), reserved=28)
    a.stream = stream_a
    for k in (a, b):
        k.nodelay_mode(1, 10, 2, True)
        k.window(128, 128)
    return a, b, to_a, to_b


def _run(a: Kcp, b: Kcp, to_a: list[bytes], to_b: list[bytes], want: int) -> bytes:
    got = bytearray()
    now = 0
    for _ in range(5000):
        now += 10
        a.flush(now)
        b.flush(now)
        while to_b or to_a:
            for d in to_b[:]:
                to_b.remove(d)
                b.input(d, now, True, True)
            for d in to_a[:]:
                to_a.remove(d)
                a.input(d, now, True, True)
        while (m := b.recv()) is not None:
            got += m
        if len(got) >= want and a.wait_snd() == 0:
            break
    return bytes(got)


def test_arq_message_mode_reassembles_fragments() -> None:
    # kcp-go's message mode (SetStreamMode(false)): a message over mss goes as frg = n-1 .. 0
    a, b, to_a, to_b = _pipe(0.0, 1, stream_a=False)
    msg = random.Random(2).randbytes(5000)
    a.send(msg)
    a.send(b"second")
    assert [s.frg for s in a.snd_queue] == [3, 2, 1, 0, 0]
    a.flush(0)
    a.flush(0)
    now = 0
    for _ in range(50):
        now += 10
        a.flush(now)
        for d in to_b:
            b.input(d, now)
        to_b.clear()
        b.flush(now)
        for d in to_a:
            a.input(d, now)
        to_a.clear()
    assert b.peek_size() == 5000
    assert b.recv() == msg and b.recv() == b"second" and b.recv() is None


def test_arq_delivers_in_order_under_loss() -> None:
    a, b, to_a, to_b = _pipe(0.2, 3, stream_a=True)
    data = random.Random(4).randbytes(300_000)
    for i in range(0, len(data), 7000):
        a.send(data[i:i + 7000])
    assert _run(a, b, to_a, to_b, len(data)) == data
    assert a.unacked_bytes == 0


def test_arq_refuses_a_message_over_255_fragments() -> None:
    k = Kcp(1, lambda d: None)
    with pytest.raises(ValueError, match="255 fragments"):
        k.send(bytes(k.mss * 256))


# -- sessions on sockets -----------------------------------------------------------------------
class _Echo(asyncio.Protocol):
    instances: list["_Echo"] = []

    def __init__(self) -> None:
        self.lost: asyncio.Future[Exception | None] = asyncio.get_running_loop().create_future()
        _Echo.instances.append(self)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)  # type: ignore[attr-defined]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(exc)


def _datagram(conv: int, cmd: int, sn: int, block: AESBlockCrypt = KEY, seqid: int = 0, data: bytes = b"") -> bytes:
    kcp = struct.pack("<IBBHIIII", conv, cmd, 0, 128, 0, sn, 0, len(data)) + data
    return seal(block, struct.pack("<IHH", seqid, TYPE_DATA, 2 + len(kcp)) + kcp)


def _udp_socket() -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.setblocking(False)
    return s


async def _until(cond, what: str) -> None:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    end = loop.time() + WAIT
    while not cond():
        if loop.time() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def _port(listener: KcpListener) -> int:
    return int(listener.address.rsplit(":", 1)[1])


async def test_block_is_required_with_a_clear_error() -> None:
    with pytest.raises(RpcxError, match="BlockCrypt must be configured"):
        await listen("kcp@127.0.0.1:0", asyncio.Protocol)
    with pytest.raises(RpcxError, match="block crypt"):
        await Client.connect("kcp@127.0.0.1:9", Option())
    with pytest.raises(RpcxError, match="not a block crypt"):
        await listen("kcp@127.0.0.1:0", asyncio.Protocol, block="rpcx-key")


async def test_dial_fails_fast_without_a_server_and_with_another_key() -> None:
    lst = await listen("kcp@127.0.0.1:0", _Echo, block=KEY)
    port = _port(lst)  # type: ignore[arg-type]
    try:
        with pytest.raises(RpcxConnectionError, match="no answer"):
            await Client.connect(f"kcp@127.0.0.1:{port}", Option(kcp_block=block_from_password("wrong"),
                                                                  connect_timeout=0.5))
        assert lst.dropped >= 1 and not lst.sessions  # type: ignore[attr-defined]
    finally:
        lst.close()
    await asyncio.sleep(0.05)
    with pytest.raises(RpcxConnectionError, match="kcp: dial"):
        await Client.connect(f"kcp@127.0.0.1:{port}", Option(kcp_block=KEY, connect_timeout=WAIT))


async def test_garbage_and_another_key_are_dropped_others_carry_on(caplog: pytest.LogCaptureFixture) -> None:
    srv = Server()
    srv.register(ConformanceService(), name="Conformance")
    addr = await srv.start("kcp@127.0.0.1:0", block=KEY)
    lst = srv.listeners[0]
    assert isinstance(lst, KcpListener)
    host, port = addr[4:].rsplit(":", 1)
    caplog.set_level(logging.WARNING, logger="rpcx")
    try:
        async with await Client.connect(addr, Option(kcp_block=KEY)) as c:
            assert await c.call("Conformance", "Echo", b"before", bytes, serialize_type=RAW, timeout=WAIT) == b"before"
            bad = _udp_socket()
            rng = random.Random(7)
            wrong = block_from_password("not-the-key")
            for i in range(600):
                if i % 3 == 0:
                    d = rng.randbytes(rng.randrange(0, 1500))
                elif i % 3 == 1:
                    d = _datagram(1000 + i, CMD_WASK, 0, block=wrong)  # a valid session under another key
                else:
                    good = _datagram(1000 + i, CMD_PUSH, 0, data=b"x")
                    d = good[:-1] + bytes([good[-1] ^ 1])  # one bit flipped: bad CRC
                bad.sendto(d, (host, int(port)))
                if i % 50 == 49:
                    await asyncio.sleep(0.02)  # in bursts the socket buffer can hold
            await _until(lambda: lst.dropped >= 590, "the bad datagrams to be dropped")
            assert len(srv.connections) == 1, "a bad datagram made a session"
            assert await c.call("Conformance", "Echo", b"after", bytes, serialize_type=RAW, timeout=WAIT) == b"after"
            bad.close()
        warnings = [r for r in caplog.records if "dropped" in r.getMessage()]
        assert 1 <= len(warnings) <= 2, [r.getMessage() for r in warnings]  # rate limited, not 600 lines
    finally:
        await srv.close()


async def test_sessions_by_address_replaced_by_a_new_conv_and_bounded() -> None:
    _Echo.instances.clear()
    lst = await listen("kcp@127.0.0.1:0", _Echo, block=KEY, max_sessions=5)
    assert isinstance(lst, KcpListener)
    port = _port(lst)
    socks = [_udp_socket() for _ in range(8)]
    try:
        s0 = socks[0]
        s0.sendto(_datagram(111, CMD_WASK, 0), ("127.0.0.1", port))
        await _until(lambda: len(lst.sessions) == 1, "a session from a window probe")
        (first,) = lst.sessions.values()
        assert first.conv == 111
        # same address, another conv, sn 0: kcp-go replaces the session
        s0.sendto(_datagram(222, CMD_WASK, 0, seqid=1), ("127.0.0.1", port))
        await _until(lambda: next(iter(lst.sessions.values())).conv == 222, "the session to be replaced")
        assert isinstance(await asyncio.wait_for(_Echo.instances[0].lost, WAIT), ConnectionResetError)
        # another conv with sn != 0 mid-stream is ignored
        s0.sendto(_datagram(333, CMD_PUSH, 5, seqid=2, data=b"x"), ("127.0.0.1", port))
        await asyncio.sleep(0.05)
        assert [s.conv for s in lst.sessions.values()] == [222]
        # a flood of new peers: at most max_sessions sessions, the rest dropped
        for i, s in enumerate(socks[1:]):
            s.sendto(_datagram(500 + i, CMD_WASK, 0), ("127.0.0.1", port))
        await _until(lambda: lst.dropped >= 2, "the peers over max_sessions to be dropped")
        assert len(lst.sessions) == 5
    finally:
        for s in socks:
            s.close()
        for s in list(lst.sessions.values()):
            s.abort()
        lst.close()


async def test_silent_sessions_time_out_and_stay_gone() -> None:
    _Echo.instances.clear()
    lst = await listen("kcp@127.0.0.1:0", _Echo, block=KEY, idle_timeout=0.4)
    assert isinstance(lst, KcpListener)
    port = _port(lst)
    s = _udp_socket()
    try:
        s.sendto(_datagram(77, CMD_WASK, 0), ("127.0.0.1", port))
        await _until(lambda: len(lst.sessions) == 1, "the session")
        exc = await asyncio.wait_for(_Echo.instances[0].lost, WAIT)
        assert isinstance(exc, TimeoutError) and "nothing heard" in str(exc)
        assert not lst.sessions
        # its late datagrams do not bring it back (the tombstone), a new conv from there does
        s.sendto(_datagram(77, CMD_WASK, 0, seqid=1), ("127.0.0.1", port))
        await asyncio.sleep(0.1)
        assert not lst.sessions
        s.sendto(_datagram(78, CMD_WASK, 0, seqid=2), ("127.0.0.1", port))
        await _until(lambda: len(lst.sessions) == 1, "a new session")
    finally:
        s.close()
        for x in list(lst.sessions.values()):
            x.abort()
        lst.close()


async def test_keepalive_holds_an_idle_connection_open() -> None:
    srv = Server()
    srv.register(ConformanceService(), name="Conformance")
    addr = await srv.start("kcp@127.0.0.1:0", block=KEY, idle_timeout=0.6)
    try:
        async with await Client.connect(addr, Option(kcp_block=KEY)) as c:
            assert await c.call("Conformance", "Echo", b"1", bytes, serialize_type=RAW, timeout=WAIT) == b"1"
            await asyncio.sleep(1.5)  # 2.5 idle timeouts without calls: the probes keep it alive
            assert len(srv.connections) == 1
            assert await c.call("Conformance", "Echo", b"2", bytes, serialize_type=RAW, timeout=WAIT) == b"2"
    finally:
        await srv.close()


async def test_lossy_link_calls_complete_and_fec_recovers() -> None:
    srv = Server()
    srv.register(ConformanceService(), name="Conformance")
    addr = await srv.start("kcp@127.0.0.1:0", block=KEY)
    host, port = addr[4:].rsplit(":", 1)
    relay = await LossyRelay.start((host, int(port)), loss=0.10, seed=11)
    before = SNMP.fec_recovered
    try:
        rhost, rport = relay.address
        async with await Client.connect(f"kcp@{rhost}:{rport}", Option(kcp_block=KEY, connect_timeout=WAIT)) as c:
            payloads = [random.Random(i).randbytes(100 + 97 * i) for i in range(200)]
            replies = await asyncio.wait_for(asyncio.gather(
                *(c.call("Conformance", "Echo", p, bytes, serialize_type=RAW, timeout=WAIT * 3) for p in payloads)),
                WAIT * 4)
            assert replies == payloads
            big = random.Random(99).randbytes(1 << 20)
            assert await c.call("Conformance", "Echo", big, bytes, serialize_type=RAW, timeout=WAIT * 6) == big
            (conn,) = srv.connections
            server_stats = conn.transport.get_extra_info("kcp_stats")  # type: ignore[union-attr]
            client_stats = c._transport.get_extra_info("kcp_stats")  # type: ignore[union-attr]
        assert relay.dropped > 0.05 * (relay.dropped + relay.forwarded)
        # both directions lost data shards and got them back from parity, not only by retransmission
        assert server_stats.fec_recovered > 0 and client_stats.fec_recovered > 0, (server_stats, client_stats)
        assert SNMP.fec_recovered - before >= server_stats.fec_recovered + client_stats.fec_recovered
    finally:
        relay.close()
        await srv.close()


async def test_ipv6_loopback() -> None:
    srv = Server()
    srv.register(ConformanceService(), name="Conformance")
    try:
        addr = await srv.start("kcp@[::1]:0", block=KEY)
    except RpcxError as exc:  # pragma: no cover - depends on the machine
        pytest.fail(f"no IPv6 loopback here: {exc}")
    try:
        assert addr.startswith("kcp@[::1]:")
        async with await Client.connect(addr, Option(kcp_block=KEY)) as c:
            assert await c.call("Conformance", "Echo", b"v6", bytes, serialize_type=RAW, timeout=WAIT) == b"v6"
            assert next(iter(srv.connections)).peer is not None
    finally:
        await srv.close()
