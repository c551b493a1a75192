"""The KCP ARQ: a port of kcp-go v5.4.20's ``kcp.go`` (layer: transport/kcp, sans-IO).

Rule: the same segments, timers and windows as kcp-go (itself a port of skywind3000's ikcp.c with
selective ACK marking, early retransmit and a reserved header), so a Go peer sees an ordinary
KCP peer. Pure state: :meth:`Kcp.input` takes KCP bytes, :meth:`Kcp.flush` calls ``output`` with
the KCP bytes of each datagram to send, the caller drives the clock (:meth:`Kcp.flush` returns
when to call it next). Nothing here touches a socket.

Ported rather than bound to the ``kcp`` package (ikcp.c via Cython) because that one stores
``conv`` as a signed C int (kcp-go's random conv ids overflow it), keeps its own clock, ships as an
sdist only, and brings none of the crypt and FEC layers anyway; the whole ARQ is a few hundred
lines. Differences from kcp-go: none on the wire; ``send`` never refuses (the transport bounds
its queue with pause_writing instead of blocking a writer).

The 24-byte segment header (little-endian)::

    | conv u32 | cmd u8 | frg u8 | wnd u16 | ts u32 | sn u32 | una u32 | len u32 | data |

>>> sent = []
>>> a, b = Kcp(7, sent.append), Kcp(7, lambda d: None)
>>> a.send(b"hi")
>>> _ = a.flush(0); _ = a.flush(0)   # as kcp-go, the congestion window opens at the first flush
>>> b.input(sent[0], 1); b.recv()
0
b'hi'
"""

from __future__ import annotations

import struct
from typing import Callable

__all__ = ["Kcp", "OVERHEAD", "CMD_PUSH", "CMD_ACK", "CMD_WASK", "CMD_WINS", "SN_OFFSET"]

RTO_NDL = 30
RTO_MIN = 100
RTO_DEF = 200
RTO_MAX = 60000
CMD_PUSH = 81
CMD_ACK = 82
CMD_WASK = 83
CMD_WINS = 84
ASK_SEND = 1
ASK_TELL = 2
WND_SND = 32
WND_RCV = 32
MTU_DEF = 1400
INTERVAL = 100
OVERHEAD = 24
DEADLINK = 20
THRESH_INIT = 2
THRESH_MIN = 2
PROBE_INIT = 7000
PROBE_LIMIT = 120000
SN_OFFSET = 12

_HDR = struct.Struct("<IBBHIIII")
_U32 = 0xFFFFFFFF


def _diff(later: int, earlier: int) -> int:
    """``_itimediff``: signed 32-bit difference."""
    d = (later - earlier) & _U32
    return d - (1 << 32) if d & 0x80000000 else d


class _Segment:
    __slots__ = ("frg", "ts", "sn", "rto", "xmit", "resendts", "fastack", "acked", "data")

    def __init__(self, data: bytes, frg: int = 0, sn: int = 0, ts: int = 0) -> None:
        self.data = data
        self.frg = frg
        self.sn = sn
        self.ts = ts
        self.rto = 0
        self.xmit = 0
        self.resendts = 0
        self.fastack = 0
        self.acked = False


