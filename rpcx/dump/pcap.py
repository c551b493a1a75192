"""Packet captures to TCP byte streams: pcap and pcapng files read, TCP reassembled per direction
(layer: tools; standard library only, no I/O beyond the bytes given).

:func:`packets` reads a classic pcap file (either byte order, micro- or nanosecond timestamps) or a
pcapng file (section, interface, enhanced and simple packet blocks; other blocks skipped), and
:func:`segments` decodes the link layers tcpdump writes on Linux (Ethernet with VLAN tags, Linux
cooked v1 and v2, BSD loopback, raw IP), IPv4 and IPv6, and TCP. :class:`Reassembler` puts each
direction's payload back in sequence order: retransmitted bytes are dropped, a segment that
arrives early waits for the gap before it (a bounded amount), and a direction's stream restarts
at a SYN.

>>> seg = TcpSegment(1.0, ("10.0.0.1", 5000), ("10.0.0.2", 8972), 100, SYN, b"")
>>> r = Reassembler()
>>> r.add(seg), r.add(TcpSegment(1.1, seg.src, seg.dst, 104, 0, b"cd")), r.add(TcpSegment(1.2, seg.src, seg.dst, 101, 0, b"abc"))
([], [], [(1.2, b'abc'), (1.1, b'cd')])
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass, field
from typing import Iterable, Iterator

__all__ = ["Packet", "TcpSegment", "packets", "segments", "Reassembler", "CaptureError", "SYN", "FIN", "RST",
           "LINKTYPE_ETHERNET"]

SYN, FIN, RST = 0x02, 0x01, 0x04
LINKTYPE_NULL, LINKTYPE_ETHERNET, LINKTYPE_RAW, LINKTYPE_LOOP = 0, 1, 101, 108
LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2, LINKTYPE_IPV4, LINKTYPE_IPV6 = 113, 276, 228, 229
#: bytes an early segment may wait with, per direction, before the gap is given up as lost
MAX_PENDING = 4 * 1024 * 1024


class CaptureError(ValueError):
    """The file is not a pcap or pcapng capture, or is cut short."""


@dataclass(frozen=True)
class Packet:
    """One captured packet: its time (seconds since the epoch), link type and bytes."""

    time: float
    linktype: int
    data: bytes


@dataclass(frozen=True)
class TcpSegment:
    """One TCP segment: time, (address, port) of each end, sequence number, flags, payload."""

    time: float
    src: tuple[str, int]
    dst: tuple[str, int]
    seq: int
    flags: int
    payload: bytes


def packets(data: bytes) -> Iterator[Packet]:
    """The packets of a pcap or pcapng file's bytes, in file order."""
    if len(data) < 4:
        raise CaptureError("not a capture: fewer than 4 bytes")
    magic = data[:4]
    if magic == b"\x0a\x0d\x0d\x0a":
        return _pcapng(data)
    for order in ("<", ">"):
        (m,) = struct.unpack(order + "I", magic)
        if m in (0xA1B2C3D4, 0xA1B23C4D):
            return _pcap(data, order, 1e-9 if m == 0xA1B23C4D else 1e-6)
    raise CaptureError(f"not a pcap or pcapng file (magic {magic.hex()}); write one with tcpdump -w FILE")


def _pcap(data: bytes, order: str, scale: float) -> Iterator[Packet]:
    if len(data) < 24:
        raise CaptureError("pcap file header cut short")
    linktype = struct.unpack_from(order + "I", data, 20)[0] & 0x0FFFFFFF
    pos = 24
    while pos + 16 <= len(data):
        sec, frac, incl, _orig = struct.unpack_from(order + "IIII", data, pos)
        pos += 16
        if pos + incl > len(data):
            return  # a capture cut off mid-packet (tcpdump killed): keep what is whole
        yield Packet(sec + frac * scale, linktype, data[pos:pos + incl])
        pos += incl


