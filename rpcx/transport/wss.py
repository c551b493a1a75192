"""The wss network: rpcx over WebSocket inside TLS (layer: transport); the code is :mod:`.ws`'s.

Rule: only the TLS rule differs from ws, and the contract declares it per module: wss takes TLS
(a server needs a context, as Go's ``must set tlsconfig for wss``; a client without one verifies
the server against the system CAs).

>>> TLS
True
"""

from .ws import RPC_PATH, WebSocketTransport, dial, listen

__all__ = ["TLS", "RPC_PATH", "WebSocketTransport", "listen", "dial"]

TLS = True