class Kcp:
    """One KCP control block (kcp-go's ``KCP``). ``output(bytes)`` receives each datagram's KCP
    bytes; ``reserved`` bytes of each ``mtu`` are left for the layers below (crypt + FEC).

    Times are milliseconds on the caller's clock, wrapping at 2**32 as in kcp-go.
    """

    def __init__(self, conv: int, output: Callable[[bytes], None], *, mtu: int = MTU_DEF, reserved: int = 0) -> None:
        self.conv = conv & _U32
        self.output = output
        self.mtu = mtu
        self.reserved = reserved
        self.mss = mtu - OVERHEAD - reserved
        self.snd_una = self.snd_nxt = self.rcv_nxt = 0
        self.ssthresh = THRESH_INIT
        self.rx_rttvar = self.rx_srtt = 0
        self.rx_rto = RTO_DEF
        self.rx_minrto = RTO_MIN
        self.snd_wnd, self.rcv_wnd, self.rmt_wnd = WND_SND, WND_RCV, WND_RCV
        self.cwnd = 0
        self.probe = 0
        self.interval = INTERVAL
        self.nodelay = 0
        self.ts_probe = self.probe_wait = 0
        self.dead_link = DEADLINK
        self.incr = 0
        self.fastresend = 0
        self.nocwnd = False
        self.stream = False
        #: a segment was sent ``dead_link`` times without an ACK (kcp-go's ``state = 0xFFFFFFFF``)
        self.dead = False
        self.snd_queue: list[_Segment] = []
        self.rcv_queue: list[_Segment] = []
        self.snd_buf: list[_Segment] = []
        self.rcv_buf: list[_Segment] = []
        self.acklist: list[tuple[int, int]] = []
        #: bytes in snd_queue + snd_buf not yet acknowledged (the transport's write buffer size)
        self.unacked_bytes = 0
        #: bytes in rcv_queue (delivered in order, not yet read)
        self.queued_bytes = 0
        #: segments sent again: after an RTO (``lost_segs``), or fast / early (``fast_retrans_segs``)
        self.lost_segs = 0
        self.fast_retrans_segs = 0

    # -- configuration (kcp-go's NoDelay / WndSize) ----------------------------------------------
    def nodelay_mode(self, nodelay: int, interval: int, resend: int, nc: bool) -> None:
        self.nodelay = nodelay
        self.rx_minrto = RTO_NDL if nodelay else RTO_MIN
        self.interval = min(max(interval, 10), 5000)
        self.fastresend = resend
        self.nocwnd = nc

    def window(self, snd: int, rcv: int) -> None:
        if snd > 0:
            self.snd_wnd = snd
        if rcv > 0:
            self.rcv_wnd = rcv

    # -- user side ------------------------------------------------------------------------------
    def peek_size(self) -> int:
        q = self.rcv_queue
        if not q:
            return -1
        if q[0].frg == 0:
            return len(q[0].data)
        if len(q) < q[0].frg + 1:
            return -1
        n = 0
        for seg in q:
            n += len(seg.data)
            if seg.frg == 0:
                break
        return n

    def recv(self) -> bytes | None:
        """The next message (stream mode: the next segment's bytes), or None if none is complete."""
        if self.peek_size() < 0:
            return None
        q = self.rcv_queue
        fast_recover = len(q) >= self.rcv_wnd
        parts = []
        count = 0
        for seg in q:
            parts.append(seg.data)
            count += 1
            if seg.frg == 0:
                break
        del q[:count]
        data = parts[0] if count == 1 else b"".join(parts)
        self.queued_bytes -= len(data)
        self._move_ready()
        if len(q) < self.rcv_wnd and fast_recover:
            self.probe |= ASK_TELL  # tell the peer our window opened again
        return data

    def send(self, data: bytes) -> None:
        """Queue ``data``: stream mode fills the last queued segment first, then mss-sized segments;
        message mode fragments it (at most 255 fragments, as kcp-go)."""
        mss = self.mss
        self.unacked_bytes += len(data)
        if self.stream:
            q = self.snd_queue
            if q and len(q[-1].data) < mss:
                last = q[-1]
                room = mss - len(last.data)
                last.data += data[:room]
                data = data[room:]
            for i in range(0, len(data), mss):
                self.snd_queue.append(_Segment(data[i:i + mss]))
            return
        count = max(1, (len(data) + mss - 1) // mss)
        if count > 255:
            self.unacked_bytes -= len(data)
            raise ValueError(f"a KCP message of {len(data)} bytes needs more than 255 fragments")
        for i in range(count):
            self.snd_queue.append(_Segment(data[i * mss:(i + 1) * mss], frg=count - i - 1))

    def wait_snd(self) -> int:
        return len(self.snd_buf) + len(self.snd_queue)

    # -- network side ---------------------------------------------------------------------------
    def _update_ack(self, rtt: int) -> None:
        if self.rx_srtt == 0:
            self.rx_srtt = rtt
            self.rx_rttvar = rtt >> 1
        else:
            delta = rtt - self.rx_srtt
            self.rx_srtt += delta >> 3
            if delta < 0:
                delta = -delta
            if rtt < self.rx_srtt - self.rx_rttvar:
                self.rx_rttvar += (delta - self.rx_rttvar) >> 5
            else:
                self.rx_rttvar += (delta - self.rx_rttvar) >> 2
        rto = self.rx_srtt + max(self.interval, self.rx_rttvar << 2)
        self.rx_rto = min(max(self.rx_minrto, rto), RTO_MAX)

    def _shrink_buf(self) -> None:
        self.snd_una = self.snd_buf[0].sn if self.snd_buf else self.snd_nxt

    def _parse_ack(self, sn: int) -> None:
        if _diff(sn, self.snd_una) < 0 or _diff(sn, self.snd_nxt) >= 0:
            return
        for seg in self.snd_buf:
            if sn == seg.sn:
                if not seg.acked:
                    seg.acked = True
                    self.unacked_bytes -= len(seg.data)
                break
            if _diff(sn, seg.sn) < 0:
                break

    def _parse_fastack(self, sn: int, ts: int) -> None:
        if _diff(sn, self.snd_una) < 0 or _diff(sn, self.snd_nxt) >= 0:
            return
        for seg in self.snd_buf:
            if _diff(sn, seg.sn) < 0:
                break
            if sn != seg.sn and _diff(seg.ts, ts) <= 0:
                seg.fastack += 1

    def _parse_una(self, una: int) -> None:
        count = 0
        for seg in self.snd_buf:
            if _diff(una, seg.sn) > 0:
                if not seg.acked:
                    self.unacked_bytes -= len(seg.data)
                count += 1
            else:
                break
        if count:
            del self.snd_buf[:count]

    def _move_ready(self) -> None:
        count = 0
        room = self.rcv_wnd - len(self.rcv_queue)
        for seg in self.rcv_buf:
            if seg.sn == self.rcv_nxt and count < room:
                self.rcv_nxt = (self.rcv_nxt + 1) & _U32
                count += 1
            else:
                break
        if count:
            moved = self.rcv_buf[:count]
            del self.rcv_buf[:count]
            self.rcv_queue.extend(moved)
            self.queued_bytes += sum(len(s.data) for s in moved)

    def _parse_data(self, newseg: _Segment) -> None:
        sn = newseg.sn
        if _diff(sn, self.rcv_nxt + self.rcv_wnd) >= 0 or _diff(sn, self.rcv_nxt) < 0:
            return
        buf = self.rcv_buf
        insert = 0
        for i in range(len(buf) - 1, -1, -1):
            if buf[i].sn == sn:
                return  # repeat
            if _diff(sn, buf[i].sn) > 0:
                insert = i + 1
                break
        buf.insert(insert, newseg)
        self._move_ready()

    def input(self, data: bytes, now: int, regular: bool = True, ack_nodelay: bool = False) -> int:
        """Feed the KCP bytes of one datagram (``regular`` False for FEC-recovered ones, whose
        window and RTT samples are stale). Returns 0, or kcp-go's negative error code: -1 short
        or another conv, -2 truncated, -3 unknown command."""
        snd_una = self.snd_una
        if len(data) < OVERHEAD:
            return -1
        latest = 0
        acked = False
        off, n = 0, len(data)
        while n - off >= OVERHEAD:
            conv, cmd, frg, wnd, ts, sn, una, length = _HDR.unpack_from(data, off)
            off += OVERHEAD
            if conv != self.conv:
                return -1
            if n - off < length:
                return -2
            if cmd not in (CMD_PUSH, CMD_ACK, CMD_WASK, CMD_WINS):
                return -3
            if regular:
                self.rmt_wnd = wnd
            self._parse_una(una)
            self._shrink_buf()
            if cmd == CMD_ACK:
                self._parse_ack(sn)
                self._parse_fastack(sn, ts)
                acked = True
                latest = ts
            elif cmd == CMD_PUSH:
                if _diff(sn, self.rcv_nxt + self.rcv_wnd) < 0:
                    self.acklist.append((sn, ts))
                    if _diff(sn, self.rcv_nxt) >= 0:
                        self._parse_data(_Segment(data[off:off + length], frg, sn, ts))
            elif cmd == CMD_WASK:
                self.probe |= ASK_TELL
            off += length

        if acked and regular:
            rtt = _diff(now, latest)
            if rtt >= 0:
                self._update_ack(rtt)

        if not self.nocwnd and _diff(self.snd_una, snd_una) > 0 and self.cwnd < self.rmt_wnd:
            mss = self.mss
            if self.cwnd < self.ssthresh:
                self.cwnd += 1
                self.incr += mss
            else:
                if self.incr < mss:
                    self.incr = mss
                self.incr += (mss * mss) // self.incr + mss // 16
                if (self.cwnd + 1) * mss <= self.incr:
                    self.cwnd += 1
            if self.cwnd > self.rmt_wnd:
                self.cwnd = self.rmt_wnd
                self.incr = self.rmt_wnd * mss

        if ack_nodelay and self.acklist:
            self.flush(now, ack_only=True)
        return 0

    def _wnd_unused(self) -> int:
        return max(0, self.rcv_wnd - len(self.rcv_queue))

    def flush(self, now: int, ack_only: bool = False) -> int:
        """Send ACKs, window probes, new segments within the window and retransmissions; returns
        the milliseconds until the next flush is due (at most ``interval``)."""
        conv, wnd, una = self.conv, self._wnd_unused(), self.rcv_nxt
        pack = _HDR.pack
        limit = self.mtu - self.reserved
        parts: list[bytes] = []
        size = 0

        def put(piece: bytes) -> None:
            nonlocal size
            if size + len(piece) > limit and parts:
                self.output(b"".join(parts))
                parts.clear()
                size = 0
            parts.append(piece)
            size += len(piece)

        acks = self.acklist
        last = len(acks) - 1
        for i, (sn, ts) in enumerate(acks):
            if _diff(sn, self.rcv_nxt) >= 0 or i == last:
                put(pack(conv, CMD_ACK, 0, wnd, ts, sn, una, 0))
        self.acklist = []
        if ack_only:
            if parts:
                self.output(b"".join(parts))
            return self.interval

        if self.rmt_wnd == 0:
            if self.probe_wait == 0:
                self.probe_wait = PROBE_INIT
                self.ts_probe = (now + self.probe_wait) & _U32
            elif _diff(now, self.ts_probe) >= 0:
                self.probe_wait = min(max(self.probe_wait, PROBE_INIT) * 3 // 2, PROBE_LIMIT)
                self.ts_probe = (now + self.probe_wait) & _U32
                self.probe |= ASK_SEND
        else:
            self.ts_probe = self.probe_wait = 0
        if self.probe & ASK_SEND:
            put(pack(conv, CMD_WASK, 0, wnd, 0, 0, una, 0))
        if self.probe & ASK_TELL:
            put(pack(conv, CMD_WINS, 0, wnd, 0, 0, una, 0))
        self.probe = 0

        cwnd = min(self.snd_wnd, self.rmt_wnd)
        if not self.nocwnd:
            cwnd = min(self.cwnd, cwnd)
        new = 0
        for seg in self.snd_queue:
            if _diff(self.snd_nxt, self.snd_una + cwnd) >= 0:
                break
            seg.sn = self.snd_nxt
            self.snd_buf.append(seg)
            self.snd_nxt = (self.snd_nxt + 1) & _U32
            new += 1
        if new:
            del self.snd_queue[:new]

        resent = self.fastresend if self.fastresend > 0 else _U32
        change = lost = 0
        minrto = self.interval
        rx_rto = self.rx_rto
        for seg in self.snd_buf:
            if seg.acked:
                continue
            send = False
            if seg.xmit == 0:
                send = True
                seg.rto = rx_rto
                seg.resendts = now + seg.rto
            elif seg.fastack >= resent:
                send = True
                seg.fastack = 0
                seg.rto = rx_rto
                seg.resendts = now + seg.rto
                change += 1
            elif seg.fastack > 0 and new == 0:  # early retransmit
                send = True
                seg.fastack = 0
                seg.rto = rx_rto
                seg.resendts = now + seg.rto
                change += 1
            elif _diff(now, seg.resendts) >= 0:
                send = True
                seg.rto += rx_rto if self.nodelay == 0 else rx_rto // 2
                seg.fastack = 0
                seg.resendts = now + seg.rto
                lost += 1
            if send:
                seg.xmit += 1
                seg.ts = now & _U32
                put(pack(conv, CMD_PUSH, seg.frg, wnd, seg.ts, seg.sn, una, len(seg.data)) + seg.data)
                if seg.xmit >= self.dead_link:
                    self.dead = True
            rto = _diff(seg.resendts & _U32, now)
            if 0 < rto < minrto:
                minrto = rto
        if parts:
            self.output(b"".join(parts))
        self.lost_segs += lost
        self.fast_retrans_segs += change

        if not self.nocwnd:
            if change:
                inflight = (self.snd_nxt - self.snd_una) & _U32
                self.ssthresh = max(inflight // 2, THRESH_MIN)
                self.cwnd = (self.ssthresh + resent) & _U32  # uint32 arithmetic, as kcp-go
                self.incr = (self.cwnd * self.mss) & _U32
            if lost:
                self.ssthresh = max(cwnd // 2, THRESH_MIN)
                self.cwnd = 1
                self.incr = self.mss
            if self.cwnd < 1:
                self.cwnd = 1
                self.incr = self.mss
        return minrto
