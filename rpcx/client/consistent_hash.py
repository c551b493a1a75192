"""Consistent-hash selection (layer: client), as Go rpcx's ``ConsistentHash``: the key is FNV-1a-64 of
``"/" + service_path + "/" + service_method + "/" + fmt.Sprint(args)`` and the server is chosen by
edwingeng/doublejump (jump hash over a "loose" list that keeps holes where servers left, falling
back to a compact list).

Rule: where the key is the same string, the same servers added in the same order pick the same
server as Go (``tests/interop/hashvec`` proves it against Go's code). Two things Python cannot
reproduce exactly:

* ``fmt.Sprint`` of Go values. :func:`go_sprint` prints ``str``, ``bool``, ``int``, ``float``,
  ``None`` (``<nil>``), ``bytes`` (a ``[]byte``), lists and tuples (slices) and dicts (maps, keys
  sorted as Go's fmt sorts them) as Go prints them. A dataclass prints as Go prints a *pointer* to
  a struct with the same fields in the same order (``&{10 20}``), which is what Go's callers usually
  pass; any other object hashes ``str(obj)``, stable in Python but not what Go computes.
* The order servers are added. Go adds them in map iteration order, which is random per process,
  so two Go clients may already disagree; here they are added in sorted order, servers that join
  later are added in sorted order after them, and servers that leave leave a hole as in Go.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from .selector import Call

__all__ = ["fnv1a64", "jump_hash", "go_sprint", "hash_key", "DoubleJump", "ConsistentHashSelector"]

_M64 = (1 << 64) - 1


def fnv1a64(data: bytes) -> int:
    """FNV-1a 64-bit (Go's ``hash/fnv.New64a``).

    >>> hex(fnv1a64(b"a"))
    '0xaf63dc4c8601ec8c'
    """
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & _M64
    return h


def jump_hash(key: int, buckets: int) -> int:
    """dgryski/go-jump's ``Hash``: the bucket in ``[0, buckets)`` for a 64-bit key (-1 for no buckets).

    >>> [jump_hash(k, 10) for k in (0, 1, 2**63)]
    [0, 6, 5]
    """
    b, j = -1, 0
    while j < buckets:
        b = j
        key = (key * 2862933555777941757 + 1) & _M64
        # the float64 arithmetic of the Go code, step by step
        j = int(float(b + 1) * (float(1 << 31) / float((key >> 33) + 1)))
    return b


def _go_float(x: float) -> str:
    """Go's ``%v`` of a float64: strconv ``'g'`` with the shortest digits, exponent from 1e6 on."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "+Inf" if x > 0 else "-Inf"
    if x == 0:
        return "-0" if math.copysign(1, x) < 0 else "0"
    r = repr(abs(x))  # Python's repr is the shortest round-tripping form, as Go's
    mant, _, e = r.partition("e")
    exp10 = int(e) if e else 0
    ip, _, fp = mant.partition(".")
    digits = (ip + fp).lstrip("0")
    # the position of the decimal point relative to the first significant digit
    lead_zeros = len(ip + fp) - len((ip + fp).lstrip("0"))
    dp = len(ip) - lead_zeros + exp10
    digits = digits.rstrip("0") or "0"
    exp = dp - 1
    sign = "-" if x < 0 else ""
    if exp < -4 or exp >= 6:
        frac = digits[1:]
        return f"{sign}{digits[0]}{'.' + frac if frac else ''}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if dp <= 0:
        return f"{sign}0.{'0' * -dp}{digits}"
    if dp >= len(digits):
        return sign + digits + "0" * (dp - len(digits))
    return f"{sign}{digits[:dp]}.{digits[dp:]}"


def go_sprint(v: Any, _top: bool = True) -> str:
    """``fmt.Sprint(v)`` as Go prints the corresponding Go value (see the module docstring).

    >>> go_sprint("k"), go_sprint(7), go_sprint(True), go_sprint(None), go_sprint(1e6), go_sprint(0.5)
    ('k', '7', 'true', '<nil>', '1e+06', '0.5')
    >>> go_sprint(["a", 1]), go_sprint({"b": 2, "a": 1})
    ('[a 1]', 'map[a:1 b:2]')
    """
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return _go_float(v)
    if v is None:
        return "<nil>"
    if isinstance(v, (bytes, bytearray)):
        return "[" + " ".join(str(b) for b in v) + "]"
    if isinstance(v, (list, tuple)):
        return "[" + " ".join(go_sprint(e, False) for e in v) + "]"
    if isinstance(v, dict):
        items = sorted(v.items(), key=lambda kv: kv[0])
        return "map[" + " ".join(f"{go_sprint(k, False)}:{go_sprint(x, False)}" for k, x in items) + "]"
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        inner = "{" + " ".join(go_sprint(getattr(v, f.name), False) for f in dataclasses.fields(v)) + "}"
        # Go's fmt prints a pointer to a struct as &{...} only at the top level
        return "&" + inner if _top else inner
    return str(v)


def hash_key(service_path: str, service_method: str, args: Any) -> int:
    """Go's ``genKey(servicePath, serviceMethod, args)``.

    >>> hash_key("Arith", "Mul", "k") == fnv1a64(b"/Arith/Mul/k")
    True
    """
    s = "/" + service_path + "/" + service_method + "/" + go_sprint(args)
    return fnv1a64(s.encode())


class DoubleJump:
    """edwingeng/doublejump's ``Hash``: stable under additions, and a server that leaves moves only
    its own keys.

    >>> h = DoubleJump(); [h.add(k) for k in "abc"]; h.get(12345)
    [None, None, None]
    'b'
    """

    def __init__(self) -> None:
        self._loose: list[str | None] = []
        self._loose_at: dict[str, int] = {}
        self._free: list[int] = []
        self._compact: list[str] = []
        self._compact_at: dict[str, int] = {}

    def add(self, obj: str) -> None:
        if obj not in self._loose_at:
            if self._free:
                i = self._free.pop()
                self._loose[i] = obj
            else:
                self._loose.append(obj)
                i = len(self._loose) - 1
            self._loose_at[obj] = i
        if obj not in self._compact_at:
            self._compact.append(obj)
            self._compact_at[obj] = len(self._compact) - 1

    def remove(self, obj: str) -> None:
        i = self._loose_at.pop(obj, None)
        if i is not None:
            self._free.append(i)
            self._loose[i] = None
        i = self._compact_at.pop(obj, None)
        if i is not None:
            last = self._compact[-1]
            self._compact[i] = last
            self._compact_at[last] = i
            self._compact.pop()
            if last == obj:
                self._compact_at.pop(obj, None)

    def get(self, key: int) -> str | None:
        if not self._loose:
            return None
        obj = self._loose[jump_hash(key, len(self._loose))]
        if obj is not None:
            return obj
        if not self._compact:
            return None
        return self._compact[jump_hash((key * 0xC6A4A7935BD1E995) & _M64, len(self._compact))]

    def __len__(self) -> int:
        return len(self._compact)


class ConsistentHashSelector:
    """The same call (service, method, args) goes to the same server while the list is unchanged;
    a server leaving moves only the calls that went to it.

    >>> s = ConsistentHashSelector({"tcp@a:1": "", "tcp@b:1": "", "tcp@c:1": ""})
    >>> s.select(Call("Arith", "Mul", "user-42")) == s.select(Call("Arith", "Mul", "user-42"))
    True
    """

    def __init__(self, servers: dict[str, str] | None = None) -> None:
        self._hash = DoubleJump()
        self._keys: set[str] = set()
        self.update_server(servers or {})

    def select(self, call: Call) -> str | None:
        """The server for this call's key; None when there is none."""
        if not self._keys:
            return None
        return self._hash.get(hash_key(call.service_path, call.service_method, call.args))

    def update_server(self, servers: dict[str, str]) -> None:
        """Add servers that joined (in sorted order) and remove those that left, as Go's selector."""
        for k in sorted(servers):
            self._hash.add(k)
        for k in sorted(self._keys - servers.keys()):
            self._hash.remove(k)
        self._keys = set(servers)
