"""kcp-go's forward error correction framing (layer: transport/kcp).

Rule: the wire of kcp-go v5's ``fec.go``, ported line by line in behaviour. Every datagram body
(inside the crypt header) is an FEC shard::

    | seqid u32 | flag u16 (0xF1 data, 0xF2 parity) | size u16 | payload ... |

* a **data** shard carries KCP bytes; ``size`` is ``2 + len(kcp bytes)``;
* after every ``data_shards`` data shards the encoder emits ``parity_shards`` **parity** shards,
  Reed-Solomon (klauspost's matrix, :mod:`.reedsolomon`) over the ``[size | payload]`` parts of the
  group's data shards, zero-padded to the longest; seqids run on across data and parity and wrap
  at ``(0xFFFFFFFF // total) * total``, so ``seqid % total`` is a shard's index in its group;
* the decoder holds received shards (``3 * total`` of them, 60 s at most); once a group holds
  ``data_shards`` shards with some data shard missing, it reconstructs the missing data shards
  and hands their KCP bytes up as if they had arrived.

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

    kcp-go keeps one list ordered by seqid and searches it for the shard's group on every
    arrival; here the shards are kept per group (``seqid - seqid % total``), which decides the
    same things at a dict lookup's cost: a group with every data shard is forgotten, one with
    ``data_shards`` shards and a data shard missing is reconstructed and forgotten, at most
    ``rx_limit`` shards are held (the lowest seqid goes first) for at most 60 s, and shards of a
    group already finished are ignored (kcp-go would hold them until they age out, uselessly).

    ``recovered`` counts data shards rebuilt from parity, ``parity_received`` parity shards seen,
    ``errors`` rebuilt shards with an impossible size."""

    def __init__(self, data_shards: int = 10, parity_shards: int = 3, rx_limit: int | None = None) -> None:
        self.data_shards = data_shards
        self.total = data_shards + parity_shards
        self.rx_limit = rx_limit if rx_limit is not None else 3 * self.total
        self._rs = ReedSolomon(data_shards, parity_shards)
        #: group start seqid -> (index in group -> [size | payload]), number of data shards, first arrival
        self._groups: dict[int, tuple[dict[int, bytes], list[int], float]] = {}
        self._held = 0
        self._finished: dict[int, None] = {}  # recently finished groups (insertion-ordered, bounded)
        self.recovered = 0
        self.parity_received = 0
        self.errors = 0

    def decode(self, shard: bytes) -> list[bytes]:
        seqid, flag = _SEQ_FLAG.unpack_from(shard)
        is_data = flag == TYPE_DATA
        if not is_data:
            self.parity_received += 1
        total = self.total
        index = seqid % total
        begin = seqid - index
        group = self._groups.get(begin)
        now = time.monotonic()
        if group is None:
            if begin in self._finished:
                return []
            group = self._groups[begin] = ({}, [0], now)
        shards, data_count, _ = group
        if index in shards:
            return []  # duplicate
        shards[index] = shard[HEADER_SIZE:]
        self._held += 1
        if is_data:
            data_count[0] += 1

        recovered: list[bytes] = []
        if data_count[0] == self.data_shards:
            self._finish(begin)  # nothing lost in this group
        elif len(shards) >= self.data_shards:
            recovered = self._reconstruct(shards)
            self._finish(begin)

        while self._held > self.rx_limit:
            oldest = min(self._groups, key=lambda b: _after(b, begin))
            held = self._groups[oldest][0]
            del held[min(held, key=lambda i: i)]
            self._held -= 1
            if not held:
                del self._groups[oldest]
        while self._groups:
            first = next(iter(self._groups))
            if now - self._groups[first][2] <= EXPIRE:
                break
            self._held -= len(self._groups.pop(first)[0])
        return recovered

    def _finish(self, begin: int) -> None:
        self._held -= len(self._groups.pop(begin)[0])
        self._finished[begin] = None
        if len(self._finished) > 64:
            del self._finished[next(iter(self._finished))]

    def _reconstruct(self, shards: dict[int, bytes]) -> list[bytes]:
        maxlen = max(map(len, shards.values()))
        padded: list[bytes | None] = [None] * self.total
        for k, body in shards.items():
            padded[k] = body.ljust(maxlen, b"\0")
        try:
            full = self._rs.reconstruct_data(padded)
        except ValueError:
            return []
        out = []
        for k in range(self.data_shards):
            if k in shards:
                continue
            r = full[k]
            assert r is not None
            size = int.from_bytes(r[:2], "little")
            if 2 <= size <= len(r):
                out.append(r[2:size])
                self.recovered += 1
            else:
                self.errors += 1
        return out
