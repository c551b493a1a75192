"""Conversion between Python values and the plain trees JSON and MessagePack carry (layer: codecs).

Go's codecs write a struct as a map keyed by its field names. Here a dataclass plays the Go struct:
its field names are the keys, unless a field says otherwise with
``field(metadata={"rpcx": "WireName"})``. The type hints decide, both ways, what a field may hold:
a value Go could not hold in the matching Go type is refused with :class:`FieldTypeError` naming
the struct, the field and both types. ``docs/types.md`` has the whole table.

Each type is compiled once into a pair of small functions (encode, decode) kept per converter, so
a call pays for a dict lookup and the per-field checks, not for reading type hints again.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import enum
import threading
import typing
from datetime import datetime, timedelta
from typing import Any, Callable

from ..errors import CodecError
from ._gohints import (
    _I64,
    F32,
    GO_ZERO_TIME,
    Fn,
    _Bad,
    _f32,
    _is_timestamp,
    _is_union,
    _optional,
    _py_desc,
    _py_name,
    _unwrap,
    _wire_desc,
    format_rfc3339,
    go_name,
    parse_rfc3339,
    wire_name,
)
from .gotypes import FieldTypeError, GoFloat32, GoInt, Time, unix_nano

__all__ = ["Converter", "wire_name", "F32"]



class _SelfRef:
    """Stands in for a dataclass's functions while they are being compiled (recursive types)."""

    def __init__(self) -> None:
        self.fn: Fn | None = None

    def __call__(self, v: Any) -> Any:
        assert self.fn is not None
        return self.fn(v)


