"""One KCP session as a ConnectionTransport (layer: transport/kcp).

Rule: a session is kcp-go's ``UDPSession`` minus its goroutines: datagrams come in through
:meth:`KcpSession.shard_received` (already decrypted and CRC-checked by the endpoint that owns the
socket), go out through ``send(datagram)``, and a timer on the event loop drives the ARQ's flush
(kcp-go's ``updater``). Facing rpcx it is a :class:`~rpcx.transport.ConnectionTransport`:

* **stream mode** both ways: writes are cut into mss-sized segments (and coalesced with what is
  queued), reads hand every in-order byte to the protocol; message-mode segments (frg > 0) from a
  peer are reassembled before they are handed up, so either kind of Go peer is understood.
* **backpressure**: ``get_write_buffer_size()`` is the bytes the peer has not acknowledged; over
  64 KiB the protocol gets ``pause_writing``, at 16 KiB ``resume_writing``. While reading is paused
  nothing is taken out of the ARQ's receive queue, so the window advertised to the peer closes and
  the peer stops sending (KCP's own flow control bounds what queues here).
* **no FIN**: KCP has none (kcp-go's ``Close`` just forgets the session). ``close()`` waits until
  the peer has acknowledged everything written (at most ``CLOSE_LINGER``), then ends locally;
  ``can_write_eof()`` is False. The peer notices by silence: a session that hears nothing for
  ``idle_timeout`` ends with ``connection_lost(TimeoutError)``, and so does one whose segment
  went out 20 times (kcp-go's ``dead_link``) without an ACK (a closed peer drops what it gets). To tell an idle peer from a gone
  one, a session that has heard nothing for ``idle_timeout / 4`` sends a KCP window probe (WASK),
  which every KCP peer (kcp-go included) answers with WINS.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any, Callable

from .arq import ASK_SEND, ASK_TELL, Kcp
from .crypt import HEADER_SIZE as CRYPT_HEADER
from .crypt import BlockCrypt, seal
from .fec import TYPE_DATA, TYPE_PARITY, FecDecoder, FecEncoder

__all__ = ["KcpConfig", "KcpSession", "KcpStats", "SNMP"]

log = logging.getLogger("rpcx.transport")

HIGH_WATER = 64 << 10
LOW_WATER = 16 << 10
CLOSE_LINGER = 10.0


@dataclass(frozen=True)
class KcpConfig:
    """Per-session settings. The wire format (crypt, FEC 10+3, 1400-byte datagrams) is Go rpcx's;
    the ARQ tuning is local: kcp-go's "fast" profile (``NoDelay(1, 10, 2, 1)``) with 128-segment
    windows, and ACKs sent at once (what rpcx's example server turns on with ``SetACKNoDelay``)."""

    data_shards: int = 10
    parity_shards: int = 3
    mtu: int = 1400
    nodelay: int = 1
    interval: int = 10
    resend: int = 2
    no_congestion: bool = True
    send_window: int = 128
    recv_window: int = 128
    ack_nodelay: bool = True
    idle_timeout: float = 60.0


class KcpStats:
    """Counters of one session (and, as :data:`SNMP`, of the whole process), named as kcp-go's
    ``Snmp`` where they mean the same.

    >>> KcpStats().fec_recovered
    0
    """

    __slots__ = ("in_pkts", "out_pkts", "in_csum_errors", "in_errs", "kcp_in_errors", "fec_recovered",
                 "fec_parity_shards", "fec_errs", "lost_segs", "fast_retrans_segs")

    def __init__(self) -> None:
        self.in_pkts = 0  #: datagrams that passed the crypt layer
        self.out_pkts = 0  #: KCP datagrams sent (parity shards not counted)
        self.in_csum_errors = 0  #: datagrams dropped for a bad CRC (garbage, another key)
        self.in_errs = 0  #: malformed FEC shards
        self.kcp_in_errors = 0  #: KCP input refused (another conv, truncated, unknown command)
        self.fec_recovered = 0  #: data shards rebuilt from parity
        self.fec_parity_shards = 0  #: parity shards received
        self.fec_errs = 0  #: recovered shards with an impossible size
        self.lost_segs = 0  #: segments sent again after their retransmission timeout
        self.fast_retrans_segs = 0  #: segments sent again early (fast or early retransmit)

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__slots__}

    def __repr__(self) -> str:
        return f"KcpStats({self.as_dict()})"


#: process-wide counters (kcp-go's ``DefaultSnmp``)
SNMP = KcpStats()


