"""FrameDecoder: any split of a byte stream gives the same frames; bad bytes give the specific error."""

from __future__ import annotations

import struct
import tracemalloc
import zlib

import pytest

from rpcx.errors import (
    BadMagicError,
    DecompressedTooLargeError,
    MalformedFrameError,
    MessageTooLongError,
    MetadataError,
    ProtocolError,
    TruncatedFrameError,
    UnsupportedCompressorError,
)
from rpcx.protocol import (
    DEFAULT_MAX_DECOMPRESSED_LENGTH,
    DEFAULT_MAX_MESSAGE_LENGTH,
    CompressType,
    FrameDecoder,
    Limits,
    Message,
    MessageType,
    SerializeType,
    encode,
    parse_frame,
)

from ._frames import (
    VECTOR_A,
    VECTOR_B_REQUEST,
    VECTOR_B_RESPONSE,
    VECTOR_C_REQUEST,
    VECTOR_C_RESPONSE,
    VECTOR_D,
    meta_pairs,
    raw_frame,
)


def _sample_messages() -> list[Message]:
    return [
        Message(),  # the smallest frame: 32 bytes, all sections empty
        Message(service_path="Arith", service_method="Mul", seq=1, serialize_type=SerializeType.MSGPACK,
                payload=bytes.fromhex("82a1410aa14214")),
        Message(message_type=MessageType.RESPONSE, seq=2**64 - 1, oneway=True, status=1,
                metadata={"__rpcx_error__": "boom", "x": ""}, service_path="S", service_method="M"),
        Message(compress_type=CompressType.GZIP, seq=3, service_path="Zip", payload=b"compress me " * 40),
        Message(heartbeat=True, seq=4, payload=b"\xd3" + struct.pack(">q", -1)),
        Message(seq=5, service_path="bin", payload=bytes(range(256))),
    ]


SAMPLES = _sample_messages()
STREAM = b"".join(encode(m) for m in SAMPLES) + VECTOR_A + VECTOR_B_REQUEST + VECTOR_B_RESPONSE + VECTOR_D
EXPECTED = SAMPLES + [parse_frame(f) for f in (VECTOR_A, VECTOR_B_REQUEST, VECTOR_B_RESPONSE, VECTOR_D)]


def test_stream_fixture_is_what_we_think() -> None:
    assert len(EXPECTED) == 10
    assert EXPECTED[6].service_method == "Add"
    assert EXPECTED[3].payload == b"compress me " * 40


def test_all_at_once() -> None:
    d = FrameDecoder()
    assert d.feed(STREAM) == EXPECTED
    assert d.buffered == 0
    d.eof()


def test_one_byte_at_a_time() -> None:
    d = FrameDecoder()
    got: list[Message] = []
    for i in range(len(STREAM)):
        got.extend(d.feed(STREAM[i : i + 1]))
    assert got == EXPECTED
    assert d.buffered == 0
    d.eof()


def test_split_at_every_byte_boundary() -> None:
    for cut in range(len(STREAM) + 1):
        d = FrameDecoder()
        got = d.feed(STREAM[:cut])
        got += d.feed(STREAM[cut:])
        assert got == EXPECTED, f"split at {cut}"
        assert d.buffered == 0


def test_frames_complete_exactly_when_their_last_byte_arrives() -> None:
    ends = []
    pos = 0
    for m in EXPECTED:
        pos += len(encode(m))
        ends.append(pos)
    assert ends[-1] == len(STREAM)
    d = FrameDecoder()
    seen = 0
    for i in range(len(STREAM)):
        seen += len(d.feed(STREAM[i : i + 1]))
        assert seen == sum(1 for e in ends if e <= i + 1), f"after byte {i}"


def test_buffered_counts_the_partial_tail() -> None:
    d = FrameDecoder()
    assert d.feed(VECTOR_A + VECTOR_D[:20]) == [parse_frame(VECTOR_A)]
    assert d.buffered == 20
    assert d.feed(VECTOR_D[20:]) == [parse_frame(VECTOR_D)]
    assert d.buffered == 0


