"""kcp-go's block crypt and its nonce+CRC32 header (layer: transport/kcp).

Rule: every datagram is ``| nonce 16B | crc32 4B | body |`` with the whole of it encrypted by
AES in CFB mode (128-bit feedback) with kcp-go's fixed IV and a fresh cipher per datagram, as
kcp-go v5's ``NewAESBlockCrypt`` and ``UDPSession.output``/``packetInput`` do; the CRC32 (IEEE) covers
the body, so a datagram sealed with another key (or garbage) fails the check and is dropped.
The AES itself is ``cryptography``'s (the ``kcp`` extra); nothing cryptographic is written here.

rpcx's examples derive the key from a password as ``pbkdf2(sha1, password, "rpcx-salt", 4096,
32)`` (AES-256): :func:`block_from_password`.

>>> block = block_from_password("rpcx-key")
>>> opened = open_datagram(block, seal(block, b"payload"))
>>> opened
b'payload'
>>> open_datagram(block_from_password("other"), seal(block, b"payload")) is None
True
"""

from __future__ import annotations

import hashlib
import os
import zlib
from typing import Protocol

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

try:  # cryptography >= 43 moved CFB to "decrepit" and warns on the old path
    from cryptography.hazmat.decrepit.ciphers.modes import CFB
except ImportError:  # pragma: no cover - older cryptography
    from cryptography.hazmat.primitives.ciphers.modes import CFB  # type: ignore[assignment]

__all__ = ["BlockCrypt", "AESBlockCrypt", "block_from_password", "seal", "open_datagram",
           "NONCE_SIZE", "CRC_SIZE", "HEADER_SIZE", "RPCX_SALT"]

NONCE_SIZE = 16
CRC_SIZE = 4
HEADER_SIZE = NONCE_SIZE + CRC_SIZE
#: kcp-go's ``initialVector`` (crypt.go), used for every datagram
IV = bytes([167, 115, 79, 156, 18, 172, 27, 1, 164, 21, 242, 193, 252, 120, 230, 107])
#: the salt of the rpcx examples' key derivation (kcptun uses "kcp-go")
RPCX_SALT = b"rpcx-salt"


class BlockCrypt(Protocol):
    """What the kcp transport needs of a cipher (kcp-go's ``BlockCrypt``): whole-datagram
    encrypt/decrypt, same length out as in."""

    def encrypt(self, data: bytes) -> bytes: ...

    def decrypt(self, data: bytes) -> bytes: ...


class AESBlockCrypt:
    """kcp-go's ``NewAESBlockCrypt(key)``: AES-128/192/256 by key length (16/24/32 bytes), CFB
    with the fixed IV.

    >>> AESBlockCrypt(bytes(32)).encrypt(bytes(4)).hex()
    'd8ce732c'
    """

    def __init__(self, key: bytes) -> None:
        if len(key) not in (16, 24, 32):
            raise ValueError(f"an AES key is 16, 24 or 32 bytes, not {len(key)}")
        self._cipher = Cipher(algorithms.AES(key), CFB(IV))

    def encrypt(self, data: bytes) -> bytes:
        enc = self._cipher.encryptor()
        return enc.update(data) + enc.finalize()

    def decrypt(self, data: bytes) -> bytes:
        dec = self._cipher.decryptor()
        return dec.update(data) + dec.finalize()


def block_from_password(password: str | bytes, salt: bytes = RPCX_SALT) -> AESBlockCrypt:
    """The rpcx examples' key: ``pbkdf2.Key(password, "rpcx-salt", 4096, 32, sha1.New)`` -> AES-256."""
    if isinstance(password, str):
        password = password.encode()
    return AESBlockCrypt(hashlib.pbkdf2_hmac("sha1", password, salt, 4096, 32))


def seal(block: BlockCrypt, body: bytes) -> bytes:
    """One datagram: random nonce, CRC32 of ``body``, ``body``; all encrypted."""
    return block.encrypt(os.urandom(NONCE_SIZE) + zlib.crc32(body).to_bytes(4, "little") + body)


def open_datagram(block: BlockCrypt, datagram: bytes) -> bytes | None:
    """The body of a datagram, or None when it is too short or its CRC does not match (wrong key,
    corruption, garbage): kcp-go drops those (``InCsumErrors``)."""
    if len(datagram) < HEADER_SIZE:
        return None
    plain = block.decrypt(datagram)
    body = plain[HEADER_SIZE:]
    if zlib.crc32(body) != int.from_bytes(plain[NONCE_SIZE:HEADER_SIZE], "little"):
        return None
    return body
