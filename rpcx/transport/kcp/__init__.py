"""The kcp network: rpcx over KCP with kcp-go's crypt and FEC, as Go rpcx v1.9.4 (layer: transport).

Rule: the datagrams of kcp-go v5.4.20 as Go rpcx uses it (``kcp.ListenWithOptions(addr, block,
10, 3)`` / ``kcp.DialWithOptions(addr, block, 10, 3)``), so Go and Python peers talk both ways::

    | nonce 16B | crc32 4B | fec seqid 4B | fec flag 2B | size 2B | KCP segments ... |
     <----------- AES-CFB over the whole datagram ---------------------------------->

The layers are small modules: :mod:`.crypt` (AES from ``cryptography``, the ``kcp`` extra),
:mod:`.fec` with :mod:`.reedsolomon` (klauspost's matrix, so Go's parity repairs our losses and
ours repairs Go's), :mod:`.arq` (kcp-go's ARQ, ported) and :mod:`.session` (one session as a
ConnectionTransport). This module owns the UDP sockets:

* **a block crypt is required** on both sides, as Go (``KCP BlockCrypt must be configured``): pass
  ``block=`` to ``listen``/``dial`` (``Server.start("kcp@...", block=...)``, ``Option(kcp_block=...)``),
  made by :func:`block_from_password` as the rpcx examples derive it.
* **the server keys sessions by the peer's address**, as kcp-go's Listener: a valid *data* shard
  from a new address makes a session (its conv read from the KCP header); one from a known
  address with another conv and ``sn == 0`` replaces the old session. Datagrams that fail the CRC
  (garbage, another key) are dropped before any state is made, counted
  (:attr:`KcpListener.dropped`) and logged at most every 10 s; at most ``max_sessions`` sessions
  exist at once (more are dropped the same way). A session that hears nothing for
  ``idle_timeout`` ends and is freed, and datagrams still arriving for it are dropped (a
  tombstone per address and conv) rather than resurrecting it.
* **dial** sends a KCP window probe and waits for the answer (every KCP peer, kcp-go included,
  answers WASK with WINS), so a dial fails fast with ``RpcxConnectionError`` when nobody listens
  (the ICMP error) or the key is wrong (no answer within ``timeout``), where Go's dial never fails.
* KCP has no half-close and no FIN (see :mod:`.session`): the conformance suite's half-close check
  is declared not capable.

>>> TLS
False
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import ssl as _ssl
from typing import Any, cast

from ...errors import RpcxConnectionError, RpcxError
from ..base import Address, ProtocolFactory, refuse_tls
from .arq import SN_OFFSET
from .crypt import AESBlockCrypt, BlockCrypt, block_from_password, open_datagram
from .fec import TYPE_DATA
from .session import SNMP, KcpConfig, KcpSession, KcpStats

__all__ = ["TLS", "KcpListener", "KcpSession", "KcpConfig", "KcpStats", "SNMP", "AESBlockCrypt", "BlockCrypt",
           "block_from_password", "listen", "dial"]

log = logging.getLogger("rpcx.transport")

TLS = False
#: how often a dialing client repeats its probe while waiting for the server's answer
PROBE_EVERY = 0.2
#: how long dropped datagrams of a closed session are recognised (and the bound on remembering them)
_TOMBSTONES = 4096
_LOG_EVERY = 10.0


def _split(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise RpcxError(f"bad kcp address {address!r}: expected HOST:PORT")
    return host.strip("[]"), int(port)


def _need_block(block: Any, verb: str) -> BlockCrypt:
    if block is None:
        raise RpcxError(f"kcp: {verb} needs a block crypt, as Go ('KCP BlockCrypt must be configured'): "
                        "pass block=rpcx.transport.kcp.block_from_password(KEY)")
    if not (hasattr(block, "encrypt") and hasattr(block, "decrypt")):
        raise RpcxError(f"kcp: block={block!r} is not a block crypt (needs encrypt/decrypt)")
    return cast(BlockCrypt, block)


class KcpListener(asyncio.DatagramProtocol):
    """The server's UDP socket and its sessions by peer address (kcp-go's ``Listener``).

    ``close()`` stops accepting new sessions; the socket closes when the last session ends.
    ``dropped`` counts datagrams refused: bad CRC (garbage, another key), malformed, or over
    ``max_sessions``.
    """

    def __init__(self, block: BlockCrypt, factory: ProtocolFactory, config: KcpConfig, max_sessions: int) -> None:
        self._block = block
        self._factory = factory
        self._config = config
        self._max = max_sessions
        self.sessions: dict[Any, KcpSession] = {}
        self._tombstones: dict[tuple[Any, int], float] = {}
        self._transport: asyncio.DatagramTransport | None = None
        self._loop = asyncio.get_running_loop()
        self.accepting = True
        self.address = ""
        self.dropped = 0
        self._dropped_logged = 0
        self._last_log = -_LOG_EVERY

    def connection_made(self, transport: Any) -> None:
        self._transport = transport

    def _drop(self, why: str, addr: Any) -> None:
        self.dropped += 1
        now = self._loop.time()
        if now - self._last_log >= _LOG_EVERY:  # a flood must not flood the log too
            log.warning("kcp %s: dropped %d datagram(s) since the last report; latest from %s: %s",
                        self.address, self.dropped - self._dropped_logged, addr, why)
            self._last_log = now
            self._dropped_logged = self.dropped

    def datagram_received(self, data: bytes, addr: Any) -> None:
        body = open_datagram(self._block, data)
        if body is None:
            SNMP.in_csum_errors += 1
            self._drop("bad checksum (garbage or another key)", addr)
            return
        if len(body) < 8:
            self._drop("too short for an FEC header", addr)
            return
        s = self.sessions.get(addr)
        is_data = int.from_bytes(body[4:6], "little") == TYPE_DATA
        conv = sn = -1
        if is_data and len(body) >= 8 + SN_OFFSET + 4:
            conv = int.from_bytes(body[8:12], "little")
            sn = int.from_bytes(body[8 + SN_OFFSET:12 + SN_OFFSET], "little")
        if s is not None:
            if conv < 0 or conv == s.conv:
                s.shard_received(body)
                return
            if sn != 0:
                return  # another conv mid-stream: kcp-go ignores it too
            s.lost(ConnectionResetError("kcp: the peer started a new session"))  # replaced, as kcp-go
        if conv < 0:
            return  # a parity shard of no session (kcp-go makes sessions from data shards only)
        if not self.accepting:
            return
        expires = self._tombstones.get((addr, conv))
        if expires is not None:
            if expires > self._loop.time():
                return  # the rest of a session that ended: do not bring it back
            del self._tombstones[(addr, conv)]
        if len(self.sessions) >= self._max:
            self._drop(f"{self._max} sessions already", addr)
            return
        assert self._transport is not None
        transport = self._transport
        protocol = self._factory()
        s = KcpSession(self._loop, conv, self._block, self._config, lambda d: transport.sendto(d, addr),
                       protocol, peername=addr, sockname=transport.get_extra_info("sockname"),
                       on_done=self._session_done)
        self.sessions[addr] = s
        protocol.connection_made(s)  # type: ignore[arg-type]  # a ConnectionTransport
        s.shard_received(body)

    def _session_done(self, s: KcpSession) -> None:
        addr = s.get_extra_info("peername")
        if self.sessions.get(addr) is s:
            del self.sessions[addr]
        if len(self._tombstones) >= _TOMBSTONES:
            now = self._loop.time()
            self._tombstones = {k: t for k, t in self._tombstones.items() if t > now}
            while len(self._tombstones) >= _TOMBSTONES:
                del self._tombstones[next(iter(self._tombstones))]
        self._tombstones[(addr, s.conv)] = self._loop.time() + self._config.idle_timeout
        self._maybe_close()

    def _maybe_close(self) -> None:
        if not self.accepting and not self.sessions and self._transport is not None:
            self._transport.close()

    def error_received(self, exc: Exception) -> None:
        pass  # an ICMP error for one peer says nothing about the others; idle timeouts end it

    def connection_lost(self, exc: Exception | None) -> None:
        for s in list(self.sessions.values()):
            s.lost(exc or ConnectionResetError("kcp: the listening socket closed"))

    # -- Listener ------------------------------------------------------------------------------------
    def close(self) -> None:
        self.accepting = False
        self._loop.call_soon(self._maybe_close)

    async def wait_closed(self) -> None:
        return None


class _ClientEndpoint(asyncio.DatagramProtocol):
    """A dialing client's connected UDP socket, carrying one session."""

    def __init__(self, block: BlockCrypt) -> None:
        self._block = block
        self.session: KcpSession | None = None
        self.dropped = 0

    def datagram_received(self, data: bytes, addr: Any) -> None:
        body = open_datagram(self._block, data)
        if body is None:
            self.dropped += 1
            SNMP.in_csum_errors += 1
            if self.session is not None:
                self.session.stats.in_csum_errors += 1
            return
        if self.session is not None:
            self.session.shard_received(body)

    def error_received(self, exc: Exception) -> None:
        # a connected socket hears ICMP errors: "port unreachable" means nobody listens there
        if self.session is not None:
            self.session.lost(ConnectionRefusedError(f"kcp: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        if self.session is not None:
            self.session.lost(exc)


def _config(idle_timeout: float) -> KcpConfig:
    if idle_timeout <= 0:
        raise RpcxError(f"kcp: idle_timeout must be positive, got {idle_timeout}")
    return KcpConfig(idle_timeout=idle_timeout)


async def listen(
    addr: Address, protocol_factory: ProtocolFactory, *, ssl: _ssl.SSLContext | None = None,
    block: BlockCrypt | None = None, idle_timeout: float = 60.0, max_sessions: int = 10000,
) -> KcpListener:
    refuse_tls(addr, ssl)
    crypt = _need_block(block, "listen")
    host, port = _split(addr.address)
    loop = asyncio.get_running_loop()
    config = _config(idle_timeout)
    try:
        transport, listener = await loop.create_datagram_endpoint(
            lambda: KcpListener(crypt, protocol_factory, config, max_sessions), local_addr=(host, port))
    except OSError as exc:
        raise RpcxError(f"kcp: cannot listen on {addr.address}: {exc}") from exc
    bound = transport.get_extra_info("sockname")
    shown = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
    listener.address = f"kcp@{shown}:{bound[1]}"
    return listener


async def dial(
    addr: Address, protocol_factory: ProtocolFactory, *, ssl: _ssl.SSLContext | None = None,
    timeout: float | None = None, server_hostname: str | None = None, block: BlockCrypt | None = None,
    idle_timeout: float = 60.0,
) -> tuple[KcpSession, asyncio.Protocol]:
    refuse_tls(addr, ssl)
    crypt = _need_block(block, "dial")
    host, port = _split(addr.address)
    config = _config(idle_timeout)
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
        family, _, _, _, remote = infos[0]
        transport, endpoint = await loop.create_datagram_endpoint(
            lambda: _ClientEndpoint(crypt), remote_addr=(str(remote[0]), int(remote[1])), family=family)
    except OSError as exc:
        raise RpcxConnectionError(f"kcp: cannot dial {addr.address}: {exc}") from exc
    protocol = protocol_factory()
    conv = int.from_bytes(os.urandom(4), "little")  # a random conv, as kcp-go's DialWithOptions
    session = KcpSession(loop, conv, crypt, config, transport.sendto, protocol,
                         peername=transport.get_extra_info("peername"),
                         sockname=transport.get_extra_info("sockname"),
                         on_done=lambda s: transport.close())
    endpoint.session = session
    limit = loop.time() + (timeout if timeout is not None else 10.0)
    try:
        while not session.heard.done():
            session.probe()
            left = limit - loop.time()
            if left <= 0:
                raise TimeoutError("no answer")
            try:
                await asyncio.wait_for(asyncio.shield(session.heard), min(PROBE_EVERY, left))
            except asyncio.TimeoutError:
                continue
        session.heard.result()
    except (ConnectionError, TimeoutError, OSError) as exc:
        session._protocol = asyncio.Protocol()  # the caller's protocol never saw connection_made
        session.abort()
        transport.close()
        why = "no answer (nobody listening, or another key?)" if isinstance(exc, TimeoutError) else str(exc)
        raise RpcxConnectionError(f"kcp: dial {addr.address} failed: {why}") from exc
    protocol.connection_made(session)  # type: ignore[arg-type]  # a ConnectionTransport
    return session, protocol