def test_many_frames_per_feed() -> None:
    msgs = [Message(seq=i, service_path="P", service_method="M", payload=i.to_bytes(4, "big")) for i in range(2000)]
    blob = b"".join(encode(m) for m in msgs)
    d = FrameDecoder()
    assert d.feed(blob) == msgs
    # and the same blob in odd-sized chunks
    d = FrameDecoder()
    got: list[Message] = []
    for i in range(0, len(blob), 997):
        got.extend(d.feed(blob[i : i + 997]))
    assert got == msgs


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_accepts_bytes_like_input_and_copies_leftovers(kind: type) -> None:
    src = bytearray(VECTOR_B_REQUEST + VECTOR_A[:30])
    d = FrameDecoder()
    assert d.feed(kind(src)) == [parse_frame(VECTOR_B_REQUEST)]
    # a caller reusing its read buffer must not corrupt what the decoder kept
    src[:] = b"\xee" * len(src)
    assert d.feed(VECTOR_A[30:]) == [parse_frame(VECTOR_A)]


def test_empty_feed_is_not_eof() -> None:
    d = FrameDecoder()
    assert d.feed(b"") == []
    assert d.feed(VECTOR_A[:50]) == []
    assert d.feed(b"") == []
    assert d.feed(VECTOR_A[50:]) == [parse_frame(VECTOR_A)]


def test_heartbeat_vectors_decode() -> None:
    req, res = FrameDecoder().feed(VECTOR_C_REQUEST + VECTOR_C_RESPONSE)
    assert req.heartbeat and not req.is_response
    assert res.heartbeat and res.is_response
    assert req.seq == res.seq == 5


def test_decompress_false_keeps_wire_payload() -> None:
    wire = encode(SAMPLES[3])
    (m,) = FrameDecoder(decompress=False).feed(wire)
    assert m.compress_type == CompressType.GZIP
    assert m.payload[:2] == b"\x1f\x8b"
    assert encode(m, compress=False) == wire


# -- limits ----------------------------------------------------------------------------------------


def test_default_limits_are_on() -> None:
    limits = Limits()
    assert limits.max_message_length == DEFAULT_MAX_MESSAGE_LENGTH > 0
    assert limits.max_decompressed_length == DEFAULT_MAX_DECOMPRESSED_LENGTH > 0
    header = struct.pack(">BBBBQI", 8, 0, 0, 0, 0, DEFAULT_MAX_MESSAGE_LENGTH + 1)
    with pytest.raises(MessageTooLongError):
        FrameDecoder().feed(header)


def test_limits_are_frozen() -> None:
    with pytest.raises(AttributeError):
        Limits().max_message_length = 0  # type: ignore[misc]


def test_too_long_raises_as_soon_as_the_header_is_in() -> None:
    header = struct.pack(">BBBBQI", 8, 0, 0, 0, 0, 2**32 - 1)
    d = FrameDecoder()
    assert d.feed(header[:15]) == []
    with pytest.raises(MessageTooLongError) as info:
        d.feed(header[15:])
    assert info.value.length == 2**32 - 1
    assert info.value.limit == DEFAULT_MAX_MESSAGE_LENGTH
    assert "message is too long" in str(info.value)
    assert d.buffered < 32


def test_too_long_in_one_16_byte_feed() -> None:
    d = FrameDecoder()
    with pytest.raises(MessageTooLongError):
        d.feed(struct.pack(">BBBBQI", 8, 0, 0, 0, 0, 2**32 - 1))
    assert d.buffered < 32


def test_limit_is_inclusive_and_counts_the_compressed_total() -> None:
    m = Message(service_path="p", payload=b"x" * 84)
    wire = encode(m)
    total = len(wire) - 16
    assert FrameDecoder(Limits(max_message_length=total)).feed(wire) == [m]
    with pytest.raises(MessageTooLongError):
        FrameDecoder(Limits(max_message_length=total - 1)).feed(wire)
    big = Message(compress_type=CompressType.GZIP, payload=b"\x00" * 100_000)
    wire = encode(big)
    assert len(wire) < 1000
    assert FrameDecoder(Limits(max_message_length=1000)).feed(wire) == [big]


def test_zero_limits_mean_unlimited() -> None:
    d = FrameDecoder(Limits(0, 0))
    header = struct.pack(">BBBBQI", 8, 0, 0, 0, 0, 2**32 - 1)
    assert d.feed(header) == []  # waits for the rest instead of refusing
    assert d.buffered == 16