def _pcapng(data: bytes) -> Iterator[Packet]:
    pos = 0
    order = "<"
    interfaces: list[tuple[int, float]] = []  # (linktype, seconds per timestamp unit)
    while pos + 12 <= len(data):
        if data[pos:pos + 4] == b"\x0a\x0d\x0d\x0a":  # a section header: its byte order, new interfaces
            bom = data[pos + 8:pos + 12]
            order = "<" if bom == b"\x4d\x3c\x2b\x1a" else ">"
            interfaces = []
        btype, blen = struct.unpack_from(order + "II", data, pos)
        if blen < 12 or pos + blen > len(data):
            return
        body = data[pos + 8:pos + blen - 4]
        if btype == 1 and len(body) >= 8:  # interface description
            linktype = struct.unpack_from(order + "H", body, 0)[0]
            interfaces.append((linktype, _tsresol(body[8:], order)))
        elif btype == 6 and len(body) >= 20:  # enhanced packet
            iface, hi, lo, caplen = struct.unpack_from(order + "IIII", body, 0)
            if iface < len(interfaces):
                linktype, unit = interfaces[iface]
                yield Packet(((hi << 32) | lo) * unit, linktype, body[20:20 + caplen])
        elif btype == 3 and len(body) >= 4 and interfaces:  # simple packet: no time
            yield Packet(0.0, interfaces[0][0], body[4:])
        pos += blen


def _tsresol(options: bytes, order: str) -> float:
    pos = 0
    while pos + 4 <= len(options):
        code, length = struct.unpack_from(order + "HH", options, pos)
        if code == 0:
            break
        if code == 9 and length >= 1:
            v = options[pos + 4]
            return 2.0 ** -(v & 0x7F) if v & 0x80 else 10.0 ** -v
        pos += 4 + (length + 3) // 4 * 4
    return 1e-6


def segments(pkts: Iterable[Packet]) -> Iterator[TcpSegment]:
    """The TCP segments among ``pkts`` (other packets, and IPv4 fragments, are skipped)."""
    for p in pkts:
        ip = _ip_of(p.linktype, p.data)
        if ip is None:
            continue
        seg = _tcp(p.time, ip)
        if seg is not None:
            yield seg


def _ip_of(linktype: int, d: bytes) -> bytes | None:
    if linktype == LINKTYPE_ETHERNET:
        if len(d) < 14:
            return None
        etype, pos = struct.unpack_from("!H", d, 12)[0], 14
        while etype in (0x8100, 0x88A8) and len(d) >= pos + 4:  # VLAN tags
            etype, pos = struct.unpack_from("!H", d, pos + 2)[0], pos + 4
        return d[pos:] if etype in (0x0800, 0x86DD) else None
    if linktype == LINKTYPE_LINUX_SLL:
        return d[16:] if len(d) >= 16 and struct.unpack_from("!H", d, 14)[0] in (0x0800, 0x86DD) else None
    if linktype == LINKTYPE_LINUX_SLL2:
        return d[20:] if len(d) >= 20 and struct.unpack_from("!H", d, 0)[0] in (0x0800, 0x86DD) else None
    if linktype in (LINKTYPE_NULL, LINKTYPE_LOOP):
        return d[4:] if len(d) >= 4 else None
    if linktype in (LINKTYPE_RAW, LINKTYPE_IPV4, LINKTYPE_IPV6):
        return d
    return None