def _now_ms() -> int:
    return int(time.monotonic() * 1000) & 0xFFFFFFFF


class KcpSession:
    """The rpcx side of one KCP session: a :class:`~rpcx.transport.ConnectionTransport`.

    >>> from rpcx.transport import ConnectionTransport
    >>> issubclass(KcpSession, ConnectionTransport)
    True
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, conv: int, block: BlockCrypt, config: KcpConfig,
                 send: Callable[[bytes], None], protocol: asyncio.Protocol, *, peername: Any, sockname: Any,
                 on_done: Callable[["KcpSession"], None] | None = None) -> None:
        self._loop = loop
        self._block = block
        self._config = config
        self._send = send
        self._protocol = protocol
        self._peername = peername
        self._sockname = sockname
        self._on_done = on_done
        self.conv = conv
        self.stats = KcpStats()
        self.kcp = Kcp(conv, self._output, mtu=config.mtu, reserved=CRYPT_HEADER + 8)
        self.kcp.nodelay_mode(config.nodelay, config.interval, config.resend, config.no_congestion)
        self.kcp.window(config.send_window, config.recv_window)
        self.kcp.stream = True
        self._fec_enc = FecEncoder(config.data_shards, config.parity_shards)
        self._fec_dec = FecDecoder(config.data_shards, config.parity_shards)
        self._closing = False
        self._done = False
        self._write_paused = False
        self._reading_paused = False
        self._flush_soon: asyncio.Handle | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._linger_until = 0.0
        self.last_heard = loop.time()
        self._last_probe = 0.0
        self._slow = False
        #: set on the first datagram from the peer (the dial waits for it)
        self.heard = loop.create_future()
        self._schedule(0)

    # -- from the socket ------------------------------------------------------------------------
    def shard_received(self, shard: bytes) -> None:
        """One FEC shard (a datagram's body after the crypt layer) from the peer."""
        if self._done:
            return
        self.stats.in_pkts += 1
        SNMP.in_pkts += 1
        if len(shard) <= 6:
            self._count("in_errs")
            return
        flag = int.from_bytes(shard[4:6], "little")
        if flag != TYPE_DATA and flag != TYPE_PARITY:
            self._count("in_errs")
            return
        self.last_heard = self._loop.time()
        if not self.heard.done():
            self.heard.set_result(None)
        kcp = self.kcp
        now = _now_ms()
        una_before = kcp.snd_una
        before = self._fec_dec.recovered
        recovered = self._fec_dec.decode(shard)
        if flag == TYPE_PARITY:
            self._count("fec_parity_shards")
        elif kcp.input(shard[8:], now, True) != 0:
            self._count("kcp_in_errors")
        for r in recovered:
            if kcp.input(r, now, False) != 0:
                self._count("kcp_in_errors")
        n = self._fec_dec.recovered - before
        if n:
            self.stats.fec_recovered += n
            SNMP.fec_recovered += n
        self._deliver()
        if (kcp.acklist and self._config.ack_nodelay) or kcp.probe & ASK_TELL or (
                kcp.snd_queue and kcp.snd_una != una_before):
            # ACK at the end of this loop turn rather than at once (kcp-go's ackNoDelay): the
            # reply the protocol writes meanwhile, and the ACKs of the other datagrams read in
            # this turn, share the datagram; also answer a probe, send what the ACKs made room for
            self._flush_later()
        self._after_acks()

    def _count(self, name: str) -> None:
        setattr(self.stats, name, getattr(self.stats, name) + 1)
        setattr(SNMP, name, getattr(SNMP, name) + 1)

    def _deliver(self) -> None:
        if self._reading_paused or self._done:
            return
        kcp = self.kcp
        parts = []
        while True:
            data = kcp.recv()
            if data is None:
                break
            parts.append(data)
        if kcp.probe & ASK_TELL:
            self._flush_later()  # our window opened again: tell the peer
        if parts and not self._closing:
            self._protocol.data_received(parts[0] if len(parts) == 1 else b"".join(parts))

    def _after_acks(self) -> None:
        size = self.kcp.unacked_bytes
        if self._write_paused and size <= LOW_WATER and not self._done:
            self._write_paused = False
            self._protocol.resume_writing()
        if self._closing and not self._done and size == 0:
            self._finish(None)

    def lost(self, exc: Exception | None) -> None:
        """The socket under the session failed, or a new session replaced it."""
        self._finish(exc)

    # -- to the socket --------------------------------------------------------------------------
    def _output(self, kcp_bytes: bytes) -> None:
        block, send = self._block, self._send
        for shard in self._fec_enc.encode(kcp_bytes):
            send(seal(block, shard))
        self.stats.out_pkts += 1
        SNMP.out_pkts += 1

    def _flush_later(self) -> None:
        if self._flush_soon is None and not self._done:
            self._flush_soon = self._loop.call_soon(self._flush_now)

    def _flush(self) -> int:
        kcp = self.kcp
        lost, fast = kcp.lost_segs, kcp.fast_retrans_segs
        wait = kcp.flush(_now_ms())
        if kcp.lost_segs != lost or kcp.fast_retrans_segs != fast:
            for stats in (self.stats, SNMP):
                stats.lost_segs += kcp.lost_segs - lost
                stats.fast_retrans_segs += kcp.fast_retrans_segs - fast
        if self.kcp.dead:
            # a segment went out dead_link (20) times without an ACK: the peer is gone (kcp-go
            # marks the same state; there is no other way to learn it, KCP having no reset)
            self._finish(TimeoutError(f"kcp: {self._peername} stopped acknowledging ({self.kcp.dead_link} retransmissions)"))
        return wait

    def _flush_now(self) -> None:
        self._flush_soon = None
        if not self._done:
            wait = self._flush()
            if self._slow and self.kcp.wait_snd() and not self._done:
                self._slow = False  # segments in flight: retransmission timers run again
                self._schedule(wait)

    def _schedule(self, delay_ms: int) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._loop.call_later(delay_ms / 1000, self._tick)

    def _tick(self) -> None:
        self._timer = None
        if self._done:
            return
        now = self._loop.time()
        idle = now - self.last_heard
        timeout = self._config.idle_timeout
        if idle > timeout:
            self._finish(TimeoutError(f"kcp: nothing heard from {self._peername} for {timeout:g} s"))
            return
        if self._closing and now > self._linger_until:
            self._finish(None)
            return
        if idle > timeout / 4 and now - self._last_probe > timeout / 8:
            self.kcp.probe |= ASK_SEND  # a keepalive every KCP peer answers (WINS)
            self._last_probe = now
        wait = self._flush()
        if self._done:
            return
        self._slow = not (self.kcp.wait_snd() or self._closing)
        if self._slow:
            # nothing in flight: no need to wake every interval, only for the next keepalive
            wait = max(wait, min(1000, int((self.last_heard + timeout / 4 - now) * 1000)))
        self._schedule(wait)

    def probe(self) -> None:
        """Send a window probe now (the dial's handshake: the peer answers WINS)."""
        self.kcp.probe |= ASK_SEND
        self._flush_later()

    # -- facing rpcx (ConnectionTransport) ------------------------------------------------------
    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._closing or not data:
            return
        self.kcp.send(bytes(data))
        self._flush_later()
        if not self._write_paused and self.kcp.unacked_bytes > HIGH_WATER:
            self._write_paused = True
            self._protocol.pause_writing()

    def can_write_eof(self) -> bool:
        return False

    def write_eof(self) -> None:
        raise NotImplementedError("KCP has no half-close")

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        self._linger_until = self._loop.time() + CLOSE_LINGER
        if self.kcp.unacked_bytes == 0:
            self._finish(None)
        else:
            self._flush_later()

    def abort(self) -> None:
        self._closing = True
        self._finish(None)

    def _finish(self, exc: Exception | None) -> None:
        if self._done:
            return
        self._done = True
        self._closing = True
        for h in (self._timer, self._flush_soon):
            if h is not None:
                h.cancel()
        self._timer = self._flush_soon = None
        if not self.heard.done():
            self.heard.set_exception(exc or ConnectionError("kcp: session closed"))
            self.heard.exception()  # retrieved: the dial may not be waiting
        self._loop.call_soon(self._protocol.connection_lost, exc)
        if self._on_done is not None:
            self._on_done(self)

    def is_closing(self) -> bool:
        return self._closing

    def pause_reading(self) -> None:
        self._reading_paused = True

    def resume_reading(self) -> None:
        if not self._reading_paused:
            return
        self._reading_paused = False
        self._loop.call_soon(self._deliver)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "peername":
            return self._peername
        if name == "sockname":
            return self._sockname
        if name in ("ssl_object", "peercert"):
            return None
        if name == "kcp_stats":
            return self.stats
        if name == "kcp_conv":
            return self.conv
        return default

    def get_write_buffer_size(self) -> int:
        return self.kcp.unacked_bytes
