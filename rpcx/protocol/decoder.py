"""Incremental frame decoding with limits (layer: sans-IO core, stdlib only).

Feed it whatever a socket read returned, split anywhere or holding many frames, and get back the
complete frames. Bad input raises a :class:`~rpcx.errors.ProtocolError` subclass as early as the bytes
allow: a wrong magic byte on the first byte, an oversized length as soon as the 16-byte header is in,
so a hostile peer can never make this buffer more than ``max_message_length + 16`` bytes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

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
            src = data  # fast path: parse straight from the read, copy only a leftover tail
        out: list = []
        pos = 0
        n = len(src)
        max_len = self._max_len
        try:
            while pos < n:
                if src[pos] != MAGIC:
                    raise BadMagicError(src[pos])
                if n - pos < 16:
                    break
                (total,) = _TOTAL.unpack_from(src, pos + 12)
                if max_len and total > max_len:
                    raise MessageTooLongError(total, max_len)
                end = pos + 16 + total
                if end > n:
                    break
                if parse:
                    out.append(
                        parse_frame(src, pos, max_decompressed_length=self._max_unzip, decompress=self._decompress)
                    )
                elif pos == 0 and end == n and src is data and type(data) is bytes:
                    out.append(data)  # the whole read is one frame: no copy
                else:
                    out.append(bytes(src[pos:end]))
                pos = end
        except Exception as exc:
            # frames that arrived whole before the bad bytes are still delivered, on the error
            exc.frames = out  # type: ignore[attr-defined]
            self._failed = exc
            self._buf = bytearray()
            raise
        if src is buf:
            del buf[:pos]
        elif pos < n:
            buf += data[pos:] if pos else data
        return out

    def eof(self) -> None:
        """The stream ended. Raises :class:`TruncatedFrameError` if a frame was cut short."""
        if self._buf and self._failed is None:
            held = len(self._buf)
            self._buf = bytearray()
            raise TruncatedFrameError(f"connection closed in the middle of a frame ({held} bytes buffered)")
