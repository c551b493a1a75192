"""A named view of a frame's header and sections, and the seq rewrite a proxy forwards with
(layer: sans-IO core, stdlib only).

:class:`FrameHeader` reads everything a router needs (flags, serialize type, seq, service path and
method, where the metadata and payload lie) from a whole frame without touching the payload: no
decompression, no decoding, no copy. :func:`rewrite_seq` gives the same frame with only its seq
changed, which is all a forwarding proxy or gateway must do to a frame it passes on.

>>> from rpcx.protocol.message import Message, encode
>>> frame = encode(Message(service_path="Arith", service_method="Mul", seq=7, payload=b"\\x80"))
>>> h = FrameHeader.parse(frame)
>>> h.seq, h.service_path, h.service_method, h.is_request, frame[h.payload_start:h.payload_end]
(7, 'Arith', 'Mul', True, b'\\x80')
>>> FrameHeader.parse(rewrite_seq(frame, 9)).seq
9
"""

from __future__ import annotations

import struct
from typing import Union

from ..errors import BadMagicError, LocalProtocolError, MalformedFrameError
from .constants import MAGIC

__all__ = ["FrameHeader", "rewrite_seq", "MAX_SEQ"]

_HEAD = struct.Struct(">BBBBQI")
_U32 = struct.Struct(">I")
_SEQ = struct.Struct(">Q")

#: the largest seq the 8-byte header field holds
MAX_SEQ = 2**64 - 1

Buffer = Union[bytes, bytearray, memoryview]


class FrameHeader:
    """The header fields and section bounds of one whole frame; the payload is left alone.

    Offsets index the frame the header was parsed from. ``route`` is the raw service path and
    method sections (length prefixes included): a cheap dictionary key for routing and exactly the
    bytes a reply echoes.
    """

    __slots__ = (
        "version",
        "flags",
        "serialize_byte",
        "seq",
        "route",
        "metadata_start",
        "metadata_end",
        "payload_start",
        "payload_end",
        "_frame",
    )

    def __init__(
        self,
        version: int,
        flags: int,
        serialize_byte: int,
        seq: int,
        route: bytes,
        metadata_start: int,
        metadata_end: int,
        payload_start: int,
        payload_end: int,
        frame: Buffer,
    ) -> None:
        self.version = version
        self.flags = flags
        self.serialize_byte = serialize_byte
        self.seq = seq
        self.route = route
        self.metadata_start = metadata_start
        self.metadata_end = metadata_end
        self.payload_start = payload_start
        self.payload_end = payload_end
        self._frame = frame

    @classmethod
    def parse(cls, frame: Buffer) -> "FrameHeader":
        """Read the header of the whole frame ``frame``; a lying length raises a
        :class:`~rpcx.errors.ProtocolError` naming the section that overruns."""
        n = len(frame)
        if n < 32:
            raise MalformedFrameError(f"a frame needs at least 32 bytes, got {n}")
        magic, version, flags, ser, seq, total = _HEAD.unpack_from(frame, 0)
        if magic != MAGIC:
            raise BadMagicError(magic)
        if 16 + total != n:
            raise MalformedFrameError(f"frame announces {total} bytes after its header but holds {n - 16}")
        pos = 16
        for name in ("service path", "service method"):
            (k,) = _U32.unpack_from(frame, pos)
            pos += 4 + k
            if pos + 4 > n:
                raise MalformedFrameError(f"{name} length {k} overruns the frame")
        route = bytes(frame[16:pos])
        (mdl,) = _U32.unpack_from(frame, pos)
        md_start = pos + 4
        md_end = md_start + mdl
        if md_end + 4 > n:
            raise MalformedFrameError(f"metadata length {mdl} overruns the frame")
        (pl,) = _U32.unpack_from(frame, md_end)
        if md_end + 4 + pl > n:
            raise MalformedFrameError(f"payload length {pl} overruns the frame")
        # Go ignores the payload length and takes the rest of the frame; so does this view
        return cls(version, flags, ser, seq, route, md_start, md_end, md_end + 4, n, frame)

    # -- derived fields ---------------------------------------------------------------------------
    @property
    def is_request(self) -> bool:
        """True for a Request frame."""
        return not self.flags & 0x80

    @property
    def heartbeat(self) -> bool:
        """The heartbeat bit."""
        return bool(self.flags & 0x40)

    @property
    def oneway(self) -> bool:
        """The oneway bit: the sender expects no reply."""
        return bool(self.flags & 0x20)

    @property
    def compress_type(self) -> int:
        """The payload's compress type (0: none)."""
        return (self.flags >> 2) & 0x7

    @property
    def status(self) -> int:
        """The message status (1: error)."""
        return self.flags & 0x3

    @property
    def serialize_type(self) -> int:
        """The payload's serialize type."""
        return self.serialize_byte >> 4

    @property
    def service_path(self) -> str:
        """The service path, decoded from the route."""
        (k,) = _U32.unpack_from(self.route, 0)
        return self.route[4 : 4 + k].decode("utf-8", "surrogateescape")

    @property
    def service_method(self) -> str:
        """The service method, decoded from the route."""
        (k,) = _U32.unpack_from(self.route, 0)
        return self.route[8 + k :].decode("utf-8", "surrogateescape")

    @property
    def metadata(self) -> dict[str, str]:
        """The metadata pairs, decoded on each access (routing on a key is the rare case)."""
        from .message import decode_metadata

        return decode_metadata(self._frame, self.metadata_start, self.metadata_end)

    def __repr__(self) -> str:
        kind = "Request" if self.is_request else "Response"
        return (
            f"<FrameHeader {kind} seq={self.seq} {self.service_path}.{self.service_method} flags=0x{self.flags:02x}"
            f" payload={self.payload_end - self.payload_start}B>"
        )


def rewrite_seq(frame: Buffer, seq: int) -> Buffer:
    """``frame`` with only its seq changed.

    A ``bytearray`` is patched in place and returned (no copy at all); ``bytes`` cost one copy,
    the least an immutable frame allows. Nothing else of the frame is read or changed: a
    compressed payload stays compressed.

    >>> rewrite_seq(bytearray(b"\\x08\\x00\\x00\\x30" + bytes(12)), 1)[4:12].hex()
    '0000000000000001'
    """
    if not 0 <= seq <= MAX_SEQ:
        raise LocalProtocolError(f"seq {seq} does not fit the 8-byte seq field")
    if len(frame) < 16 or frame[0] != MAGIC:
        raise LocalProtocolError("rewrite_seq needs a whole rpcx frame")
    if isinstance(frame, bytearray):
        _SEQ.pack_into(frame, 4, seq)
        return frame
    return b"".join((bytes(frame[:4]), _SEQ.pack(seq), bytes(frame[12:])))
