"""The rpcx frame: :class:`Message`, its encoder and its parser (layer: sans-IO core, stdlib only).

A frame is a 12-byte header (magic 0x08, version, flags, serialize nibble, big-endian seq), a u32
total length, then four u32-length-prefixed sections: service path, service method, metadata pairs
and payload. ``docs/wire-format.md`` has the byte layout and Go's rules; this module is their executable
form. Nothing here does I/O, reads a clock or logs.
"""

from __future__ import annotations

import struct
from typing import Mapping

from .._accel import speedups as _speedups
from ..errors import BadMagicError, LocalProtocolError, MalformedFrameError, MetadataError
from .compress import compress as _compress
from .compress import decompress as _decompress
from .constants import (
    MAGIC,
    SERVICE_ERROR,
    CompressType,
    MessageStatusType,
    MessageType,
    SerializeType,
)

__all__ = [
    "Message",
    "encode",
    "encode_metadata",
    "decode_metadata",
    "parse_frame",
    "make_response",
    "peek_route",
    "encode_route",
    "encode_plain_response",
    "COMPRESS_THRESHOLD",
]

_HEAD = struct.Struct(">BBBBQI")
_HEAD_PATH = struct.Struct(">BBBBQII")  # the header and the service path's length, in one call
_U32 = struct.Struct(">I")
_u32_pack = _U32.pack
_u32_from = _U32.unpack_from

#: Payloads longer than this are compressed when a compress type is configured (Go: 1024).
COMPRESS_THRESHOLD = 1024


class Message:
    """One rpcx frame, decoded.

    A plain slotted class rather than a frozen dataclass: it is built once per call on the hot path,
    and a frozen dataclass costs several times more to construct. Treat instances as immutable and
    use :meth:`replace` to derive new ones.

    >>> m = Message(service_path="Arith", service_method="Mul", seq=7,
    ...             serialize_type=SerializeType.MSGPACK, payload=b"\\x82\\xa1A\\n\\xa1B\\x14")
    >>> parse_frame(encode(m)).service_method
    'Mul'
    """

    __slots__ = (
        "message_type",
        "heartbeat",
        "oneway",
        "compress_type",
        "status",
        "serialize_type",
        "seq",
        "version",
        "service_path",
        "service_method",
        "metadata",
        "payload",
        "compressed",
    )

    def __init__(
        self,
        *,
        message_type: int = MessageType.REQUEST,
        heartbeat: bool = False,
        oneway: bool = False,
        compress_type: int = CompressType.NONE,
        status: int = MessageStatusType.NORMAL,
        serialize_type: int = SerializeType.NONE,
        seq: int = 0,
        version: int = 0,
        service_path: str = "",
        service_method: str = "",
        metadata: dict[str, str] | None = None,
        payload: bytes = b"",
        compressed: bool = False,
    ) -> None:
        self.message_type = message_type
        self.heartbeat = heartbeat
        self.oneway = oneway
        self.compress_type = compress_type
        self.status = status
        self.serialize_type = serialize_type
        self.seq = seq
        self.version = version
        self.service_path = service_path
        self.service_method = service_method
        self.metadata = metadata if metadata is not None else {}
        self.payload = payload
        #: ``payload`` is still compressed with ``compress_type`` (a frame parsed with
        #: ``decompress=False``, say by a proxy); :func:`encode` then sends it as it is
        self.compressed = compressed

    # -- derived views -------------------------------------------------------------------------
    @property
    def is_response(self) -> bool:
        """True for a Response frame (flags bit 7)."""
        return self.message_type == MessageType.RESPONSE

    @property
    def is_push(self) -> bool:
        """A server-initiated message as Go's client recognises it: Request + oneway, not heartbeat."""
        return self.message_type == MessageType.REQUEST and self.oneway and not self.heartbeat

    @property
    def error(self) -> str | None:
        """The error text of an error response, or None (Go: no metadata means no error)."""
        if self.status == MessageStatusType.ERROR:
            return self.metadata.get(SERVICE_ERROR)
        return None

    def replace(self, **changes: object) -> "Message":
        """A copy with some fields changed."""
        fields = {name: getattr(self, name) for name in self.__slots__}
        fields.update(changes)
        return Message(**fields)  # type: ignore[arg-type]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Message):
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in self.__slots__)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        kind = "Response" if self.is_response else "Request"
        flags = "".join(
            f for f, on in ((" heartbeat", self.heartbeat), (" oneway", self.oneway)) if on
        )
        return (
            f"<{kind}{flags} seq={self.seq} {self.service_path}.{self.service_method}"
            f" serialize={self.serialize_type} compress={self.compress_type} status={self.status}"
            f" metadata={self.metadata!r} payload={len(self.payload)}B>"
        )


def _b(s: str) -> bytes:
    return s.encode("utf-8", "surrogateescape")


def encode_metadata(metadata: Mapping[str, str] | None) -> bytes:
    """Encode metadata as Go does: ``u32 len, key, u32 len, value`` pairs with no count."""
    if not metadata:
        return b""
    parts = []
    for k, v in metadata.items():
        kb = _b(k)
        vb = _b(v)
        parts.append(_u32_pack(len(kb)))
        parts.append(kb)
        parts.append(_u32_pack(len(vb)))
        parts.append(vb)
    return b"".join(parts)