class Converter:
    """Tree conversion for one codec: ``json=True`` for ``encoding/json``, else vmihailenco/msgpack.

    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class Args:
    ...     A: int = 0
    ...     B: int = 0
    >>> c = Converter("json", json=True)
    >>> c.to_wire(Args(10, 20))
    {'A': 10, 'B': 20}
    >>> c.from_wire({"a": 1, "B": 2, "extra": 3}, Args)
    Args(A=1, B=2)
    >>> c.from_wire({"A": 1.5}, Args)
    Traceback (most recent call last):
    ...
    rpcx.codec.gotypes.FieldTypeError: json: cannot unmarshal number 1.5 into Go struct field Args.A of type int
    """

    def __init__(self, name: str, *, json: bool) -> None:
        self.name = name
        self.json = json
        self._enc: dict[Any, Fn] = {}
        self._dec: dict[Any, Fn] = {}
        self._pending: dict[tuple[int, Any], Fn] = {}
        self._lock = threading.RLock()
        self._timestamp: Any = None
        if not json:
            from msgpack import Timestamp

            self._timestamp = Timestamp

    # -- public entry points ---------------------------------------------------------------------
    def to_wire(self, obj: Any) -> Any:
        """The plain tree for ``obj``, checked against its dataclass hints where it has them."""
        fn = self._enc.get(type(obj))
        try:
            if fn is not None:
                return fn(obj)
            return self._generic_out(obj)
        except _Bad as b:
            raise self._error("marshal", b) from None

    def encoder(self, tp: Any) -> Fn:
        """An encode function for values of hint ``tp`` (raises :class:`FieldTypeError`)."""
        fn = self.enc_fn(tp)

        def encode(v: Any) -> Any:
            try:
                return fn(v)
            except _Bad as b:
                raise self._error("marshal", b) from None

        return encode

    def from_wire(self, tree: Any, tp: Any = None) -> Any:
        """Build a value of hint ``tp`` from a decoded tree (``None``: the tree as it is)."""
        try:
            fn = self._dec[tp]
        except (KeyError, TypeError):
            fn = None
        try:
            if fn is None:
                fn = self.dec_fn(tp)
            return fn(tree)
        except _Bad as b:
            raise self._error("unmarshal", b) from None
        except CodecError:
            raise
        except (TypeError, ValueError, AttributeError) as exc:
            raise CodecError(f"{self.name}: cannot decode into {_py_name(tp)}: {exc}") from None

    def _error(self, action: str, b: _Bad) -> FieldTypeError:
        return FieldTypeError(self.name, action, b.value, b.go, b.py, b.struct, ".".join(b.path))

    # -- compile: Python -> tree -----------------------------------------------------------------
    def enc_fn(self, tp: Any) -> Fn:
        return self._fn(tp, self._enc, self._compile_enc)

    def _fn(self, tp: Any, done: dict[Any, Fn], compile: Callable[[Any], Fn]) -> Fn:
        """The compiled function for ``tp`` from ``done``, compiling it under the lock on a miss.

        Only finished functions go into ``done`` (read without the lock by other threads); a
        dataclass being compiled is in ``_pending``, where only the compiling thread looks.
        """
        try:
            hit = done.get(tp)
        except TypeError:  # an unhashable hint: compile every time (rare; never a dataclass)
            return compile(tp)
        if hit is not None:
            return hit
        with self._lock:
            hit = done.get(tp) or self._pending.get((id(done), tp))
            if hit is None:
                hit = compile(tp)
                done[tp] = hit
            return hit

    def _compile_enc(self, tp: Any) -> Fn:
        base, mark = _unwrap(tp)
        go, py = go_name(tp), _py_name(tp)
        if base is None or base is Any or base is object:
            return self._generic_out
        inner = _optional(base)
        if inner is not None:
            f = self.enc_fn(inner)
            return lambda v: None if v is None else f(v)
        if _is_union(base):
            return self._generic_out
        origin, args = typing.get_origin(base), typing.get_args(base)
        if base is int:
            mk = mark if isinstance(mark, GoInt) else _I64
            lo, hi = mk.lo, mk.hi

            def enc_int(v: Any) -> Any:
                if type(v) is int and lo <= v <= hi:
                    return v
                if isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi:
                    return int(v)
                raise _Bad(_py_desc(v), go, py)

            return enc_int
        if base is float:
            f32 = isinstance(mark, GoFloat32)
            json = self.json

            def enc_float(v: Any) -> Any:
                if (type(v) is float or type(v) is int) or (isinstance(v, (int, float)) and not isinstance(v, bool)):
                    if f32 and _f32(v) is None:
                        raise _Bad(_py_desc(v), go, py)
                    if json:
                        # Go writes an integral float without a fraction ("5", not "5.0")
                        return int(v) if float(v).is_integer() and abs(v) < 1e21 else float(v)
                    return F32(v) if f32 else float(v)
                raise _Bad(_py_desc(v), go, py)

            return enc_float
        if base is str:

            def enc_str(v: Any) -> Any:
                if type(v) is str or isinstance(v, str):
                    return str(v)
                raise _Bad(_py_desc(v), go, py)

            return enc_str
        if base is bytes or base is bytearray:
            b64 = self.json

            def enc_bytes(v: Any) -> Any:
                if isinstance(v, (bytes, bytearray, memoryview)):
                    return base64.b64encode(v).decode() if b64 else bytes(v)
                raise _Bad(_py_desc(v), go, py)

            return enc_bytes
        if base is bool:

            def enc_bool(v: Any) -> Any:
                if v is True or v is False:
                    return v
                raise _Bad(_py_desc(v), go, py)

            return enc_bool
        if base is datetime:
            return lambda v: self._time_out(v, go, py)
        if base is timedelta:
            return lambda v: self._duration_out(v, go, py)
        if origin in (list, set, frozenset) or (origin is tuple and len(args) == 2 and args[1] is Ellipsis):
            f = self.enc_fn(args[0] if args else Any)

            def enc_list(v: Any) -> Any:
                if isinstance(v, (list, tuple, set, frozenset)):
                    return [f(x) for x in v]
                raise _Bad(_py_desc(v), go, py)

            return enc_list
        if origin is tuple:
            fs = [self.enc_fn(a) for a in args]

            def enc_array(v: Any) -> Any:
                if isinstance(v, (list, tuple)) and len(v) == len(fs):
                    return [f(x) for f, x in zip(fs, v)]
                raise _Bad(f"{_py_desc(v)} of length {len(v) if isinstance(v, (list, tuple)) else '?'}", go, py)

            return enc_array
        if origin is dict or base is dict:
            kt, vt = args or (Any, Any)
            fk, fv = self._key_out(kt), self.enc_fn(vt)
            sort = self.json  # Go's encoding/json writes map keys sorted

            def enc_map(v: Any) -> Any:
                if not isinstance(v, dict):
                    raise _Bad(_py_desc(v), go, py)
                out = {fk(k): fv(x) for k, x in v.items()}
                return dict(sorted(out.items(), key=lambda kv: str(kv[0]))) if sort and len(out) > 1 else out

            return enc_map
        if isinstance(base, type) and dataclasses.is_dataclass(base):
            return self._dataclass_out(base)
        return self._generic_out

    def _key_out(self, kt: Any) -> Fn:
        base, _ = _unwrap(kt)
        f = self.enc_fn(kt)
        if self.json and base is not str:
            # encoding/json writes integer map keys as strings
            return lambda k: str(f(k))
        return f

    def _time_out(self, v: Any, go: str, py: str) -> Any:
        if not isinstance(v, datetime):
            if _is_timestamp(v):
                v = Time.from_unix_nano(v.to_unix_nano())
            else:
                raise _Bad(_py_desc(v), go, py)
        if v.utcoffset() is None:
            raise _Bad("naive datetime (give it a tzinfo, e.g. timezone.utc)", go, py)
        if self.json:
            return format_rfc3339(v)
        return self._timestamp.from_unix_nano(unix_nano(v))

    def _duration_out(self, v: Any, go: str, py: str) -> Any:
        if isinstance(v, timedelta):
            ns = ((v.days * 86400 + v.seconds) * 1_000_000 + v.microseconds) * 1000
            if -(1 << 63) <= ns < (1 << 63):
                return ns
        raise _Bad(_py_desc(v), go, py)

    def _dataclass_out(self, cls: type) -> Fn:
        ref = _SelfRef()
        self._pending[(id(self._enc), cls)] = ref  # for fields that refer back to cls
        hints = typing.get_type_hints(cls, include_extras=True)
        plan = [(wire_name(f, self.name), f.name, self.enc_fn(hints.get(f.name, Any))) for f in dataclasses.fields(cls)]

        def enc_struct(obj: Any) -> Any:
            if type(obj) is not cls and not isinstance(obj, cls):
                if obj is None:
                    raise _Bad("None", cls.__name__, cls.__name__)
                raise _Bad(_py_desc(obj), cls.__name__, cls.__name__)
            out = {}
            for w, a, f in plan:
                try:
                    out[w] = f(getattr(obj, a))
                except _Bad as b:
                    b.path.insert(0, w)
                    if not b.struct:
                        b.struct = cls.__name__
                    raise
            return out

        ref.fn = enc_struct
        del self._pending[(id(self._enc), cls)]
        return enc_struct

    def _generic_out(self, obj: Any) -> Any:
        """Value-directed encoding for ``Any`` fields and values without hints."""
        if obj is None or isinstance(obj, (str, bool)):
            return obj.value if isinstance(obj, enum.Enum) else obj
        if isinstance(obj, int):
            if isinstance(obj, enum.Enum):
                return obj.value
            if not -(1 << 63) <= obj < (1 << 64):
                raise _Bad(_py_desc(obj), "interface {}", "int")
            return obj
        if isinstance(obj, float):
            return obj
        if isinstance(obj, (bytes, bytearray, memoryview)):
            return base64.b64encode(obj).decode() if self.json else bytes(obj)
        if isinstance(obj, dict):
            out = {self._generic_key(k): self._generic_out(v) for k, v in obj.items()}
            return dict(sorted(out.items(), key=lambda kv: str(kv[0]))) if self.json and len(out) > 1 else out
        if isinstance(obj, (list, tuple, set, frozenset)):
            return [self._generic_out(v) for v in obj]
        if isinstance(obj, datetime) or _is_timestamp(obj):
            return self._time_out(obj, "time.Time", "datetime")
        if isinstance(obj, timedelta):
            return self._duration_out(obj, "time.Duration", "timedelta")
        cls = type(obj)
        if dataclasses.is_dataclass(cls):
            return self.enc_fn(cls)(obj)
        if isinstance(obj, enum.Enum):
            return self._generic_out(obj.value)
        to_dict = getattr(obj, "to_dict", None) or getattr(obj, "model_dump", None)
        if callable(to_dict):
            return self._generic_out(to_dict())
        raise CodecError(
            f"{self.name}: cannot encode {cls.__name__}: use a dataclass, dict, list, str, bytes, number, datetime or timedelta"
        )

    def _generic_key(self, k: Any) -> Any:
        if self.json:
            return k if isinstance(k, str) else str(k)
        return k if isinstance(k, (str, int)) else str(k)

    # -- compile: tree -> Python -----------------------------------------------------------------
    def dec_fn(self, tp: Any) -> Fn:
        return self._fn(tp, self._dec, self._compile_dec)

    def _compile_dec(self, tp: Any) -> Fn:
        base, mark = _unwrap(tp)
        go, py, json = go_name(tp), _py_name(tp), self.json
        if base is None or base is Any or base is object or base is list or base is dict:
            return self._generic_in
        inner = _optional(base)
        if inner is not None:
            f = self.dec_fn(inner)
            return lambda t: None if t is None else f(t)
        if _is_union(base):
            return self._generic_in
        origin, args = typing.get_origin(base), typing.get_args(base)
        if base is int:
            mk = mark if isinstance(mark, GoInt) else _I64
            lo, hi = mk.lo, mk.hi

            def dec_int(t: Any) -> Any:
                if type(t) is int and lo <= t <= hi:
                    return t
                if t is None:  # Go leaves the zero value for null / nil
                    return 0
                raise _Bad(_wire_desc(t, json, True), go, py)

            return dec_int
        if base is float:
            f32 = isinstance(mark, GoFloat32)

            def dec_float(t: Any) -> Any:
                if type(t) is float or type(t) is int:
                    if f32:
                        # Go parses into float32 with rounding (ParseFloat bitSize 32): keep what Go holds
                        r = _f32(t)
                        if r is None:
                            raise _Bad(_wire_desc(t, json, True), go, py)
                        return r
                    return float(t)
                if t is None:
                    return 0.0
                raise _Bad(_wire_desc(t, json, True), go, py)

            return dec_float
        if base is str:

            def dec_str(t: Any) -> Any:
                if type(t) is str:
                    return t
                if t is None:
                    return ""
                if type(t) is bytes and not json:  # vmihailenco/msgpack reads bin into a string
                    return t.decode("utf-8", "surrogateescape")
                raise _Bad(_wire_desc(t, json), go, py)

            return dec_str
        if base is bytes or base is bytearray:

            def dec_bytes(t: Any) -> Any:
                if t is None:
                    return b""
                if json:
                    if type(t) is str:
                        try:
                            # Go's base64.StdEncoding: padded standard alphabet, CR/LF ignored
                            return base64.b64decode(t.replace("\r", "").replace("\n", ""), validate=True)
                        except (binascii.Error, ValueError):
                            raise _Bad(f"string {t[:32]!r} (not base64)", go, py) from None
                elif type(t) is bytes:
                    return t
                elif type(t) is str:  # vmihailenco/msgpack reads str into []byte
                    return t.encode("utf-8", "surrogateescape")
                raise _Bad(_wire_desc(t, json), go, py)

            return dec_bytes
        if base is bool:

            def dec_bool(t: Any) -> Any:
                if t is True or t is False:
                    return t
                if t is None:
                    return False
                raise _Bad(_wire_desc(t, json), go, py)

            return dec_bool
        if base is datetime:
            return lambda t: self._time_in(t, go, py)
        if base is timedelta:

            def dec_duration(t: Any) -> Any:
                if t is None:
                    return timedelta(0)
                if type(t) is int and -(1 << 63) <= t < (1 << 63):
                    if t % 1000 == 0:
                        return timedelta(microseconds=t // 1000)
                    raise _Bad(f"number {t} (nanoseconds: hint the field rpcx.codec.Duration)", go, py)
                raise _Bad(_wire_desc(t, json), go, py)

            return dec_duration
        if origin in (list, set, frozenset) or (origin is tuple and len(args) == 2 and args[1] is Ellipsis):
            f = self.dec_fn(args[0] if args else Any)
            make: Any = list if origin is list else origin

            def dec_list(t: Any) -> Any:
                if type(t) is list:
                    return make([f(x) for x in t]) if make is not list else [f(x) for x in t]
                if t is None:
                    return make()
                # Go refuses a string or an object for a slice; iterating one would split it silently
                raise _Bad(_wire_desc(t, json), go, py)

            return dec_list
        if origin is tuple:
            fs = [self.dec_fn(a) for a in args]
            zeros = [self.zero(a) for a in args]

            def dec_array(t: Any) -> Any:
                if t is None:
                    return tuple(zeros)
                if type(t) is not list or (not json and len(t) > len(fs)):
                    # encoding/json drops extra elements; vmihailenco/msgpack refuses them
                    raise _Bad(_wire_desc(t, json) + (f" of {len(t)} elements" if type(t) is list else ""), go, py)
                return tuple(f(x) for f, x in zip(fs, t)) + tuple(zeros[len(t):])

            return dec_array
        if origin is dict:
            kt, vt = args or (Any, Any)
            fk, fv = self._key_in(kt, go, py), self.dec_fn(vt)

            def dec_map(t: Any) -> Any:
                if type(t) is dict:
                    return {fk(k): fv(x) for k, x in t.items()}
                if t is None:
                    return {}
                raise _Bad(_wire_desc(t, json), go, py)

            return dec_map
        if isinstance(base, type) and dataclasses.is_dataclass(base):
            return self._dataclass_in(base)
        if isinstance(base, type) and issubclass(base, enum.Enum):
            return base
        from_dict = getattr(base, "model_validate", None) or getattr(base, "from_dict", None)
        if callable(from_dict):
            return from_dict
        return self._generic_in

    def _key_in(self, kt: Any, go: str, py: str) -> Fn:
        base, _ = _unwrap(kt)
        f = self.dec_fn(kt)
        if self.json and base is int:

            def int_key(k: Any) -> Any:
                try:
                    return f(int(k))
                except ValueError:
                    raise _Bad(f"string {k!r} (map key)", go, py) from None

            return int_key
        return f

    def _time_in(self, t: Any, go: str, py: str) -> Any:
        if t is None:
            return GO_ZERO_TIME
        if _is_timestamp(t):
            return Time.from_unix_nano(t.to_unix_nano())
        if type(t) is str:  # JSON always; vmihailenco/msgpack also reads an RFC 3339 string
            try:
                return parse_rfc3339(t)
            except ValueError:
                raise _Bad(f"string {t[:40]!r} (not RFC 3339)", go, py) from None
        raise _Bad(_wire_desc(t, self.json), go, py)

    def _dataclass_in(self, cls: type) -> Fn:
        ref = _SelfRef()
        self._pending[(id(self._dec), cls)] = ref  # for fields that refer back to cls
        hints = typing.get_type_hints(cls, include_extras=True)
        by_key: dict[Any, tuple[str, Fn]] = {}
        missing: list[tuple[str, Any]] = []  # required in Python, so Go's zero value fills them
        for f in dataclasses.fields(cls):
            if not f.init:
                continue
            hint = hints.get(f.name, Any)
            by_key[wire_name(f, self.name)] = (f.name, self.dec_fn(hint))
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                missing.append((f.name, hint))
        lower = {k.lower(): v for k, v in by_key.items()} if self.json else None
        as_array = list(by_key.values())
        name = cls.__name__
        json = self.json

        def dec_struct(t: Any) -> Any:
            if type(t) is not dict:
                if t is None:
                    return self.zero(cls)
                if type(t) is list and not json:
                    # vmihailenco/msgpack accepts an array whose length equals the field count
                    if len(t) != len(as_array):
                        raise _Bad(f"array of {len(t)} elements", name, name)
                    t = {k: v for k, v in zip(by_key, t)}
                else:
                    raise _Bad(_wire_desc(t, json), name, name)
            kw = {}
            for key, value in t.items():
                hit = by_key.get(key)
                if hit is None:
                    # encoding/json matches keys case-insensitively after an exact miss
                    if lower is None or type(key) is not str:
                        continue
                    hit = lower.get(key.lower())
                    if hit is None:
                        continue
                try:
                    kw[hit[0]] = hit[1](value)
                except _Bad as b:
                    b.path.insert(0, key if type(key) is str else str(key))
                    if not b.struct:
                        b.struct = name
                    raise
            for a, hint in missing:
                if a not in kw:
                    kw[a] = self.zero(hint)
            return cls(**kw)

        ref.fn = dec_struct
        del self._pending[(id(self._dec), cls)]
        return dec_struct

    def _generic_in(self, t: Any) -> Any:
        """Trees for ``Any``: JSON as it is; MessagePack timestamps become ``datetime``."""
        if self.json or t is None:
            return t
        if _is_timestamp(t):
            return Time.from_unix_nano(t.to_unix_nano())
        if type(t) is list:
            return [self._generic_in(x) for x in t]
        if type(t) is dict:
            return {k: self._generic_in(v) for k, v in t.items()}
        return t

    # -- zero values ---------------------------------------------------------------------------
    def zero(self, tp: Any) -> Any:
        """Go's zero value for a hint: what a missing field or a null leaves."""
        base, _ = _unwrap(tp)
        if _is_union(base):
            return None
        origin = typing.get_origin(base)
        args = typing.get_args(base)
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            return tuple(self.zero(a) for a in args)
        if origin in (list, tuple, set, frozenset) or base in (list, tuple):
            return (origin or base)()
        if origin is dict or base is dict:
            return {}
        if isinstance(base, type) and dataclasses.is_dataclass(base):
            kwargs = {}
            hints = typing.get_type_hints(base, include_extras=True)
            for f in dataclasses.fields(base):
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING and f.init:
                    kwargs[f.name] = self.zero(hints.get(f.name, Any))
            return base(**kwargs)
        if base is datetime:
            return GO_ZERO_TIME
        if base is timedelta:
            return timedelta(0)
        if base in (int, float, str, bytes, bool):
            return base()
        return None


class TreeCodec:
    """The decoding half shared by the codecs that go through a plain tree (JSON, MessagePack): a
    subclass supplies ``_tree(data)`` (bytes to a tree, with its codec's error texts) and ``_conv``
    (the :class:`Converter` for its codec).

    >>> from rpcx.codec.json import JSONCodec
    >>> JSONCodec().decoder_for(dict)(b'{"A": 1}')
    {'A': 1}
    """

    _conv: Converter

    def _tree(self, data: bytes) -> Any:
        raise NotImplementedError

    def decode(self, data: bytes, into: Any = None) -> Any:
        """A value of hint ``into`` from the payload (a plain tree when None); ``EOF`` for an empty payload."""
        if not data and into is None:
            return None
        return self._conv.from_wire(self._tree(data), into)

    def decoder_for(self, into: Any) -> Callable[[bytes], Any] | None:
        """A decode function specialised to ``into`` (the server's hot path); None without a type."""
        if into is None or into is Any or into is object:
            return None
        fn = self._conv.dec_fn(into)
        from_wire, tree = self._conv.from_wire, self._tree

        def decode(data: bytes) -> Any:
            t = tree(data)
            try:
                return fn(t)
            except Exception:  # noqa: BLE001 - let the generic path build the error with its context
                return from_wire(t, into)

        return decode

    def encoder_for(self, hint: Any) -> Callable[[Any], bytes] | None:
        """None: ``encode`` already goes straight to the compiled function of the value's type."""
        return None