# -- malformed input ---------------------------------------------------------------------------------


@pytest.mark.parametrize("first", [0x00, 0x07, 0x09, 0x80, 0xFF, ord("G")])
def test_bad_magic_on_the_first_byte(first: int) -> None:
    d = FrameDecoder()
    with pytest.raises(BadMagicError) as info:
        d.feed(bytes([first]))
    assert info.value.got == first
    assert str(info.value) == f"wrong magic number: {first}"
    assert info.value.frames == []  # type: ignore[attr-defined]


def test_http_request_is_bad_magic() -> None:
    with pytest.raises(BadMagicError):
        FrameDecoder().feed(b"GET / HTTP/1.1\r\n\r\n")


def test_bad_byte_after_a_good_frame_delivers_the_good_frame() -> None:
    d = FrameDecoder()
    with pytest.raises(BadMagicError) as info:
        d.feed(VECTOR_B_REQUEST + VECTOR_A + b"\x07rest")
    assert info.value.frames == [parse_frame(VECTOR_B_REQUEST), parse_frame(VECTOR_A)]  # type: ignore[attr-defined]


def test_bad_byte_after_a_frame_that_was_split() -> None:
    d = FrameDecoder()
    assert d.feed(VECTOR_A[:40]) == []
    with pytest.raises(BadMagicError) as info:
        d.feed(VECTOR_A[40:] + b"\x09")
    assert info.value.frames == [parse_frame(VECTOR_A)]  # type: ignore[attr-defined]


def test_decoder_stays_failed() -> None:
    d = FrameDecoder()
    with pytest.raises(BadMagicError) as first:
        d.feed(VECTOR_A + b"\x00")
    assert len(first.value.frames) == 1  # type: ignore[attr-defined]
    assert d.buffered == 0
    for _ in range(2):
        with pytest.raises(BadMagicError) as again:
            d.feed(VECTOR_A)
        # frames already handed over with the first raise are not handed over twice
        assert again.value.frames == []  # type: ignore[attr-defined]
    d.eof()  # a failed decoder has nothing more to report


def _section_overruns() -> list[tuple[str, bytes]]:
    return [
        ("path", raw_frame(path=b"abc", path_len=1000)),
        ("method", raw_frame(method=b"abc", method_len=1000)),
        ("metadata", raw_frame(meta=meta_pairs((b"k", b"v")), meta_len=1000)),
        ("payload", raw_frame(payload=b"abcd", payload_len=5)),
        ("payload-huge", raw_frame(payload=b"abcd", payload_len=2**32 - 1)),
        ("total<16", raw_frame(total=12) + b"\x00" * 12),
        ("total=0", raw_frame(total=0)),
        ("total=15", raw_frame(total=15)[:31]),
    ]


@pytest.mark.parametrize(("name", "frame"), _section_overruns(), ids=[n for n, _ in _section_overruns()])
def test_section_overrun_is_malformed(name: str, frame: bytes) -> None:
    d = FrameDecoder()
    with pytest.raises(MalformedFrameError) as info:
        d.feed(VECTOR_B_REQUEST + frame + VECTOR_A)
    assert not isinstance(info.value, MetadataError)
    assert info.value.frames == [parse_frame(VECTOR_B_REQUEST)]  # type: ignore[attr-defined]


def test_metadata_pair_overrun_is_metadata_error() -> None:
    # the section length is honest, a pair inside it lies
    section = meta_pairs((b"k", b"v")) + b"\x00\x00\x00\x02a"
    d = FrameDecoder()
    with pytest.raises(MetadataError, match="wrong metadata lines"):
        d.feed(raw_frame(path=b"p", meta=section, payload=b"x"))


@pytest.mark.parametrize("ct", range(2, 8))
def test_unregistered_compress_type(ct: int) -> None:
    frame = raw_frame(flags=ct << 2, path=b"p", payload=b"whatever")
    d = FrameDecoder()
    with pytest.raises(UnsupportedCompressorError) as info:
        d.feed(frame)
    assert info.value.compress_type == ct
    assert "unsupported compressor" in str(info.value)
    # a proxy that does not decompress forwards it untouched
    (m,) = FrameDecoder(decompress=False).feed(frame)
    assert m.compress_type == ct and m.payload == b"whatever"


