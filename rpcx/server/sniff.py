"""Protocol selection per connection: one port, several protocols (layer: server).

When a server has protocols other than rpcx registered (:meth:`Server.add_protocol`), each new
connection first goes through :func:`sniff`: its first bytes are matched against rpcx (0x08), then
against each registered protocol in order, and the connection is handed, with the bytes already
read, to the first that claims it (h11's ``trailing_data`` idea). A connection no protocol claims
is logged and closed cleanly. With nothing registered there is no sniffing at all: rpcx frames go
straight to the fast path, and a bad first byte is rpcx's own protocol error, as before.

A protocol is an :class:`asyncio.Protocol` made by its factory for the connection; it gets
``connection_made(transport)`` and then ``data_received(first_bytes)``, and from then on every
read, EOF and the loss of the connection. The rpcx gateway (HTTP invoke and JSON-RPC) plugs in here.

>>> from rpcx.protocol.detect import match_http
>>> ProtocolSpec("http", match_http, lambda conn: None).name
'http'
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from ..protocol.detect import Matcher, match_rpcx

if TYPE_CHECKING:
    from .connection import ServerConnection

__all__ = ["ProtocolSpec", "ProtocolFactory", "sniff", "MAX_SNIFF_BYTES"]

log = logging.getLogger("rpcx.server")

#: ``factory(conn) -> asyncio.Protocol``: the handler of one connection that a protocol claimed
ProtocolFactory = Callable[["ServerConnection"], asyncio.Protocol]

#: a matcher still undecided after this many bytes has said no
MAX_SNIFF_BYTES = 64


@dataclass(frozen=True)
class ProtocolSpec:
    """A protocol the server can hand a connection to."""

    name: str
    match: Matcher
    factory: ProtocolFactory


def sniff(conn: "ServerConnection", data: bytes) -> None:
    """Take the first bytes of ``conn`` (more with each call) until one protocol claims it."""
    prefix = conn._sniffed + data if conn._sniffed else data
    verdict = match_rpcx(prefix)
    if verdict:
        conn._stop_sniffing()
        conn.data_received(prefix)
        return
    undecided = verdict is None
    for spec in conn.server._protocols:
        try:
            verdict = spec.match(prefix)
        except Exception:  # noqa: BLE001 - a broken matcher must not take the server down
            log.exception("protocol matcher %s failed", spec.name)
            verdict = False
        if verdict is None and len(prefix) >= MAX_SNIFF_BYTES:
            verdict = False
        if verdict:
            conn._stop_sniffing()
            conn._hand_over(spec, prefix)
            return
        undecided = undecided or verdict is None
    if undecided and len(prefix) < MAX_SNIFF_BYTES:
        # wait for more bytes, but not for ever: the frame timeout covers a first request that
        # never completes, whatever its protocol
        conn._sniffed = prefix
        conn._waiting_for_first_bytes()
        return
    log.warning("closing connection from %s: no protocol on this port speaks %r...", conn.peer, prefix[:16])
    conn._stop_sniffing()
    conn.close()
