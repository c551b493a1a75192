"""The wire contract of Go rpcx's side channels: file transfer and raw streams (layer: protocol, sans-IO).

Rule: only the standard library, no I/O and no clock (``now`` is passed in). Go rpcx v1.9.4
(server/file_transfer.go, server/stream.go, share/share.go) hands out a side channel in two steps:

1. An rpcx call to ``_filetransfer.TransferFile`` (:class:`FileTransferArgs`),
   ``_filetransfer.DownloadFile`` (:class:`DownloadFileArgs`) or ``_streamservice.Stream``
   (:class:`StreamServiceArgs`) returns ``{Token: 32 random bytes, Addr: "host:port"}``.
2. The client dials ``Addr`` over plain TCP and writes the 32 token bytes; after that the
   connection carries raw bytes with no framing at all: the file (upload, ended by the client's
   close), the file (download, ended by the server's close) or anything both sides like (stream).

The structs cross with Go's names: MessagePack uses the Go field names (``FileName``, ``Token``;
rpcx's codec ignores ``json`` tags), JSON uses the ``json`` tags (``file_name``, ``token`` as
base64). The dataclasses below carry both.

>>> table = TokenTable(capacity=2, ttl=10.0)
>>> table.add(b"t" * TOKEN_SIZE, "upload", now=0.0)
>>> table.take(b"t" * TOKEN_SIZE, now=1.0), table.take(b"t" * TOKEN_SIZE, now=1.0)
('upload', None)
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "FILE_TRANSFER_SERVICE",
    "STREAM_SERVICE",
    "TOKEN_SIZE",
    "NOT_ACCEPTED",
    "FileTransferArgs",
    "FileTransferReply",
    "DownloadFileArgs",
    "StreamServiceArgs",
    "StreamServiceReply",
    "TokenTable",
]

#: Go's ``share.SendFileServiceName``
FILE_TRANSFER_SERVICE = "_filetransfer"
#: Go's ``share.StreamServiceName``
STREAM_SERVICE = "_streamservice"
#: bytes of the token a side connection starts with (Go: ``make([]byte, 32)`` from crypto/rand)
TOKEN_SIZE = 32
#: Go's ``server.ErrNotAccept`` text, the error of a ``Stream`` call the acceptor refused
NOT_ACCEPTED = "server refused the connection"


def _names(go: str, json: str) -> dict[str, str]:
    return {"msgpack": go, "json": json}


@dataclass
class FileTransferArgs:
    """Go's ``share.FileTransferArgs``: the upload request (the file's base name and size)."""

    file_name: str = field(default="", metadata=_names("FileName", "file_name"))
    file_size: int = field(default=0, metadata=_names("FileSize", "file_size"))
    meta: dict[str, str] | None = field(default=None, metadata=_names("Meta", "meta"))


@dataclass
class FileTransferReply:
    """Go's ``share.FileTransferReply``: the token and the side address, for uploads and downloads."""

    token: bytes = field(default=b"", metadata=_names("Token", "token"))
    addr: str = field(default="", metadata=_names("Addr", "addr"))


@dataclass
class DownloadFileArgs:
    """Go's ``share.DownloadFileArgs``: the name of the file the client wants."""

    file_name: str = field(default="", metadata=_names("FileName", "file_name"))
    meta: dict[str, str] | None = field(default=None, metadata=_names("Meta", "meta"))


@dataclass
class StreamServiceArgs:
    """Go's ``share.StreamServiceArgs``."""

    meta: dict[str, str] | None = field(default=None, metadata=_names("Meta", "meta"))


@dataclass
class StreamServiceReply:
    """Go's ``share.StreamServiceReply``."""

    token: bytes = field(default=b"", metadata=_names("Token", "token"))
    addr: str = field(default="", metadata=_names("Addr", "addr"))


class TokenTable:
    """Tokens waiting for their side connection: each is used once, at most ``capacity`` wait
    (the oldest is dropped first, as Go's LRU of ``waitNum``), and one older than ``ttl`` seconds
    is refused (Go keeps tokens until the LRU drops them; an expiry bounds how long a leaked token
    stays good).

    >>> t = TokenTable(capacity=1, ttl=5.0)
    >>> t.add(b"a" * 32, 1, now=0.0); t.add(b"b" * 32, 2, now=0.0)
    >>> t.take(b"a" * 32, now=0.0), t.take(b"b" * 32, now=6.0), len(t)
    (None, None, 0)
    """

    def __init__(self, capacity: int, ttl: float) -> None:
        if capacity < 1:
            raise ValueError(f"TokenTable needs capacity >= 1, got {capacity}")
        self.capacity = capacity
        self.ttl = ttl
        self._tokens: OrderedDict[bytes, tuple[float, Any]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._tokens)

    def add(self, token: bytes, value: Any, *, now: float) -> None:
        """Remember ``token`` for ``value`` until it is taken, expires or is pushed out."""
        self._tokens[token] = (now + self.ttl, value)
        self._tokens.move_to_end(token)
        while len(self._tokens) > self.capacity:
            self._tokens.popitem(last=False)

    def take(self, token: bytes, *, now: float) -> Any | None:
        """The value of a live ``token``, which is then forgotten; None if unknown or expired."""
        self.expire(now)
        entry = self._tokens.pop(token, None)
        return None if entry is None else entry[1]

    def expire(self, now: float) -> None:
        """Forget every token whose time is up (they were added in order, so stop at the first live one)."""
        while self._tokens:
            expires, _ = next(iter(self._tokens.values()))
            if expires > now:
                break
            self._tokens.popitem(last=False)
