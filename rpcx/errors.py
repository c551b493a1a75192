"""One error tree for the whole package, rooted at :class:`RpcxError`.

Adapters (sockets, codecs, registries) translate what they catch into these types, so a caller can
tell a protocol violation from a remote service error from a dead connection without knowing which
transport or codec is in use.
"""

from __future__ import annotations

__all__ = [
    "RpcxError",
    "ProtocolError",
    "RemoteProtocolError",
    "LocalProtocolError",
    "BadMagicError",
    "MessageTooLongError",
    "MalformedFrameError",
    "MetadataError",
    "UnsupportedCompressorError",
    "DecompressedTooLargeError",
    "TruncatedFrameError",
    "CodecError",
    "ServiceError",
    "RpcxConnectionError",
    "ConnectionClosedError",
    "CallTimeoutError",
    "ConnectionTimeoutError",
    "ReadTimeoutError",
    "NoServerAvailableError",
    "ClientClosedError",
    "RegistrationError",
]


class RpcxError(Exception):
    """Base class of every error raised by this package."""


class ProtocolError(RpcxError):
    """The peer sent bytes that are not a valid rpcx frame. The connection cannot continue.

    This is the *remote* protocol error (h11's distinction): the peer broke the protocol. Misuse of
    the protocol objects by local code raises :class:`LocalProtocolError` instead.
    """


#: The name h11 uses for the same thing: the peer broke the protocol.
RemoteProtocolError = ProtocolError


class LocalProtocolError(RpcxError, ValueError):
    """Local code asked the protocol core for something the wire cannot carry (a seq out of range,
    a header field that does not fit, a send on a closed connection). Nothing was sent."""


class BadMagicError(ProtocolError):
    """The first byte of a frame was not 0x08 (Go: ``wrong magic number: <n>``)."""

    def __init__(self, got: int) -> None:
        super().__init__(f"wrong magic number: {got}")
        self.got = got


class MessageTooLongError(ProtocolError):
    """A frame's length header exceeds the configured maximum (Go: ``message is too long``)."""

    def __init__(self, length: int, limit: int) -> None:
        super().__init__(f"message is too long: {length} bytes announced, limit is {limit}")
        self.length = length
        self.limit = limit


class MalformedFrameError(ProtocolError):
    """A section length runs past the end of its frame."""


class MetadataError(MalformedFrameError):
    """Metadata pairs overrun their section (Go: ``wrong metadata lines...``)."""


class UnsupportedCompressorError(ProtocolError):
    """The compress bits name a compressor that is not registered (Go: ``unsupported compressor``)."""

    def __init__(self, compress_type: int) -> None:
        super().__init__(f"unsupported compressor: {compress_type}")
        self.compress_type = compress_type


class DecompressedTooLargeError(ProtocolError):
    """A compressed payload inflates past the configured maximum (a gzip bomb)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"decompressed size exceeds the maximum allowed size ({limit} bytes)")
        self.limit = limit


class TruncatedFrameError(ProtocolError):
    """The stream ended in the middle of a frame."""


class CodecError(RpcxError):
    """A payload could not be encoded or decoded by the selected codec."""


class ServiceError(RpcxError):
    """An error reported by the remote server (status ERROR, text in ``__rpcx_error__``).

    Like Go's ``ServiceError`` it is never retried by the fail modes.

    >>> str(ServiceError("rpcx: can't find service Nope"))
    "rpcx: can't find service Nope"
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class RpcxConnectionError(RpcxError, ConnectionError):
    """Dialling or talking to a server failed at the transport level."""


class ConnectionClosedError(RpcxConnectionError):
    """The connection closed while the call was pending (Go: ``connection is shut down``)."""


class ConnectionTimeoutError(RpcxConnectionError, TimeoutError):
    """A connection timed out as a whole: no frame for ``read_timeout``, a frame left incomplete
    for ``frame_timeout``, or a heartbeat not echoed within its wait."""


class ReadTimeoutError(ConnectionTimeoutError):
    """No whole frame arrived for ``read_timeout`` (an idle connection, closed gracefully)."""


class CallTimeoutError(RpcxError, TimeoutError):
    """The call did not complete before its deadline."""


class NoServerAvailableError(RpcxError):
    """Discovery offered no usable server (Go: ``can not found any server``)."""


class ClientClosedError(RpcxError):
    """The client was closed (Go: ``xClient is shut down``)."""


class RegistrationError(RpcxError, ValueError):
    """A service or function could not be registered."""
