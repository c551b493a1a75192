"""A limit on open connections (layer: server plugins).

Rule: a connection accepted while ``max_connections`` are open is closed at once. Open connections
are the ones this plugin admitted that are not closed yet, so a connection another plugin refused
after this one admitted it is not counted. Only ``post_conn_accept``: the fast path stays on.
"""

from __future__ import annotations

import logging
from typing import Any

__all__ = ["ConnectionLimit"]

log = logging.getLogger("rpcx.server")


class ConnectionLimit:
    """Accept at most ``max_connections`` connections at a time.

    >>> class Conn: closed = False
    >>> lim = ConnectionLimit(1); a, b = Conn(), Conn()
    >>> lim.post_conn_accept(a), lim.post_conn_accept(b)
    (True, False)
    >>> a.closed = True; lim.post_conn_accept(b)
    True
    """

    def __init__(self, max_connections: int) -> None:
        if max_connections < 1:
            raise ValueError(f"ConnectionLimit needs max_connections >= 1, got {max_connections}")
        self.max_connections = max_connections
        self._admitted: set[Any] = set()

    @property
    def open(self) -> int:
        """Connections admitted and not closed yet."""
        self._admitted = {c for c in self._admitted if not c.closed}
        return len(self._admitted)

    def post_conn_accept(self, conn: Any) -> bool:
        if self.open >= self.max_connections:
            log.info("ConnectionLimit: %d connections open; refused %s", self.max_connections,
                     getattr(conn, "peer", conn))
            return False
        self._admitted.add(conn)
        return True

    def post_conn_close(self, conn: Any) -> None:
        self._admitted.discard(conn)
