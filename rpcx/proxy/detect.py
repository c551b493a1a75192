"""Protocol detection on the proxy's port: TLS and plain rpcx on one tcp port, anything else closed
with a log line saying what it looked like (layer: proxy, asyncio adapter).

The server tells protocols apart by the first bytes (:mod:`rpcx.protocol.detect`,
:mod:`rpcx.server.sniff`) once a connection's transport exists. TLS cannot be told apart that way,
since the bytes read would be the start of the TLS handshake and asyncio's TLS layer cannot be
given bytes already read. So :class:`DetectingListener` accepts the sockets itself and **peeks** at
the first byte (``MSG_PEEK``: nothing is consumed) before any transport exists: ``0x08`` (rpcx's
magic) gets a plain transport, ``0x16`` (a TLS handshake record) a TLS one, and anything else is
logged and closed. It is what a listener with ``tls: {cert, key, plaintext: true}`` uses on tcp,
tcp4 and tcp6. A connection that sends nothing within ``first_byte_timeout`` is closed too. With
the proxy's ``http: true`` a first byte that may start an HTTP request line gets a plain transport
as well (the client connection then tells HTTP from the rest: :mod:`rpcx.proxy.httpgw`).

On a plain listener the decoder's "wrong magic number" error is explained the same way by
:func:`explain_bad_start` (a client speaking TLS or HTTP to it).

>>> explain_bad_start(b"GET / HTTP/1.1\\r\\n")
'it speaks HTTP, not rpcx'
>>> explain_bad_start(b"\\x16\\x03\\x01\\x02\\x00")
'it speaks TLS, and this listener takes plain rpcx only (tls: in the config turns TLS on)'
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl as _ssl
from typing import Callable

from ..protocol.constants import MAGIC
from ..protocol.detect import match_http, match_tls
from ..transport.base import Address
from ..transport.tcp import split_host_port

__all__ = ["DetectingListener", "explain_bad_start", "DETECT_NETWORKS"]

log = logging.getLogger("rpcx.proxy")

#: the networks a detecting listener serves (sockets whose first byte can be peeked at)
DETECT_NETWORKS = {"tcp": socket.AF_UNSPEC, "tcp4": socket.AF_INET, "tcp6": socket.AF_INET6}

_TLS_RECORD_HANDSHAKE = 0x16


def explain_bad_start(data: bytes) -> str | None:
    """What a client that did not start with rpcx's magic byte seems to speak (None: no idea)."""
    if match_tls(data[:2]):
        return "it speaks TLS, and this listener takes plain rpcx only (tls: in the config turns TLS on)"
    if match_http(data[:8]):
        return "it speaks HTTP, not rpcx"
    return None


class DetectingListener:
    """A tcp listener taking rpcx in plain text and over TLS on one port (see the module docstring).

    >>> DetectingListener.__name__
    'DetectingListener'
    """

    def __init__(self, sock: socket.socket, network: str, factory: Callable[[], asyncio.Protocol],
                 tls: _ssl.SSLContext, first_byte_timeout: float | None, http: bool = False) -> None:
        self._sock = sock
        self._factory = factory
        self._tls = tls
        self._timeout = first_byte_timeout
        #: a first byte that may start an HTTP request line goes to the plain transport, whose
        #: connection tells HTTP from the rest (the proxy's ``http: true``)
        self._http = http
        host, port = sock.getsockname()[:2]
        self.address = f"{network}@[{host}]:{port}" if ":" in host else f"{network}@{host}:{port}"
        self._classifying: set[asyncio.Task[None]] = set()
        self._task = asyncio.get_running_loop().create_task(self._accept())

    @classmethod
    async def listen(cls, addr: Address, factory: Callable[[], asyncio.Protocol], tls: _ssl.SSLContext,
                     first_byte_timeout: float | None = None, backlog: int = 1024,
                     http: bool = False) -> "DetectingListener":
        """Bind ``addr`` (tcp, tcp4 or tcp6) and start accepting."""
        loop = asyncio.get_running_loop()
        host, port = split_host_port(addr.address)
        infos = await loop.getaddrinfo(host or None, port, family=DETECT_NETWORKS[addr.network],
                                       type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _, sockaddr = infos[0]
        sock = socket.socket(family, kind, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(sockaddr)
            sock.listen(backlog)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        return cls(sock, addr.network, factory, tls, first_byte_timeout, http)

    async def _accept(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                conn, peer = await loop.sock_accept(self._sock)
            except OSError as exc:  # out of descriptors, say: carry on after a breath
                if self._sock.fileno() < 0:
                    return
                log.warning("proxy listener %s: accept failed: %s", self.address, exc)
                await asyncio.sleep(0.1)
                continue
            conn.setblocking(False)
            task = loop.create_task(self._classify(conn, peer))
            self._classifying.add(task)
            task.add_done_callback(self._classifying.discard)

    async def _classify(self, conn: socket.socket, peer: object) -> None:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._timeout):
                first = await self._peek(conn)
        except TimeoutError:
            log.warning("closing connection from %s: it sent nothing within %gs", peer, self._timeout)
            conn.close()
            return
        except (OSError, asyncio.CancelledError):
            conn.close()
            raise
        if not first:  # it closed before sending anything
            conn.close()
            return
        if first[0] == MAGIC or (self._http and match_http(first) is not False):
            tls = None
        elif first[0] == _TLS_RECORD_HANDSHAKE:
            tls = self._tls
        else:
            try:  # read what came, so that closing is a clean FIN rather than a reset
                first = conn.recv(64)
            except OSError:
                pass
            what = explain_bad_start(first) or "it speaks neither rpcx nor TLS"
            log.warning("closing connection from %s: %s (first bytes %r)", peer, what, first[:16])
            conn.close()
            return
        try:
            await loop.connect_accepted_socket(self._factory, conn, ssl=tls,
                                               ssl_handshake_timeout=self._timeout if tls is not None else None)
        except (OSError, _ssl.SSLError, ConnectionError, TimeoutError) as exc:
            log.warning("closing connection from %s: TLS handshake failed: %s", peer, exc)
            conn.close()

    @staticmethod
    async def _peek(conn: socket.socket) -> bytes:
        """The first byte of ``conn``, left unread (b"" if it closed)."""
        loop = asyncio.get_running_loop()
        while True:
            try:
                return conn.recv(1, socket.MSG_PEEK)
            except (BlockingIOError, InterruptedError):
                pass
            ready: asyncio.Future[None] = loop.create_future()

            def wake() -> None:
                if not ready.done():
                    ready.set_result(None)

            loop.add_reader(conn.fileno(), wake)
            try:
                await ready
            finally:
                loop.remove_reader(conn.fileno())

    def close(self) -> None:
        """Stop accepting (connections already handed to the proxy stay; undecided ones close)."""
        self._task.cancel()
        for task in list(self._classifying):
            task.cancel()
        self._sock.close()

    async def wait_closed(self) -> None:
        """Return once the accept loop and the undecided connections are done."""
        for task in [self._task, *self._classifying]:
            try:
                await task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - closing: their errors are moot
                pass