def _gzip_frame(gz: bytes) -> bytes:
    return raw_frame(flags=CompressType.GZIP << 2, seq=9, payload=gz)


@pytest.fixture(scope="module")
def gzip_bomb() -> bytes:
    """A valid gzip stream of 200 MiB of zeros, about 200 KB long, built without 200 MiB in memory.

    After the first MiB the deflater's window is all zeros, so each further MiB compresses to the
    same sync-flushed bytes; repeating them and writing the right CRC and size gives a real bomb.
    """
    mib = bytes(1 << 20)
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    first = c.compress(mib) + c.flush(zlib.Z_SYNC_FLUSH)
    rest = c.compress(mib) + c.flush(zlib.Z_SYNC_FLUSH)
    assert c.compress(mib) + c.flush(zlib.Z_SYNC_FLUSH) == rest
    crc = 0
    for _ in range(200):
        crc = zlib.crc32(mib, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
    return header + first + rest * 199 + c.flush() + struct.pack("<II", crc, (200 << 20) & 0xFFFFFFFF)


def test_gzip_bomb_is_real(gzip_bomb: bytes) -> None:
    assert len(gzip_bomb) < 300_000
    assert struct.unpack("<I", gzip_bomb[-4:])[0] == (200 << 20) & 0xFFFFFFFF  # ISIZE: 200 MiB
    # the start inflates to zeros at a ratio of about 1000:1, and there is far more to come
    d = zlib.decompressobj(31)
    head = d.decompress(gzip_bomb, 4 << 20)
    assert head == bytes(4 << 20)
    assert len(d.unconsumed_tail) > 190_000


def test_gzip_bomb_is_stopped_without_inflating_it(gzip_bomb: bytes) -> None:
    frame = _gzip_frame(gzip_bomb)
    d = FrameDecoder(Limits(max_decompressed_length=1 << 20))
    tracemalloc.start()
    try:
        with pytest.raises(DecompressedTooLargeError) as info:
            d.feed(frame)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.value.limit == 1 << 20
    assert "decompressed size exceeds the maximum allowed size" in str(info.value)
    assert peak < 10 * (1 << 20), f"peak {peak} bytes: the bomb was inflated"


def test_gzip_at_exactly_the_limit_is_fine() -> None:
    data = b"y" * 4096
    frame = _gzip_frame(zlib.compress(data, wbits=31))
    (m,) = FrameDecoder(Limits(max_decompressed_length=4096)).feed(frame)
    assert m.payload == data
    with pytest.raises(DecompressedTooLargeError):
        FrameDecoder(Limits(max_decompressed_length=4095)).feed(frame)


def test_default_decompressed_limit_stops_the_bomb(gzip_bomb: bytes) -> None:
    assert DEFAULT_MAX_DECOMPRESSED_LENGTH < 200 << 20
    with pytest.raises(DecompressedTooLargeError):
        FrameDecoder().feed(_gzip_frame(gzip_bomb))


def _corrupt_gzip() -> list[tuple[str, bytes]]:
    good = zlib.compress(b"hello world " * 20, wbits=31)
    bad_crc = good[:-8] + bytes([good[-8] ^ 0xFF]) + good[-7:]
    bad_size = good[:-4] + b"\x00\x00\x00\x00"
    return [
        ("not-gzip", b"this is not gzip at all"),
        ("bad-magic", b"\x1f\x8c" + good[2:]),
        ("zlib-not-gzip", zlib.compress(b"hello")),
        ("truncated", good[: len(good) // 2]),
        ("no-trailer", good[:-8]),
        ("bad-crc", bad_crc),
        ("bad-size", bad_size),
        ("trailing-garbage", good + b"garbage"),
        ("empty", b""),
    ]


@pytest.mark.parametrize(("name", "gz"), _corrupt_gzip(), ids=[n for n, _ in _corrupt_gzip()])
def test_corrupt_gzip_is_malformed(name: str, gz: bytes) -> None:
    d = FrameDecoder()
    with pytest.raises(MalformedFrameError) as info:
        d.feed(VECTOR_A + _gzip_frame(gz))
    assert "gzip" in str(info.value)
    assert info.value.frames == [parse_frame(VECTOR_A)]  # type: ignore[attr-defined]


def test_concatenated_gzip_members_inflate_like_go() -> None:
    # Go's gzip.Reader is multistream by default
    gz = zlib.compress(b"hello ", wbits=31) + zlib.compress(b"world", wbits=31)
    (m,) = FrameDecoder().feed(_gzip_frame(gz))
    assert m.payload == b"hello world"
    with pytest.raises(DecompressedTooLargeError):
        FrameDecoder(Limits(max_decompressed_length=10)).feed(_gzip_frame(gz))


def test_gzip_payload_from_go_level_default() -> None:
    # the bytes Go's compress/gzip writes (header OS byte 0xff, mtime 0) decode too
    data = b"rpcx" * 500
    body = zlib.compressobj(6, zlib.DEFLATED, -15)
    deflated = body.compress(data) + body.flush()
    gz = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + deflated + struct.pack("<II", zlib.crc32(data), len(data))
    (m,) = FrameDecoder().feed(_gzip_frame(gz))
    assert m.payload == data


# -- end of stream -----------------------------------------------------------------------------------


def test_eof_between_frames_is_clean() -> None:
    d = FrameDecoder()
    d.eof()
    d.feed(VECTOR_A)
    d.eof()


@pytest.mark.parametrize("cut", [1, 2, 15, 16, 17, 50, len(VECTOR_A) - 1])
def test_eof_mid_frame_is_truncated(cut: int) -> None:
    d = FrameDecoder()
    assert d.feed(VECTOR_D + VECTOR_A[:cut]) == [parse_frame(VECTOR_D)]
    with pytest.raises(TruncatedFrameError) as info:
        d.eof()
    assert isinstance(info.value, ProtocolError)
    assert str(cut) in str(info.value)


def test_every_error_is_a_protocol_error() -> None:
    for cls in (BadMagicError, MessageTooLongError, MalformedFrameError, MetadataError,
                UnsupportedCompressorError, DecompressedTooLargeError, TruncatedFrameError):
        assert issubclass(cls, ProtocolError)


# -- feed_frames: whole frames as raw bytes ----------------------------------------------------------


def _frame_bytes() -> list[bytes]:
    out = []
    pos = 0
    while pos < len(STREAM):
        (total,) = struct.unpack_from(">I", STREAM, pos + 12)
        out.append(STREAM[pos : pos + 16 + total])
        pos += 16 + total
    return out


FRAME_BYTES = _frame_bytes()


def test_feed_frames_returns_exact_wire_bytes() -> None:
    assert len(FRAME_BYTES) == len(EXPECTED)
    assert FrameDecoder().feed_frames(STREAM) == FRAME_BYTES
    assert [parse_frame(f) for f in FRAME_BYTES] == EXPECTED


def test_feed_frames_split_at_every_byte_boundary() -> None:
    for cut in range(0, len(STREAM) + 1, 3):
        d = FrameDecoder()
        got = d.feed_frames(STREAM[:cut]) + d.feed_frames(STREAM[cut:])
        assert got == FRAME_BYTES, cut
        assert all(type(f) is bytes for f in got)


def test_feed_frames_one_byte_at_a_time() -> None:
    d = FrameDecoder()
    got: list[bytes] = []
    for i in range(len(STREAM)):
        got.extend(d.feed_frames(STREAM[i : i + 1]))
    assert got == FRAME_BYTES


def test_feed_frames_does_not_keep_a_view_of_a_reused_buffer() -> None:
    src = bytearray(VECTOR_A + VECTOR_D)
    d = FrameDecoder()
    got = d.feed_frames(src)
    src[:] = bytes(len(src))
    assert got == [VECTOR_A, VECTOR_D]


def test_feed_frames_checks_magic_and_limit() -> None:
    with pytest.raises(BadMagicError) as info:
        FrameDecoder().feed_frames(VECTOR_A + b"\x01")
    assert info.value.frames == [VECTOR_A]  # type: ignore[attr-defined]
    with pytest.raises(MessageTooLongError):
        FrameDecoder(Limits(max_message_length=50)).feed_frames(VECTOR_A)
