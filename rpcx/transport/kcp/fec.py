"""kcp-go's forward error correction framing (layer: transport/kcp).

Rule: the wire of kcp-go v5's ``fec.go``, ported line by line in behaviour. Every datagram body
(inside the crypt header) is an FEC shard::

    | seqid u32 | flag u16 (0xF1 data, 0xF2 parity) | size u16 | payload ... |

* a **data** shard carries KCP bytes; ``size`` is ``2 + len(kcp bytes)``;
* after every ``data_shards`` data shards the encoder emits ``parity_shards`` **parity** shards,
  Reed-Solomon (klauspost's matrix, :mod:`.reedsolomon`) over the ``[size | payload]`` parts of the
  group's data shards, zero-padded to the longest; seqids run on across data and parity and wrap
  at ``(0xFFFFFFFF // total) * total``, so ``seqid % total`` is a shard's index in its group;
* the decoder keeps an ordered window of received shards (``3 * total`` of them, 60 s at most);
  once a group holds ``data_shards`` shards with some data shard missing, it reconstructs the
  missing data shards and hands their KCP bytes up as if they had arrived.

>>> enc, dec = FecEncoder(2, 1), FecDecoder(2, 1)
>>> shards = enc.encode(b"hello") + enc.encode(b"world!")   # 2 data shards, then 1 parity
>>> len(shards)
3
>>> dec.decode(shards[0]), dec.decode(shards[2])          # shard 1 lost: parity repairs it
([], [b'world!'])
"""

from __future__ import annotations

import struct
import time

from .reedsolomon import ReedSolomon

__all__ = ["FecEncoder", "FecDecoder", "HEADER_SIZE", "TYPE_DATA", "TYPE_PARITY"]

HEADER_SIZE = 6  # seqid + flag; the size u16 follows in data shards
TYPE_DATA = 0xF1
TYPE_PARITY = 0xF2
EXPIRE = 60.0  # kcp-go's fecExpire (ms there)
_HDR = struct.Struct("<IHH")
_SEQ_FLAG = struct.Struct("<IH")


def _after(a: int, b: int) -> int:
    """kcp-go's ``_itimediff`` on seqids: positive when ``a`` is after ``b``."""
    d = (a - b) & 0xFFFFFFFF
    return d - (1 << 32) if d & 0x80000000 else d


class FecEncoder:
    """Frames KCP output as data shards and adds the parity shards of each full group."""

    def __init__(self, data_shards: int = 10, parity_shards: int = 3) -> None:
        self.data_shards = data_shards
        self.total = data_shards + parity_shards
        self.paws = (0xFFFFFFFF // self.total) * self.total
        self.next = 0
        self._group: list[bytes] = []  # [size | payload] of the data shards so far
        self._rs = ReedSolomon(data_shards, parity_shards)

    def encode(self, kcp_bytes: bytes) -> list[bytes]:
        """The shard bodies to send for ``kcp_bytes``: its data shard, plus the group's parity
        shards when it completes a group."""
        sized = struct.pack("<H", 2 + len(kcp_bytes)) + kcp_bytes
        out = [_SEQ_FLAG.pack(self.next, TYPE_DATA) + sized]
        self.next += 1
        self._group.append(sized)
        if len(self._group) == self.data_shards:
            width = max(map(len, self._group))
            padded = [s.ljust(width, b"\0") for s in self._group]
            for parity in self._rs.encode(padded):
                out.append(_SEQ_FLAG.pack(self.next, TYPE_PARITY) + parity)
                self.next = (self.next + 1) % self.paws  # seqids wrap only at a parity shard
            self._group = []
        return out


class FecDecoder:
    """Reassembles groups and recovers lost data shards. :meth:`decode` returns the KCP bytes
    of data shards *recovered* by this shard (the shard's own data, if it is a data shard, is the
    caller's to pass on: kcp-go hands it to KCP at once, before the group is complete).

    ``recovered`` counts data shards rebuilt from parity, ``parity_received`` parity shards seen,
    ``errors`` malformed shards."""

    def __init__(self, data_shards: int = 10, parity_shards: int = 3, rx_limit: int | None = None) -> None:
        self.data_shards = data_shards
        self.total = data_shards + parity_shards
        self.rx_limit = rx_limit if rx_limit is not None else 3 * self.total
        self._rs = ReedSolomon(data_shards, parity_shards)
        #: ordered window: (seqid, flag, [size | payload], arrival time)
        self._rx: list[tuple[int, int, bytes, float]] = []
        self.recovered = 0
        self.parity_received = 0
        self.errors = 0

    def decode(self, shard: bytes) -> list[bytes]:
        seqid, flag = _SEQ_FLAG.unpack_from(shard)
        if flag == TYPE_PARITY:
            self.parity_received += 1
        rx = self._rx
        insert = 0
        for i in range(len(rx) - 1, -1, -1):
            if rx[i][0] == seqid:
                return []  # duplicate
            if _after(seqid, rx[i][0]) > 0:
                insert = i + 1
                break
        now = time.monotonic()
        rx.insert(insert, (seqid, flag, shard[HEADER_SIZE:], now))

        recovered: list[bytes] = []
        begin = seqid - seqid % self.total
        end = begin + self.total - 1
        lo = max(0, insert - seqid % self.total)
        hi = min(lo + self.total - 1, len(rx) - 1)
        if hi - lo + 1 >= self.data_shards:
            shards: list[bytes | None] = [None] * self.total
            count = data_count = maxlen = 0
            first = -1
            for i in range(lo, hi + 1):
                sid, f, body, _ = rx[i]
                if _after(sid, end) > 0:
                    break
                if _after(sid, begin) >= 0:
                    shards[sid % self.total] = body
                    count += 1
                    data_count += f == TYPE_DATA
                    if first < 0:
                        first = i
                    maxlen = max(maxlen, len(body))
            if data_count == self.data_shards:
                del rx[first:first + count]  # nothing lost in this group
            elif count >= self.data_shards:
                missing = [k for k in range(self.data_shards) if shards[k] is None]
                padded = [None if s is None else s.ljust(maxlen, b"\0") for s in shards]
                try:
                    full = self._rs.reconstruct_data(padded)
                except ValueError:
                    full = None
                if full is not None:
                    for k in missing:
                        r = full[k]
                        assert r is not None
                        size = int.from_bytes(r[:2], "little")
                        if 2 <= size <= len(r):
                            recovered.append(r[2:size])
                            self.recovered += 1
                        else:
                            self.errors += 1
                del rx[first:first + count]

        if len(rx) > self.rx_limit:
            del rx[0]
        while rx and now - rx[0][3] > EXPIRE:
            del rx[0]
        return recovered
