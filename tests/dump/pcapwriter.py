"""A tiny pcap/pcapng writer for the dump tests (tcpdump is not on the machine): TCP segments of
known rpcx frames wrapped in IPv4 or IPv6 and Ethernet, Linux cooked v2 or raw IP, as tcpdump
writes them."""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

LINKTYPE_ETHERNET, LINKTYPE_RAW, LINKTYPE_LINUX_SLL2 = 1, 101, 276
SYN, ACK, FIN, PSH = 0x02, 0x10, 0x01, 0x08


@dataclass
class Seg:
    time: float
    src: tuple[str, int]
    dst: tuple[str, int]
    seq: int
    flags: int
    payload: bytes = b""


def _ip(seg: Seg) -> bytes:
    tcp = struct.pack("!HHIIBBHHH", seg.src[1], seg.dst[1], seg.seq, 0, 5 << 4, seg.flags, 65535, 0, 0) + seg.payload
    src, dst = ipaddress.ip_address(seg.src[0]), ipaddress.ip_address(seg.dst[0])
    if src.version == 4:
        return struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 1, 0x4000, 64, 6, 0, src.packed, dst.packed) + tcp
    return struct.pack("!IHBB16s16s", 6 << 28, len(tcp), 6, 64, src.packed, dst.packed) + tcp


def frame(seg: Seg, linktype: int) -> bytes:
    ip = _ip(seg)
    etype = 0x0800 if ip[0] >> 4 == 4 else 0x86DD
    if linktype == LINKTYPE_ETHERNET:
        return b"\x02\x00\x00\x00\x00\x01" + b"\x02\x00\x00\x00\x00\x02" + struct.pack("!H", etype) + ip
    if linktype == LINKTYPE_LINUX_SLL2:
        return struct.pack("!HHIHBB8s", etype, 0, 1, 772, 0, 6, b"\0" * 8) + ip
    return ip


def pcap(segs: list[Seg], linktype: int = LINKTYPE_ETHERNET, big_endian: bool = False) -> bytes:
    o = ">" if big_endian else "<"
    out = [struct.pack(o + "IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, linktype)]
    for s in segs:
        data = frame(s, linktype)
        sec = int(s.time)
        out.append(struct.pack(o + "IIII", sec, int(round((s.time - sec) * 1e6)), len(data), len(data)) + data)
    return b"".join(out)


def _block(btype: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    n = 12 + len(body)
    return struct.pack("<II", btype, n) + body + struct.pack("<I", n)


def pcapng(segs: list[Seg], linktype: int = LINKTYPE_ETHERNET) -> bytes:
    shb = _block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    # nanosecond timestamps (if_tsresol 9), as tcpdump --time-stamp-precision=nano writes them
    idb = _block(1, struct.pack("<HHI", linktype, 0, 262144) + struct.pack("<HHB3x", 9, 1, 9) + struct.pack("<HH", 0, 0))
    out = [shb, idb]
    for s in segs:
        data = frame(s, linktype)
        ts = int(round(s.time * 1e9))
        out.append(_block(6, struct.pack("<IIIII", 0, ts >> 32, ts & 0xFFFFFFFF, len(data), len(data)) + data))
    return b"".join(out)


class Conversation:
    """The segments of one TCP connection: a handshake, then data each way, cut as asked."""

    def __init__(self, client: tuple[str, int], server: tuple[str, int], t: float = 1_700_000_000.0) -> None:
        self.client, self.server = client, server
        self.seq = {client: 1000, server: 5000}
        self.t = t
        self.segs = [Seg(t, client, server, 999, SYN), Seg(t, server, client, 4999, SYN | ACK),
                     Seg(t, client, server, 1000, ACK)]

    def send(self, from_client: bool, data: bytes, cut: int = 0) -> list[Seg]:
        src, dst = (self.client, self.server) if from_client else (self.server, self.client)
        pieces = [data[i:i + cut] for i in range(0, len(data), cut)] if cut else [data]
        made = []
        for p in pieces:
            self.t += 0.001
            made.append(Seg(self.t, src, dst, self.seq[src] & 0xFFFFFFFF, ACK | PSH, p))
            self.seq[src] += len(p)
        self.segs += made
        return made

    def close(self) -> None:
        self.t += 0.001
        self.segs.append(Seg(self.t, self.client, self.server, self.seq[self.client], FIN | ACK))
