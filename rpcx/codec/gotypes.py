"""Python names for Go types the built-in ones cannot tell apart (layer: codecs).

Plain ``int`` is Go's ``int``/``int64`` and plain ``float`` is ``float64``. A field whose Go type is
narrower says so with one of these ``Annotated`` aliases, so the codecs can refuse a value that Go
could not hold instead of letting it wrap around on the other side. To type checkers they are just
``int`` and ``float``::

    @dataclass
    class Pixel:
        X: Int16 = 0          # Go: X int16
        Alpha: Uint8 = 0      # Go: Alpha uint8
        Gamma: Float32 = 0.0  # Go: Gamma float32
        Wait: Duration = 0    # Go: Wait time.Duration (int64 nanoseconds)

:class:`Time` is a ``datetime`` that keeps the nanoseconds Go's ``time.Time`` carries beyond
Python's microseconds; :class:`FieldTypeError` is the error for a value that does not fit its field.
"""

from __future__ import annotations

import inspect
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any

from ..errors import CodecError

__all__ = [
    "GoInt",
    "GoFloat32",
    "Int",
    "Int8",
    "Int16",
    "Int32",
    "Int64",
    "Uint",
    "Uint8",
    "Uint16",
    "Uint32",
    "Uint64",
    "Float32",
    "Duration",
    "Time",
    "FieldTypeError",
]


class GoInt:
    """Marks an ``int`` field with the Go integer type it stands for (its name and range).

    >>> from typing import Annotated
    >>> Port = Annotated[int, GoInt("uint16", 0, 65535)]
    """

    __slots__ = ("name", "lo", "hi")

    def __init__(self, name: str, lo: int, hi: int) -> None:
        self.name = name
        self.lo = lo
        self.hi = hi

    def __repr__(self) -> str:
        return f"GoInt({self.name!r}, {self.lo}, {self.hi})"


class GoFloat32:
    """Marks a ``float`` field as Go's ``float32`` (MessagePack ``ca``, range ±3.4e38)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "GoFloat32()"


Int = Annotated[int, GoInt("int", -(1 << 63), (1 << 63) - 1)]
Int8 = Annotated[int, GoInt("int8", -(1 << 7), (1 << 7) - 1)]
Int16 = Annotated[int, GoInt("int16", -(1 << 15), (1 << 15) - 1)]
Int32 = Annotated[int, GoInt("int32", -(1 << 31), (1 << 31) - 1)]
Int64 = Annotated[int, GoInt("int64", -(1 << 63), (1 << 63) - 1)]
Uint = Annotated[int, GoInt("uint", 0, (1 << 64) - 1)]
Uint8 = Annotated[int, GoInt("uint8", 0, (1 << 8) - 1)]
Uint16 = Annotated[int, GoInt("uint16", 0, (1 << 16) - 1)]
Uint32 = Annotated[int, GoInt("uint32", 0, (1 << 32) - 1)]
Uint64 = Annotated[int, GoInt("uint64", 0, (1 << 64) - 1)]
Float32 = Annotated[float, GoFloat32()]
#: Go's ``time.Duration`` as its exact int64 count of nanoseconds (``timedelta`` also works, to the microsecond)
Duration = Annotated[int, GoInt("time.Duration", -(1 << 63), (1 << 63) - 1)]

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class Time(datetime):
    """A ``datetime`` that also keeps Go's nanoseconds (``nanosecond``: 0..999999999 within the second).

    The codecs return one for a Go ``time.Time`` whose nanoseconds are not a whole number of
    microseconds; otherwise a plain ``datetime``. Equality includes the nanoseconds.

    >>> t = Time.from_unix_nano(1_700_000_000_123_456_789)
    >>> t.microsecond, t.nanosecond, t.unix_nano()
    (123456, 123456789, 1700000000123456789)
    """

    __slots__ = ("_ns",)
    _ns: int

    @property
    def nanosecond(self) -> int:
        """Nanoseconds within the second (arithmetic on a Time keeps only the microseconds)."""
        try:
            return self._ns
        except AttributeError:
            return self.microsecond * 1000

    @classmethod
    def from_unix_nano(cls, ns: int, tz: Any = timezone.utc) -> datetime:
        """The instant ``ns`` nanoseconds after 1970-01-01T00:00:00Z, in zone ``tz``.

        A plain ``datetime`` when the nanoseconds are whole microseconds, else a :class:`Time`.
        """
        secs, sub = divmod(ns, 1_000_000_000)
        base = (_EPOCH + timedelta(seconds=secs, microseconds=sub // 1000)).astimezone(tz)
        if sub % 1000 == 0:
            return base
        t = cls(base.year, base.month, base.day, base.hour, base.minute, base.second, base.microsecond, base.tzinfo)
        t._ns = sub
        return t

    def __reduce_ex__(self, protocol: Any) -> Any:
        # copy, deepcopy (dataclasses.asdict) and pickle rebuild through datetime's state, which
        # has no room for the nanoseconds: carry them alongside
        return (_restore_time, (datetime.__reduce_ex__(self, protocol)[1], self.nanosecond))

    def unix_nano(self) -> int:
        """Nanoseconds since 1970-01-01T00:00:00Z (Go's ``t.UnixNano()``)."""
        return unix_nano(self)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, datetime):
            return NotImplemented
        return datetime.__eq__(self, other) and self.nanosecond == _nanosecond(other)

    def __ne__(self, other: object) -> bool:
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    def __hash__(self) -> int:
        return hash((datetime.__hash__(self), self.nanosecond))

    def __repr__(self) -> str:
        return f"{datetime.__repr__(self)[:-1]}, nanosecond={self.nanosecond})"