def decode_metadata(data: bytes | bytearray | memoryview, start: int = 0, end: int | None = None) -> dict[str, str]:
    """Decode a metadata section; a pair that overruns the section raises :class:`MetadataError`."""
    if end is None:
        end = len(data)
    md: dict[str, str] = {}
    pos = start
    while pos < end:
        if pos + 4 > end:
            raise MetadataError("wrong metadata lines. some keys or values are missing")
        (kl,) = _u32_from(data, pos)
        pos += 4
        kend = pos + kl
        if kend + 4 > end:
            raise MetadataError("wrong metadata lines. some keys or values are missing")
        key = bytes(data[pos:kend]).decode("utf-8", "surrogateescape")
        (vl,) = _u32_from(data, kend)
        pos = kend + 4
        vend = pos + vl
        if vend > end:
            raise MetadataError("wrong metadata lines. some keys or values are missing")
        md[key] = bytes(data[pos:vend]).decode("utf-8", "surrogateescape")
        pos = vend
    return md


def encode_route(service_path: str, service_method: str) -> bytes:
    """The service path and method sections, length prefixes included: the ``route`` that
    :func:`peek_route` slices out of a frame.

    >>> encode_route("A", "Mul")
    b'\\x00\\x00\\x00\\x01A\\x00\\x00\\x00\\x03Mul'
    """
    path = _b(service_path)
    method = _b(service_method)
    return b"".join((_u32_pack(len(path)), path, _u32_pack(len(method)), method))


def encode(msg: Message, *, compress: bool = True, seq: int | None = None) -> bytes:
    """Encode ``msg`` as one frame (with ``seq`` instead of ``msg.seq`` when given).

    When ``msg.compress_type`` is set the payload is compressed here, as Go's ``Encode`` does,
    unless ``msg.compressed`` says it already is (a frame parsed with ``decompress=False``) or
    ``compress=False`` is passed. A field the header cannot carry (a seq over 64 bits, a serialize
    type over 15) raises :class:`~rpcx.errors.LocalProtocolError`.
    """
    payload = msg.payload
    if msg.compress_type and compress and not msg.compressed:
        payload = _compress(msg.compress_type, payload)
    route = encode_route(msg.service_path, msg.service_method)
    meta = encode_metadata(msg.metadata)
    flags = (
        (msg.message_type << 7)
        | (0x40 if msg.heartbeat else 0)
        | (0x20 if msg.oneway else 0)
        | ((msg.compress_type & 0x7) << 2)
        | (msg.status & 0x3)
    )
    total = len(route) + 8 + len(meta) + len(payload)
    if not 0 <= msg.serialize_type <= 15:
        raise LocalProtocolError(f"serialize type {msg.serialize_type} does not fit the 4-bit field")
    try:
        head = _HEAD.pack(
            MAGIC, msg.version, flags, msg.serialize_type << 4, msg.seq if seq is None else seq, total
        )
    except struct.error as exc:
        raise LocalProtocolError(f"cannot encode {msg!r}: a header field is out of range ({exc})") from None
    return b"".join((head, route, _u32_pack(len(meta)), meta, _u32_pack(len(payload)), payload))


def parse_frame(
    buf: bytes | bytearray | memoryview,
    start: int = 0,
    *,
    max_decompressed_length: int = 0,
    decompress: bool = True,
) -> Message:
    """Parse one complete frame starting at ``buf[start]``.

    The caller is normally :class:`~rpcx.protocol.decoder.FrameDecoder`, which has already checked
    the magic byte and that the whole frame is present; both are checked again here (cheaply) so a
    direct call on arbitrary bytes raises a :class:`~rpcx.errors.ProtocolError` rather than
    ``struct.error`` or a silently accepted non-rpcx frame. Every section length is checked against the frame's
    end, so a hostile length cannot make this read past the frame. With ``decompress=False`` the
    payload is returned exactly as it was on the wire.
    """
    if len(buf) - start < 16:
        raise MalformedFrameError(f"a frame needs 16 header bytes, only {max(len(buf) - start, 0)} are present")
    magic, version, flags, ser, seq, total = _HEAD.unpack_from(buf, start)
    if magic != MAGIC:
        raise BadMagicError(magic)
    end = start + 16 + total
    if len(buf) < end:
        raise MalformedFrameError(f"frame announces {total} bytes but only {len(buf) - start - 16} are present")
    pos = start + 16
    if total < 16:
        raise MalformedFrameError(f"frame length {total} is shorter than its four section headers")
    # service path
    (n,) = _u32_from(buf, pos)
    pos += 4
    if pos + n + 12 > end:
        raise MalformedFrameError(f"service path length {n} overruns the frame")
    path = bytes(buf[pos : pos + n]).decode("utf-8", "surrogateescape") if n else ""
    pos += n
    # service method
    (n,) = _u32_from(buf, pos)
    pos += 4
    if pos + n + 8 > end:
        raise MalformedFrameError(f"service method length {n} overruns the frame")
    method = bytes(buf[pos : pos + n]).decode("utf-8", "surrogateescape") if n else ""
    pos += n
    # metadata
    (n,) = _u32_from(buf, pos)
    pos += 4
    if pos + n + 4 > end:
        raise MalformedFrameError(f"metadata length {n} overruns the frame")
    metadata = decode_metadata(buf, pos, pos + n) if n else {}
    pos += n
    # payload: Go ignores this length and takes the rest of the frame; an overrun is still an error
    (n,) = _u32_from(buf, pos)
    pos += 4
    if pos + n > end:
        raise MalformedFrameError(f"payload length {n} overruns the frame")
    payload = bytes(buf[pos:end])
    compress_type = (flags >> 2) & 0x7
    if compress_type and decompress:
        payload = _decompress(compress_type, payload, max_decompressed_length)
    return Message(
        compressed=bool(compress_type) and not decompress,
        message_type=flags >> 7,
        heartbeat=bool(flags & 0x40),
        oneway=bool(flags & 0x20),
        compress_type=compress_type,
        status=flags & 0x3,
        serialize_type=ser >> 4,
        seq=seq,
        version=version,
        service_path=path,
        service_method=method,
        metadata=metadata,
        payload=payload,
    )