def _tcp(time: float, ip: bytes) -> TcpSegment | None:
    if not ip:
        return None
    version = ip[0] >> 4
    if version == 4 and len(ip) >= 20:
        ihl = (ip[0] & 0x0F) * 4
        total, frag, proto = struct.unpack_from("!H", ip, 2)[0], struct.unpack_from("!H", ip, 6)[0], ip[9]
        if proto != 6 or frag & 0x3FFF:  # not TCP, or a fragment
            return None
        src, dst = str(ipaddress.IPv4Address(ip[12:16])), str(ipaddress.IPv4Address(ip[16:20]))
        tcp = ip[ihl:total] if total >= ihl else ip[ihl:]
    elif version == 6 and len(ip) >= 40:
        nxt, pos = ip[6], 40
        plen = struct.unpack_from("!H", ip, 4)[0]
        end = 40 + plen if plen else len(ip)
        while nxt in (0, 43, 60) and pos + 2 <= len(ip):  # hop-by-hop, routing, destination options
            nxt, pos = ip[pos], pos + (ip[pos + 1] + 1) * 8
        if nxt != 6:
            return None
        src, dst = str(ipaddress.IPv6Address(ip[8:24])), str(ipaddress.IPv6Address(ip[24:40]))
        tcp = ip[pos:end]
    else:
        return None
    if len(tcp) < 20:
        return None
    sport, dport, seq = struct.unpack_from("!HHI", tcp, 0)
    off = (tcp[12] >> 4) * 4
    return TcpSegment(time, (src, sport), (dst, dport), seq, tcp[13], bytes(tcp[off:]))


@dataclass
class _Direction:
    next_seq: int | None = None
    pending: dict[int, TcpSegment] = field(default_factory=dict)
    pending_bytes: int = 0


class Reassembler:
    """Each direction's TCP payload in order. :meth:`add` returns the bytes a segment makes
    available, as ``(time, bytes)`` pieces; :meth:`lost` says when a gap was given up."""

    def __init__(self, max_pending: int = MAX_PENDING) -> None:
        self.max_pending = max_pending
        self._dirs: dict[tuple[tuple[str, int], tuple[str, int]], _Direction] = {}
        #: directions that skipped bytes they never saw (their decoding cannot go on)
        self.gaps: set[tuple[tuple[str, int], tuple[str, int]]] = set()

    def add(self, seg: TcpSegment) -> list[tuple[float, bytes]]:
        """Take one segment; return the in-order bytes of its direction it makes available."""
        key = (seg.src, seg.dst)
        d = self._dirs.get(key)
        if d is None or seg.flags & SYN:
            d = self._dirs[key] = _Direction()
            self.gaps.discard(key)
        if seg.flags & SYN:
            d.next_seq = (seg.seq + 1) & 0xFFFFFFFF
            return []
        if not seg.payload:
            return []
        if d.next_seq is None:  # the capture began mid-connection: start where it starts
            d.next_seq = seg.seq
        out: list[tuple[float, bytes]] = []
        self._take(d, seg, out)
        while d.pending:
            nxt = d.pending.pop(d.next_seq, None)
            if nxt is None:
                # anything that now overlaps what was delivered is taken in part
                early = [s for s in d.pending if _before(s, d.next_seq)]
                if not early:
                    break
                nxt = d.pending.pop(early[0])
            d.pending_bytes -= len(nxt.payload)
            self._take(d, nxt, out)
        if d.pending_bytes > self.max_pending:  # the gap's bytes are lost: go on after it
            base = d.next_seq
            first = min(d.pending, key=lambda s: (s - base) & 0xFFFFFFFF)
            self.gaps.add(key)
            d.next_seq = first
            seg = d.pending.pop(first)
            d.pending_bytes -= len(seg.payload)
            out += self.add(seg)
        return out

    def _take(self, d: _Direction, seg: TcpSegment, out: list[tuple[float, bytes]]) -> None:
        assert d.next_seq is not None
        ahead = (seg.seq - d.next_seq) & 0xFFFFFFFF
        if ahead and ahead < 0x80000000:  # early: wait for the gap
            if seg.seq not in d.pending:
                d.pending[seg.seq] = seg
                d.pending_bytes += len(seg.payload)
            return
        behind = (d.next_seq - seg.seq) & 0xFFFFFFFF  # a retransmission, maybe with new bytes at its end
        if behind >= len(seg.payload):
            return
        data = seg.payload[behind:]
        d.next_seq = (d.next_seq + len(data)) & 0xFFFFFFFF
        out.append((seg.time, data))


def _before(seq: int, next_seq: int) -> bool:
    return ((next_seq - seq) & 0xFFFFFFFF) < 0x80000000
