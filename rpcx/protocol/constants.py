"""Wire enumerations and reserved names of the rpcx protocol (layer: sans-IO core, stdlib only).

Every number here is Go rpcx's own (smallnest/rpcx protocol/message.go, share/share.go); changing one
breaks interop.
"""

from __future__ import annotations

from enum import IntEnum

__all__ = [
    "MAGIC",
    "HEADER_SIZE",
    "MessageType",
    "MessageStatusType",
    "CompressType",
    "SerializeType",
    "SERVICE_ERROR",
    "AUTH_KEY",
    "SERVER_TIMEOUT",
    "DEFAULT_RPC_PATH",
]

#: First byte of every rpcx frame.
MAGIC = 0x08
#: 12-byte fixed header plus the 4-byte total length.
HEADER_SIZE = 16


class MessageType(IntEnum):
    """Bit 7 of the flags byte."""

    REQUEST = 0
    RESPONSE = 1


class MessageStatusType(IntEnum):
    """Bits 1..0 of the flags byte."""

    NORMAL = 0
    ERROR = 1


class CompressType(IntEnum):
    """Bits 4..2 of the flags byte. Go registers only gzip; 2..7 are unassigned."""

    NONE = 0
    GZIP = 1


class SerializeType(IntEnum):
    """High nibble of byte 3. 5..15 may be claimed by custom codecs."""

    NONE = 0  #: raw bytes, passed through untouched
    JSON = 1
    PROTOBUF = 2
    MSGPACK = 3
    THRIFT = 4


#: Response metadata key carrying the error text (with status ERROR).
SERVICE_ERROR = "__rpcx_error__"
#: Request metadata key carrying the auth token.
AUTH_KEY = "__AUTH"
#: Request metadata key: whole milliseconds left before the caller's deadline, as a decimal string.
SERVER_TIMEOUT = "__ServerTimeout"
#: Path used by the HTTP CONNECT and WebSocket transports.
DEFAULT_RPC_PATH = "/_rpcx_"
