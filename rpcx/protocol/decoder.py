"""Incremental frame decoding with limits (layer: sans-IO core, stdlib only).

Feed it whatever a socket read returned, split anywhere or holding many frames, and get back the
complete frames. Bad input raises a :class:`~rpcx.errors.ProtocolError` subclass as early as the bytes
allow: a wrong magic byte on the first byte, an oversized length as soon as the 16-byte header is in,
so a hostile peer can never make this buffer more than ``max_message_length + 16`` bytes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .._accel import speedups as _speedups
from ..errors import BadMagicError, MessageTooLongError, TruncatedFrameError
from .constants import MAGIC
from .message import Message, parse_frame

__all__ = ["Limits", "FrameDecoder", "DEFAULT_MAX_MESSAGE_LENGTH", "DEFAULT_MAX_DECOMPRESSED_LENGTH"]

#: Default cap on a frame's announced length (Go's default is unlimited; ours is on).
DEFAULT_MAX_MESSAGE_LENGTH = 32 * 1024 * 1024
#: Default cap on a payload's size after decompression (the gzip-bomb guard, Go #942).
DEFAULT_MAX_DECOMPRESSED_LENGTH = 64 * 1024 * 1024

_TOTAL = struct.Struct(">I")


@dataclass(frozen=True)
class Limits:
    """Size limits applied to inbound frames. 0 means unlimited (Go's default; not recommended).

    >>> Limits().max_message_length
    33554432
    """

    max_message_length: int = DEFAULT_MAX_MESSAGE_LENGTH
    max_decompressed_length: int = DEFAULT_MAX_DECOMPRESSED_LENGTH


def py_split_frames(src: bytes | bytearray, max_len: int) -> tuple[list[bytes], int, int, int]:
    """Cut the whole frames off the front of ``src``: ``(frames, consumed, error_kind, error_value)``.

    ``error_kind`` is 0 (none), 1 (a bad magic byte, ``error_value`` the byte) or 2 (an announced
    length over ``max_len``, ``error_value`` the length; ``max_len`` 0 means no limit). Frames
    before the error are still returned. A ``bytes`` read that is exactly one frame is returned
    as is, not copied. rpcx/_speedups.c has the C twin.

    >>> from rpcx.protocol.message import encode
    >>> f = encode(Message(service_path="A", service_method="B"))
    >>> frames, used, kind, _ = py_split_frames(f + f[:3], 0)
    >>> len(frames), used == len(f), kind
    (1, True, 0)
    >>> py_split_frames(b"GET /", 0)[2:]
    (1, 71)
    """
    out: list[bytes] = []
    pos = 0
    n = len(src)
    while pos < n:
        if src[pos] != MAGIC:
            return out, pos, 1, src[pos]
        if n - pos < 16:
            break
        (total,) = _TOTAL.unpack_from(src, pos + 12)
        if max_len and total > max_len:
            return out, pos, 2, total
        end = pos + 16 + total
        if end > n:
            break
        if pos == 0 and end == n and type(src) is bytes:
            out.append(src)  # the whole read is one frame: no copy
        else:
            out.append(bytes(src[pos:end]))
        pos = end
    return out, pos, 0, 0


split_frames = _speedups.split_frames if _speedups is not None else py_split_frames


class FrameDecoder:
    """Turns a byte stream into :class:`Message` objects.

    >>> from rpcx.protocol.message import encode
    >>> frame = encode(Message(service_path="A", service_method="B", payload=b"x"))
    >>> d = FrameDecoder()
    >>> d.feed(frame[:5]), len(d.feed(frame[5:] + frame))
    ([], 2)

    After an error the decoder is poisoned: the stream has lost its framing and cannot be resumed.
    The frames that were complete before the bad bytes ride on the exception as ``exc.frames``, so
    a caller can still answer them before closing.
    """

    __slots__ = ("_buf", "_max_len", "_max_unzip", "_decompress", "_failed")

    def __init__(self, limits: Limits = Limits(), *, decompress: bool = True) -> None:
        self._buf = bytearray()
        self._max_len = limits.max_message_length
        self._max_unzip = limits.max_decompressed_length
        self._decompress = decompress
        self._failed: Exception | None = None

    @property
    def buffered(self) -> int:
        """Bytes held that do not yet make a whole frame."""
        return len(self._buf)

    @property
    def max_message_length(self) -> int:
        """The limit on a frame's announced length (0: none)."""
        return self._max_len

    @property
    def failed(self) -> Exception | None:
        """The error that ended the stream, or None while it is healthy."""
        return self._failed

    def feed(self, data: bytes) -> list[Message]:
        """Add bytes; return every frame completed by them, in order, parsed."""
        return self._feed(data, True)  # type: ignore[return-value]

    def feed_frames(self, data: bytes) -> list[bytes]:
        """Like :meth:`feed`, but return each complete frame as its raw bytes, sections unparsed.

        The magic byte and the length limit are still checked. Servers use this to look at a
        frame's header first (see :func:`~rpcx.protocol.message.peek_route`) and a proxy to forward
        frames untouched; :func:`~rpcx.protocol.message.parse_frame` parses one fully.
        """
        return self._feed(data, False)  # type: ignore[return-value]

    def _feed(self, data: bytes, parse: bool) -> list[Message] | list[bytes]:
        if self._failed is not None:
            # the frames that rode on the first raise were delivered then; never hand them out twice
            self._failed.frames = []  # type: ignore[attr-defined]
            raise self._failed
        buf = self._buf
        if buf:
            buf += data
            src: bytes | bytearray = buf
        else:
            src = data  # fast path: split straight from the read, copy only a leftover tail
        frames, pos, kind, value = split_frames(src, self._max_len)
        out: list = frames
        try:
            if parse:
                out = []
                for frame in frames:
                    out.append(parse_frame(frame, max_decompressed_length=self._max_unzip, decompress=self._decompress))
            if kind == 1:
                raise BadMagicError(value)
            if kind == 2:
                raise MessageTooLongError(value, self._max_len)
        except Exception as exc:
            # frames that arrived whole before the bad bytes are still delivered, on the error
            exc.frames = out  # type: ignore[attr-defined]
            self._failed = exc
            self._buf = bytearray()
            raise
        if src is buf:
            del buf[:pos]
        elif pos < len(data):
            buf += data[pos:] if pos else data
        return out

    def eof(self) -> None:
        """The stream ended. Raises :class:`TruncatedFrameError` if a frame was cut short."""
        if self._buf and self._failed is None:
            held = len(self._buf)
            self._buf = bytearray()
            raise TruncatedFrameError(f"connection closed in the middle of a frame ({held} bytes buffered)")
