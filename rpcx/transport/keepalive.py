"""TCP keep-alive on a connection's socket, as Go's ``TCPConn.SetKeepAlivePeriod`` (layer: transport).

Rule: only a TCP socket is touched (tcp, tcp4, tcp6, reuseport, and the http and ws tunnels over
them, with or without TLS); unix, memory and QUIC connections are left alone. Keep-alive is turned
on and the idle time before the first probe set to the period in whole seconds, rounded up, as Go
1.26 does (the probe interval and count stay the OS's). Client and server call it on every new
connection with their ``tcp_keepalive_period`` (Go's ``Option.TCPKeepAlivePeriod``, one minute,
and the server's ``TCPKeepAlivePeriod`` option, three minutes).
"""

from __future__ import annotations

import math
import socket
from typing import Any

__all__ = ["set_keepalive"]


def set_keepalive(transport: Any, period: float | None) -> bool:
    """Turn keep-alive on for ``transport``'s TCP socket with ``period`` seconds of idle time before
    probing; None or 0 leaves the socket as it is. Returns whether a TCP socket was configured.

    >>> set_keepalive(None, 60.0), set_keepalive(object(), None)
    (False, False)
    """
    if not period or period <= 0 or transport is None or not hasattr(transport, "get_extra_info"):
        return False
    sock = transport.get_extra_info("socket")
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6) or sock.type != socket.SOCK_STREAM:
        return False
    secs = max(1, math.ceil(period))
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        idle = getattr(socket, "TCP_KEEPIDLE", None) or getattr(socket, "TCP_KEEPALIVE", None)  # macOS: KEEPALIVE
        if idle is not None:
            sock.setsockopt(socket.IPPROTO_TCP, idle, secs)
    except OSError:  # the peer already went away: nothing to keep alive
        return False
    return True
