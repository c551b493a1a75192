"""Reed-Solomon erasure coding over GF(2^8), matrix-compatible with klauspost/reedsolomon (layer: transport/kcp).

Rule: parity shards must be byte-identical to what Go's ``reedsolomon.New(data, parity)`` makes, so
that Go's parity repairs the data shards we lose and ours repairs Go's. That fixes three things,
ported here from klauspost/reedsolomon (``galois.go``, ``matrix.go``, ``reedsolomon.go``):

* the field: GF(2^8) with generating polynomial 29 (x^8+x^4+x^3+x^2+1, 0x11d) and generator 2;
* the encoding matrix (``buildMatrix``): the ``total x data`` Vandermonde matrix ``m[r][c] = r^c``,
  multiplied by the inverse of its top square so the top is the identity (a systematic code: data
  shards go out unchanged, the bottom rows make the parity);
* reconstruction: take the first ``data`` shards present (in index order), invert those rows of
  the matrix, and multiply to get the missing data shards back.

Written here rather than taken from a package because no maintained Python package documents this
exact matrix (``reedsolo``/``zfec`` use others). Rows are applied with ``bytes.translate`` (a
multiplication table per coefficient) and XOR of big integers, which keeps a 10+3 group of
1400-byte shards in the tens of microseconds.

>>> rs = ReedSolomon(2, 1)
>>> parity = rs.encode([b"ab", b"cd"])
>>> rs.reconstruct_data([b"ab", None, parity[0]])
[b'ab', b'cd', b'en']
"""

from __future__ import annotations

__all__ = ["ReedSolomon", "gal_mul"]

_EXP = [0] * 512
_LOG = [0] * 256
_x = 1
for _i in range(255):
    _EXP[_i] = _x
    _LOG[_x] = _i
    _x <<= 1
    if _x & 0x100:
        _x ^= 0x11D
for _i in range(255, 512):
    _EXP[_i] = _EXP[_i - 255]


def gal_mul(a: int, b: int) -> int:
    """Multiply in GF(2^8) (klauspost's ``galMultiply``).

    >>> gal_mul(3, 4), gal_mul(0x80, 2)
    (12, 29)
    """
    if a == 0 or b == 0:
        return 0
    return _EXP[_LOG[a] + _LOG[b]]


def _gal_exp(a: int, n: int) -> int:
    if n == 0:
        return 1
    if a == 0:
        return 0
    return _EXP[(_LOG[a] * n) % 255]


def _gal_div(a: int, b: int) -> int:
    if a == 0:
        return 0
    return _EXP[(_LOG[a] - _LOG[b]) % 255]


#: bytes.translate tables: _MUL[c][x] == gal_mul(c, x)
_MUL = [bytes(gal_mul(c, x) for x in range(256)) for c in range(256)]

Matrix = list[list[int]]


def _multiply(a: Matrix, b: Matrix) -> Matrix:
    out = []
    for row in a:
        new = []
        for c in range(len(b[0])):
            v = 0
            for k, x in enumerate(row):
                v ^= gal_mul(x, b[k][c])
            new.append(v)
        out.append(new)
    return out


def _invert(m: Matrix) -> Matrix:
    """Gauss-Jordan inversion (klauspost's ``matrix.Invert``); ValueError if singular."""
    n = len(m)
    work = [list(row) + [1 if i == j else 0 for j in range(n)] for i, row in enumerate(m)]
    for r in range(n):
        if work[r][r] == 0:
            for below in range(r + 1, n):
                if work[below][r] != 0:
                    work[r], work[below] = work[below], work[r]
                    break
        if work[r][r] == 0:
            raise ValueError("matrix is singular")
        if work[r][r] != 1:
            scale = _gal_div(1, work[r][r])
            work[r] = [gal_mul(scale, x) for x in work[r]]
        for other in range(n):
            if other != r and work[other][r] != 0:
                f = work[other][r]
                work[other] = [x ^ gal_mul(f, y) for x, y in zip(work[other], work[r])]
    return [row[n:] for row in work]


def _build_matrix(data: int, total: int) -> Matrix:
    vm = [[_gal_exp(r, c) for c in range(data)] for r in range(total)]
    return _multiply(vm, _invert(vm[:data]))


def _combine(coefs: list[int], shards: list[bytes], size: int) -> bytes:
    acc = 0
    for c, s in zip(coefs, shards):
        if c == 1:
            acc ^= int.from_bytes(s, "little")
        elif c:
            acc ^= int.from_bytes(s.translate(_MUL[c]), "little")
    return acc.to_bytes(size, "little")


class ReedSolomon:
    """A systematic ``data + parity`` code with klauspost/reedsolomon's default matrix.

    Shards passed to :meth:`encode` and :meth:`reconstruct_data` must all have the same length
    (the FEC layer pads them with zeros, as kcp-go does).

    >>> rs = ReedSolomon(10, 3)
    >>> data = [bytes([i]) * 4 for i in range(10)]
    >>> p = rs.encode(data)
    >>> shards = list(data) + p
    >>> shards[0] = shards[4] = shards[9] = None
    >>> rs.reconstruct_data(shards)[:10] == data
    True
    """

    def __init__(self, data_shards: int, parity_shards: int) -> None:
        if data_shards <= 0 or parity_shards <= 0 or data_shards + parity_shards > 256:
            raise ValueError("need 0 < data, 0 < parity, data + parity <= 256")
        self.data_shards = data_shards
        self.parity_shards = parity_shards
        self.total = data_shards + parity_shards
        self.matrix = _build_matrix(data_shards, self.total)
        self._inverted: dict[tuple[int, ...], Matrix] = {}

    def encode(self, data: list[bytes]) -> list[bytes]:
        """The parity shards of ``data`` (``data_shards`` equal-length shards)."""
        if len(data) != self.data_shards:
            raise ValueError(f"need {self.data_shards} data shards, got {len(data)}")
        size = len(data[0])
        return [_combine(self.matrix[r], data, size) for r in range(self.data_shards, self.total)]

    def reconstruct_data(self, shards: list[bytes | None]) -> list[bytes | None]:
        """Fill in the missing (None) data shards from any ``data_shards`` present ones; parity
        shards that are missing stay None. ValueError when too few shards are present."""
        if len(shards) != self.total:
            raise ValueError(f"need {self.total} shard slots, got {len(shards)}")
        present = [i for i, s in enumerate(shards) if s is not None]
        if len(present) < self.data_shards:
            raise ValueError("too few shards to reconstruct")
        missing = [i for i in range(self.data_shards) if shards[i] is None]
        if not missing:
            return list(shards)
        valid = tuple(present[: self.data_shards])
        inv = self._inverted.get(valid)
        if inv is None:
            inv = _invert([self.matrix[i] for i in valid])
            if len(self._inverted) < 64:  # few loss patterns recur; bound the cache anyway
                self._inverted[valid] = inv
        sub = [shards[i] for i in valid]
        size = len(sub[0])  # type: ignore[arg-type]
        out = list(shards)
        for i in missing:
            out[i] = _combine(inv[i], sub, size)  # type: ignore[arg-type]
        return out
