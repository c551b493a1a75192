"""A fast path for WebSocket data frames, next to wsproto (layer: transport, sans-IO).

Rule: wsproto defines the protocol; this codec takes only what it cannot get wrong. On read, it
takes complete-message data frames (FIN set, no RSV bits, text or binary, masked from a client /
unmasked from a server, minimal length encoding, RFC 6455 §5.2) and streams their payloads out as
wsproto would (a partial payload as soon as its header is whole). At the first byte of anything
else (control frames, fragments, reserved bits or opcodes, a wrong mask bit, a non-minimal length)
it stops and hands the bytes from that frame boundary on to wsproto, which judges them. It never
holds back a byte that wsproto would already have acted on: a header is held only while every field
seen so far is one this path takes. On write, ``encode`` gives the bytes wsproto's
``send(BytesMessage(data))`` gives in the OPEN state with no extension (the mask key from
``os.urandom(4)`` on the client side, as wsproto).

>>> frame = encode(b"hello", client=False)
>>> frame
b'\\x82\\x05hello'
>>> out: list[bytes] = []
>>> FrameReader(client=True).feed(frame + b"\\x89\\x00", out), out
(b'\\x89\\x00', [b'hello'])
"""

from __future__ import annotations

import os

__all__ = ["FrameReader", "encode", "unmask"]

_DATA = (0x81, 0x82)  # FIN, no RSV, text or binary: the only first bytes taken here


def unmask(data: bytes, key: bytes) -> bytes:
    """XOR ``data`` with the 4-byte ``key`` repeated (RFC 6455 §5.3), as one big-int XOR.

    >>> unmask(unmask(b"rpcx!", b"abcd"), b"abcd")
    b'rpcx!'
    """
    n = len(data)
    if not n:
        return b""
    pad = (key * ((n >> 2) + 1))[:n]
    return (int.from_bytes(data, "little") ^ int.from_bytes(pad, "little")).to_bytes(n, "little")


def encode(payload: bytes, client: bool) -> bytes:
    """One binary frame with FIN set; masked with a fresh random key when ``client``."""
    n = len(payload)
    bit = 0x80 if client else 0
    if n < 126:
        head = bytes((0x82, bit | n))
    elif n < 0x10000:
        head = bytes((0x82, bit | 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x82, bit | 127)) + n.to_bytes(8, "big")
    if client:
        key = os.urandom(4)
        return head + key + unmask(payload, key)
    return head + payload


class FrameReader:
    """Payloads of whole-message data frames; see the module docstring for what it leaves to wsproto.

    ``client`` is the side this reader is on (a client reads unmasked frames).

    >>> r = FrameReader(client=False)
    >>> out: list[bytes] = []
    >>> r.feed(b"\\x82\\x85\\0\\0\\0\\0he", out), r.idle()   # a masked frame cut in its payload
    (None, False)
    >>> r.feed(b"llo", out), out, r.idle()
    (None, [b'he', b'llo'], True)
    """

    __slots__ = ("client", "_head", "_left", "_key")

    def __init__(self, client: bool) -> None:
        self.client = client
        self._head = b""  # the start of a header this path takes, waiting for the rest
        self._left = 0  # payload bytes still to come in the current frame
        self._key = b""  # its mask key, rotated to the next byte's position

    def idle(self) -> bool:
        """At a frame boundary with nothing held: wsproto may take over from here."""
        return not self._head and not self._left

    def feed(self, data: bytes, out: list[bytes]) -> bytes | None:
        """Append the payload bytes in ``data`` to ``out``. Return None when all of ``data`` was
        taken (or held as a partial header), else the bytes wsproto must see, from a frame start."""
        buf = self._head + data if self._head else data
        self._head = b""
        n = len(buf)
        pos = 0
        if self._left:
            take = min(self._left, n)
            self._left -= take
            pos = take
            key = self._key
            if key:
                out.append(unmask(buf[:take], key))
                r = take & 3
                self._key = key[r:] + key[:r]
            else:
                out.append(buf[:take])
        client = self.client
        while pos < n:
            if buf[pos] not in _DATA:
                return buf[pos:]
            if pos + 2 > n:
                break
            b1 = buf[pos + 1]
            if bool(b1 & 0x80) is client:  # a client reads unmasked frames, a server masked ones
                return buf[pos:]
            length = b1 & 0x7F
            h = pos + 2
            if length == 126:
                if h + 2 > n:
                    break
                length = int.from_bytes(buf[h:h + 2], "big")
                h += 2
                if length < 126:
                    return buf[pos:]  # not minimal: wsproto's error
            elif length == 127:
                if h + 8 > n:
                    break
                length = int.from_bytes(buf[h:h + 8], "big")
                h += 8
                if length < 0x10000 or length >> 63:
                    return buf[pos:]
            key = b""
            if not client:
                if h + 4 > n:
                    break
                key = buf[h:h + 4]
                h += 4
            end = h + length
            if end > n:  # stream what has come, as wsproto does
                if h < n:
                    out.append(unmask(buf[h:], key) if key else buf[h:])
                got = n - h
                self._left = length - got
                r = got & 3
                self._key = key[r:] + key[:r]
                return None
            if length:
                out.append(unmask(buf[h:end], key) if key else buf[h:end])
            pos = end
        self._head = buf[pos:]
        return None
