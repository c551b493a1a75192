"""Go's view of Python type hints, and the wire forms Go uses for time (layer: codecs).

Helpers for :mod:`rpcx.codec._convert`: the Go type a hint stands for (as Go's errors print it),
the words Go's ``encoding/json`` uses for a wire value, RFC 3339 as ``time.Time`` writes and
reads it, float32 rounding, and the wire name of a dataclass field.
"""

from __future__ import annotations

import dataclasses
import re
import struct
import types
import typing
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any, Callable

from .gotypes import GoFloat32, GoInt, Time

_NoneType = type(None)
Fn = Callable[[Any], Any]

_I64 = GoInt("int", -(1 << 63), (1 << 63) - 1)
_UTC = timezone.utc
_EPOCH = datetime(1970, 1, 1, tzinfo=_UTC)
_F32_STRUCT = struct.Struct(">f")
#: Go's zero time.Time, 0001-01-01T00:00:00Z
GO_ZERO_TIME = datetime(1, 1, 1, tzinfo=_UTC)
_RFC3339 = re.compile(r"(\d{4})-(\d\d)-(\d\d)[Tt](\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d\d):(\d\d))\Z")



def _is_timestamp(v: Any) -> bool:
    """A ``msgpack.Timestamp``, recognised without importing msgpack (JSON must not need it)."""
    t = type(v)
    return t.__name__ == "Timestamp" and t.__module__.startswith("msgpack")


def _f32(v: float) -> float | None:
    """``v`` rounded to float32, or None when that overflows (Go: out of range for float32)."""
    try:
        return _F32_STRUCT.unpack(_F32_STRUCT.pack(v))[0]  # type: ignore[no-any-return]
    except (OverflowError, struct.error):
        return None


class F32(float):
    """A float the MessagePack codec must write as float32 (``ca``): Go refuses a float64 there."""

    __slots__ = ()


def wire_name(f: dataclasses.Field[Any], codec: str = "") -> str:
    """The key a dataclass field is written under by ``codec``.

    Like Go's struct tags: ``metadata={"json": "sku"}`` or ``{"msgpack": "sku"}`` for one codec
    (Go's ``json:"sku"`` / ``msgpack:"sku"``), ``{"rpcx": "SKU"}`` for every codec, else the name.
    """
    md = f.metadata
    if codec and codec in md:
        return str(md[codec])
    return str(md.get("rpcx", f.name))


class _Bad(Exception):
    """A mismatch on its way out of the compiled functions; each struct on the way adds its field."""

    def __init__(self, value: str, go: str, py: str) -> None:
        self.value = value
        self.go = go
        self.py = py
        self.struct = ""
        self.path: list[str] = []


def _py_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _unwrap(tp: Any) -> tuple[Any, Any]:
    """(base type, Go marker or None) of a possibly ``Annotated`` hint."""
    if typing.get_origin(tp) is Annotated:
        base, *extra = typing.get_args(tp)
        for m in extra:
            if isinstance(m, (GoInt, GoFloat32)):
                return base, m
        return base, None
    return tp, None


def _optional(tp: Any) -> Any:
    """X for ``Optional[X]`` / ``X | None`` (one non-None member), else None."""
    origin = typing.get_origin(tp)
    if origin is typing.Union or origin is types.UnionType:
        args = [a for a in typing.get_args(tp) if a is not _NoneType]
        if len(args) == 1 and len(typing.get_args(tp)) == 2:
            return args[0]
    return None


def _is_union(tp: Any) -> bool:
    origin = typing.get_origin(tp)
    return origin is typing.Union or origin is types.UnionType


def go_name(tp: Any) -> str:
    """The Go type a hint stands for, as Go's error messages print it."""
    base, mark = _unwrap(tp)
    if isinstance(mark, GoInt):
        return mark.name
    if isinstance(mark, GoFloat32):
        return "float32"
    inner = _optional(base)
    if inner is not None:
        name = go_name(inner)
        # slices, maps and []byte are nil-able themselves; anything else needs a pointer in Go
        return name if name.startswith(("[]", "map[", "interface")) else "*" + name
    origin = typing.get_origin(base)
    args = typing.get_args(base)
    if origin in (list, set, frozenset) or (origin is tuple and len(args) == 2 and args[1] is Ellipsis):
        return "[]" + go_name(args[0] if args else Any)
    if origin is tuple:
        return f"[{len(args)}]" + (go_name(args[0]) if args else "interface {}")
    if origin is dict:
        k, v = args or (Any, Any)
        return f"map[{go_name(k)}]{go_name(v)}"
    simple = {int: "int", float: "float64", str: "string", bytes: "[]uint8", bool: "bool", datetime: "time.Time",
              timedelta: "time.Duration", list: "[]interface {}", dict: "map[string]interface {}"}
    if base in simple:
        return simple[base]
    if isinstance(base, type) and dataclasses.is_dataclass(base):
        return base.__name__
    return "interface {}"


def _wire_desc(t: Any, json: bool, lit: bool = False) -> str:
    """What a wire value was, in the words of Go's ``encoding/json`` errors (which show a number's
    literal only when the target is numeric)."""
    if t is None:
        return "null" if json else "nil"
    if isinstance(t, bool):
        return "bool"
    if isinstance(t, (int, float)):
        return f"number {t!r}" if lit else "number"
    if isinstance(t, str):
        return "string"
    if isinstance(t, (bytes, bytearray)):
        return "bin"
    if isinstance(t, list):
        return "array"
    if isinstance(t, dict):
        return "object" if json else "map"
    if _is_timestamp(t):
        return "timestamp"
    return type(t).__name__


def _py_desc(v: Any) -> str:
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return f"{type(v).__name__} {v!r}"
    return type(v).__name__


def format_rfc3339(dt: datetime) -> str:
    """Go's ``time.RFC3339Nano`` as ``time.Time.MarshalJSON`` writes it: trailing zeros dropped, ``Z`` for +00:00."""
    ns = getattr(dt, "nanosecond", None)
    if ns is None:
        ns = dt.microsecond * 1000
    s = f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}T{dt.hour:02d}:{dt.minute:02d}:{dt.second:02d}"
    if ns:
        s += "." + f"{ns:09d}".rstrip("0")
    off = dt.utcoffset()
    if not off:
        return s + "Z"
    mins = int(off.total_seconds()) // 60
    sign = "+" if mins >= 0 else "-"
    h, m = divmod(abs(mins), 60)
    return f"{s}{sign}{h:02d}:{m:02d}"


def parse_rfc3339(s: str) -> datetime:
    """Parse what Go's ``time.Time.UnmarshalJSON`` accepts (RFC 3339, up to nine fraction digits)."""
    m = _RFC3339.match(s)
    if m is None:
        raise ValueError(s)
    y, mo, d, h, mi, sec, frac, z, sign, oh, om = m.groups()
    ns = int((frac or "").ljust(9, "0") or 0)
    tz: Any = _UTC
    if not z:
        off = timedelta(hours=int(oh), minutes=int(om))
        tz = timezone(-off if sign == "-" else off) if off else _UTC
    base = datetime(int(y), int(mo), int(d), int(h), int(mi), int(sec), ns // 1000, tz)
    if ns % 1000:
        t = Time(base.year, base.month, base.day, base.hour, base.minute, base.second, base.microsecond, tz)
        t._ns = ns
        return t
    return base