def _restore_time(state: tuple[Any, ...], ns: int) -> Time:
    t = Time(*state)
    t._ns = ns
    return t


# datetime's constructor is C code without a signature for help(); say what Time takes
setattr(Time, "__signature__", inspect.Signature([
    inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=d)
    for n, d in (("year", inspect.Parameter.empty), ("month", inspect.Parameter.empty), ("day", inspect.Parameter.empty),
                 ("hour", 0), ("minute", 0), ("second", 0), ("microsecond", 0), ("tzinfo", None))
]))


def _nanosecond(dt: datetime) -> int:
    ns = getattr(dt, "nanosecond", None)
    return ns if ns is not None else dt.microsecond * 1000


def unix_nano(dt: datetime) -> int:
    """Nanoseconds since the Unix epoch of an aware ``datetime`` (nanoseconds from :class:`Time`)."""
    d = dt - _EPOCH
    return (d.days * 86400 + d.seconds) * 1_000_000_000 + _nanosecond(dt)


class FieldTypeError(CodecError):
    """A value does not fit the Go type of its field, on encode or decode.

    The message has the shape of Go's ``encoding/json`` error, with the codec's prefix:
    ``json: cannot unmarshal number 5.0 into Go struct field SearchArgs.SleepMs of type int``.

    Attributes: ``struct`` (innermost struct name, or ``""`` for a value outside any struct),
    ``field`` (dotted path of fields from the outermost struct), ``value`` (what the wire or the
    Python value was, e.g. ``"number 5.0"``, ``"string"``, ``"str"``), ``go_type`` (e.g.
    ``"int64"``, ``"[]uint8"``) and ``python_type`` (the field's type hint, as text).
    """

    def __init__(
        self, codec: str, action: str, value: str, go_type: str, python_type: str, struct: str = "", field: str = ""
    ) -> None:
        self.codec = codec
        self.action = action
        self.value = value
        self.go_type = go_type
        self.python_type = python_type
        self.struct = struct
        self.field = field
        where = f"Go struct field {struct}.{field}" if struct else "Go value"
        prep = "into" if action == "unmarshal" else "as"
        super().__init__(f"{codec}: cannot {action} {value} {prep} {where} of type {go_type}")
