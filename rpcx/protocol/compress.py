"""Payload compressors keyed by :class:`CompressType` (layer: sans-IO core, stdlib only).

Decompression is always bounded: a gzip bomb raises :class:`DecompressedTooLargeError` after
inflating at most ``limit + 1`` bytes, never the whole bomb.
"""

from __future__ import annotations

import zlib
from typing import Protocol

from ..errors import DecompressedTooLargeError, MalformedFrameError, UnsupportedCompressorError
from .constants import CompressType

__all__ = ["Compressor", "GzipCompressor", "COMPRESSORS", "compress", "decompress"]


class Compressor(Protocol):
    """What a compressor must provide."""

    def zip(self, data: bytes) -> bytes: ...

    def unzip(self, data: bytes, limit: int) -> bytes: ...


class GzipCompressor:
    """RFC 1952 gzip at zlib's default level, the same stream Go's ``compress/gzip`` reads and writes.

    >>> c = GzipCompressor()
    >>> c.unzip(c.zip(b"hello" * 10), limit=1000)
    b'hellohellohellohellohellohellohellohellohellohello'
    """

    def __init__(self, level: int = 6) -> None:
        self.level = level

    def zip(self, data: bytes) -> bytes:
        """``data`` gzipped."""
        c = zlib.compressobj(self.level, zlib.DEFLATED, 31)
        return c.compress(data) + c.flush()

    def unzip(self, data: bytes, limit: int) -> bytes:
        # Go's gzip.Reader is multistream: concatenated members inflate to their concatenation, and
        # bytes after a member that do not start another member are an error, not silently dropped.
        """``data`` inflated; more than ``limit`` bytes (when ``limit`` > 0) raises DecompressedTooLargeError."""
        parts: list[bytes] = []
        size = 0
        rest = bytes(data)
        try:
            while True:
                d = zlib.decompressobj(31)
                if limit > 0:
                    # room >= 1 here (size <= limit), so zlib's "0 means unbounded" never applies
                    chunk = d.decompress(rest, limit + 1 - size)
                    if size + len(chunk) > limit or d.unconsumed_tail:
                        raise DecompressedTooLargeError(limit)
                else:
                    chunk = d.decompress(rest)
                chunk += d.flush()
                size += len(chunk)
                if limit > 0 and size > limit:
                    raise DecompressedTooLargeError(limit)
                if not d.eof:
                    raise MalformedFrameError("bad gzip payload: stream is truncated")
                parts.append(chunk)
                rest = d.unused_data
                if not rest:
                    return b"".join(parts)
        except zlib.error as exc:
            raise MalformedFrameError(f"bad gzip payload: {exc}") from None


#: Registered compressors. Per-process like Go's ``protocol.Compressors``; add entries for 2..7.
COMPRESSORS: dict[int, Compressor] = {CompressType.GZIP: GzipCompressor()}


def compress(compress_type: int, data: bytes) -> bytes:
    """Compress ``data`` with the compressor registered for ``compress_type``."""
    if compress_type == 0:
        return data
    try:
        return COMPRESSORS[compress_type].zip(data)
    except KeyError:
        raise UnsupportedCompressorError(compress_type) from None


def decompress(compress_type: int, data: bytes, limit: int) -> bytes:
    """Inflate ``data``; ``limit`` > 0 caps the inflated size."""
    if compress_type == 0:
        return data
    try:
        c = COMPRESSORS[compress_type]
    except KeyError:
        raise UnsupportedCompressorError(compress_type) from None
    return c.unzip(data, limit)