def make_response(
    req: Message,
    payload: bytes = b"",
    metadata: dict[str, str] | None = None,
    error: str | None = None,
) -> Message:
    """Build the response to ``req`` exactly as Go's server does (``req.Clone()`` then edits).

    Kept from the request: version, seq, heartbeat and oneway bits, serialize type, path and method.
    The compress type is the request's only when the request was compressed and the reply payload
    is over :data:`COMPRESS_THRESHOLD`; otherwise none. On error the status is ERROR and the text
    goes in ``__rpcx_error__``. Request metadata is not echoed.
    """
    if error is not None:
        metadata = dict(metadata) if metadata else {}
        metadata[SERVICE_ERROR] = error
    compress_type = req.compress_type if (req.compress_type and len(payload) > COMPRESS_THRESHOLD) else 0
    return Message(
        message_type=MessageType.RESPONSE,
        heartbeat=req.heartbeat,
        oneway=req.oneway,
        compress_type=compress_type,
        status=MessageStatusType.ERROR if error is not None else req.status,
        serialize_type=req.serialize_type,
        seq=req.seq,
        version=req.version,
        service_path=req.service_path,
        service_method=req.service_method,
        metadata=metadata if metadata is not None else {},
        payload=payload,
    )


def peek_route(frame: bytes) -> tuple[int, int, int, int, bytes, int, int] | None:
    """Read a whole frame's header and locate its sections without decoding them.

    Returns ``(version, flags, serialize_byte, seq, route, metadata_length, payload_offset)``
    where ``route`` is the raw path and method sections (length prefixes included), a cheap
    dictionary key for dispatch and what a reply echoes verbatim; or None when a section length
    overruns the frame (then :func:`parse_frame` gives the precise error). Nothing is decompressed.

    >>> f = encode(Message(service_path="Arith", service_method="Mul", seq=3, payload=b"x"))
    >>> seq, route = peek_route(f)[3:5]
    >>> seq, route[4:9], route[13:]
    (3, b'Arith', b'Mul')
    """
    n = len(frame)
    if n < 32:
        return None
    _magic, version, flags, ser, seq, _total, pl = _HEAD_PATH.unpack_from(frame)
    mpos = 20 + pl
    if mpos + 12 > n:
        return None
    (ml,) = _u32_from(frame, mpos)
    meta = mpos + 4 + ml
    if meta + 8 > n:
        return None
    (mdl,) = _u32_from(frame, meta)
    payload = meta + 8 + mdl
    if payload > n:
        return None
    # parse_frame rejects a payload length that overruns the frame; agree with it, so the same bytes
    # are not served by one dispatch path and refused by the other
    (pdl,) = _u32_from(frame, payload - 4)
    if payload + pdl > n:
        return None
    return version, flags, ser, seq, frame[16:meta], mdl, payload


def encode_plain_response(version: int, flags: int, ser: int, seq: int, route: bytes, payload: bytes) -> bytes:
    """The Normal, uncompressed, metadata-free response to a request whose header fields and raw
    route (from :func:`peek_route`) are given: what :func:`make_response` then :func:`encode` would
    produce, built without a :class:`Message`. The server's hot path uses it.
    """
    return b"".join(
        (
            _HEAD.pack(MAGIC, version, 0x80 | (flags & 0x63), ser, seq, len(route) + 8 + len(payload)),
            route,
            b"\x00\x00\x00\x00",
            _u32_pack(len(payload)),
            payload,
        )
    )


# The C versions (rpcx/_speedups.c) when built; the Python definitions above stay reachable as
# the twins the tests compare them with.
py_peek_route = peek_route
py_encode_plain_response = encode_plain_response
if _speedups is not None:
    peek_route = _speedups.peek_route
    encode_plain_response = _speedups.encode_plain_response
