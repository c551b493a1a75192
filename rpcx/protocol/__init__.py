"""The rpcx wire protocol, with no I/O (in the manner of h11): shared by server, client, gateway and proxy.

Only the standard library is imported here; a test checks that rule.
"""

from .constants import (
    AUTH_KEY,
    DEFAULT_RPC_PATH,
    HEADER_SIZE,
    MAGIC,
    SERVER_TIMEOUT,
    SERVICE_ERROR,
    CompressType,
    MessageStatusType,
    MessageType,
    SerializeType,
)
from .compress import COMPRESSORS, GzipCompressor
from .decoder import DEFAULT_MAX_DECOMPRESSED_LENGTH, DEFAULT_MAX_MESSAGE_LENGTH, FrameDecoder, Limits
from .connection import (
    ConnectionStatistics,
    ConnectionTerminated,
    EndOfStream,
    Event,
    FrameIgnored,
    HeartbeatAnswered,
    HeartbeatReceived,
    PushReceived,
    RequestReceived,
    ResponseReceived,
    Role,
    RpcxConnection,
    State,
)
from .header import FrameHeader, rewrite_seq
from .heartbeat import HeartbeatSchedule, heartbeat_echo, heartbeat_request
from .message import (
    COMPRESS_THRESHOLD,
    Message,
    decode_metadata,
    encode,
    encode_metadata,
    make_response,
    parse_frame,
)

__all__ = [
    "ConnectionStatistics",
    "ConnectionTerminated",
    "EndOfStream",
    "Event",
    "FrameHeader",
    "FrameIgnored",
    "HeartbeatAnswered",
    "HeartbeatReceived",
    "PushReceived",
    "RequestReceived",
    "ResponseReceived",
    "Role",
    "RpcxConnection",
    "State",
    "rewrite_seq",
    "AUTH_KEY",
    "COMPRESS_THRESHOLD",
    "COMPRESSORS",
    "DEFAULT_MAX_DECOMPRESSED_LENGTH",
    "DEFAULT_MAX_MESSAGE_LENGTH",
    "DEFAULT_RPC_PATH",
    "HEADER_SIZE",
    "MAGIC",
    "SERVER_TIMEOUT",
    "SERVICE_ERROR",
    "CompressType",
    "FrameDecoder",
    "GzipCompressor",
    "HeartbeatSchedule",
    "Limits",
    "Message",
    "MessageStatusType",
    "MessageType",
    "SerializeType",
    "decode_metadata",
    "encode",
    "encode_metadata",
    "heartbeat_echo",
    "heartbeat_request",
    "make_response",
    "parse_frame",
]
