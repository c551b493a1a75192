"""Conversion between Python values and the plain trees JSON and MessagePack carry (layer: codecs).

Go's codecs write a struct as a map keyed by its field names. Here a dataclass plays the Go struct:
its field names are the keys, unless a field says otherwise with
``field(metadata={"rpcx": "WireName"})``. Decoding builds the dataclass back from its type hints;
missing keys take the field's default or the type's zero value, as Go leaves zero values.
"""

from __future__ import annotations

import base64
import dataclasses
import enum
import typing
from typing import Any, Callable

from ..errors import CodecError

__all__ = ["Converter", "wire_name"]

_NoneType = type(None)


def wire_name(f: dataclasses.Field[Any]) -> str:
    """The key a dataclass field is written under."""
    return f.metadata.get("rpcx", f.name)


def _zero(tp: Any) -> Any:
    origin = typing.get_origin(tp)
    if origin is typing.Union:
        return None
    if origin in (list, tuple, set, frozenset) or tp in (list, tuple):
        return (origin or tp)()
    if origin is dict or tp is dict:
        return {}
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _build_zero(tp)
    if tp in (int, float, str, bytes, bool):
        return tp()
    return None


def _build_zero(cls: type) -> Any:
    kwargs = {}
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING and f.init:
            kwargs[f.name] = _zero(hints.get(f.name, Any))
    return cls(**kwargs)


class Converter:
    """Tree conversion with the knobs that differ between JSON and MessagePack.

    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class Args:
    ...     A: int = 0
    ...     B: int = 0
    >>> c = Converter(bytes_as_base64=True, case_insensitive=True)
    >>> c.to_wire(Args(10, 20))
    {'A': 10, 'B': 20}
    >>> c.from_wire({"a": 1, "B": 2, "extra": 3}, Args)
    Args(A=1, B=2)
    """

    def __init__(self, *, bytes_as_base64: bool, case_insensitive: bool, array_as_struct: bool = False) -> None:
        self.bytes_as_base64 = bytes_as_base64
        self.case_insensitive = case_insensitive
        #: accept an array of field-count length for a struct (vmihailenco/msgpack does; encoding/json does not)
        self.array_as_struct = array_as_struct
        self._dc_out: dict[type, list[tuple[str, str]]] = {}
        self._dc_in: dict[type, tuple[dict[str, tuple[str, Any]], list[str]]] = {}

    # -- Python -> tree ---------------------------------------------------------------------------
    def to_wire(self, obj: Any) -> Any:
        if obj is None or isinstance(obj, (str, int, float, bool)):
            if isinstance(obj, enum.Enum):
                return obj.value
            return obj
        if isinstance(obj, (bytes, bytearray, memoryview)):
            b = bytes(obj)
            return base64.b64encode(b).decode() if self.bytes_as_base64 else b
        if isinstance(obj, dict):
            return {self._key(k): self.to_wire(v) for k, v in obj.items()}
        if isinstance(obj, (list, tuple, set, frozenset)):
            return [self.to_wire(v) for v in obj]
        cls = type(obj)
        if dataclasses.is_dataclass(cls):
            names = self._dc_out.get(cls)
            if names is None:
                names = [(wire_name(f), f.name) for f in dataclasses.fields(cls)]
                self._dc_out[cls] = names
            return {w: self.to_wire(getattr(obj, a)) for w, a in names}
        if isinstance(obj, enum.Enum):
            return obj.value
        to_dict = getattr(obj, "to_dict", None) or getattr(obj, "model_dump", None)
        if callable(to_dict):
            return self.to_wire(to_dict())
        raise CodecError(f"cannot encode {cls.__name__}: use a dataclass, dict, list, str, bytes or number")

    def _key(self, k: Any) -> Any:
        return k if isinstance(k, (str, int)) else str(k)

    # -- tree -> Python -------------------------------------------------------------------------
    def from_wire(self, tree: Any, tp: Any = None) -> Any:
        if tp is None or tp is Any or tp is object:
            return tree
        try:
            return self._from(tree, tp)
        except CodecError:
            raise
        except (TypeError, ValueError, AttributeError) as exc:
            raise CodecError(f"cannot decode into {getattr(tp, '__name__', tp)}: {exc}") from None

    def _from(self, tree: Any, tp: Any) -> Any:
        if tp is None or tp is Any or tp is object:
            return tree
        origin = typing.get_origin(tp)
        if origin is typing.Union or (origin is not None and str(origin) == "<class 'types.UnionType'>"):
            args = typing.get_args(tp)
            if tree is None and _NoneType in args:
                return None
            for a in args:
                if a is not _NoneType:
                    return self._from(tree, a)
        if tree is None:
            # Go: JSON null and msgpack nil leave the zero value (0, "", false, nil slice/map)
            return _zero(tp)
        if origin in (list, tuple, set, frozenset):
            (item,) = typing.get_args(tp)[:1] or (Any,)
            if not isinstance(tree, (list, tuple)):
                # Go refuses a string or an object for a slice; iterating one would split it silently
                raise CodecError(f"expected an array, got {type(tree).__name__}")
            return origin(self._from(v, item) for v in tree)
        if origin is dict:
            kt, vt = typing.get_args(tp) or (Any, Any)
            if tree is None:
                return {}
            return {k: self._from(v, vt) for k, v in tree.items()}
        if isinstance(tp, type) and dataclasses.is_dataclass(tp):
            return self._dataclass(tree, tp)
        if tp is bytes:
            if isinstance(tree, str) and self.bytes_as_base64:
                # Go's base64.StdEncoding: padded standard alphabet, CR/LF ignored, anything else an error
                return base64.b64decode(tree.replace("\r", "").replace("\n", ""), validate=True)
            if tree is None:
                return b""
            return bytes(tree) if not isinstance(tree, str) else tree.encode()
        if tp is int:
            # Go's encoding/json and vmihailenco/msgpack both refuse a float (even 1.0) for an int
            if isinstance(tree, bool) or not isinstance(tree, int):
                raise CodecError(f"expected an integer, got {type(tree).__name__}")
            return int(tree)
        if tp is float:
            if isinstance(tree, bool) or not isinstance(tree, (int, float)):
                raise CodecError(f"expected a number, got {type(tree).__name__}")
            return float(tree)
        if tp is str:
            if isinstance(tree, (bytes, bytearray)):
                # msgpack bin into a Go string is accepted by vmihailenco/msgpack
                return bytes(tree).decode("utf-8", "surrogateescape")
            if not isinstance(tree, str):
                raise CodecError(f"expected a string, got {type(tree).__name__}")
            return tree
        if tp is bool:
            if not isinstance(tree, bool):
                raise CodecError(f"expected a boolean, got {type(tree).__name__}")
            return tree
        if isinstance(tp, type) and issubclass(tp, enum.Enum):
            return tp(tree)
        if isinstance(tp, type) and tp in (list, dict):
            return tree
        from_dict = getattr(tp, "model_validate", None) or getattr(tp, "from_dict", None)
        if callable(from_dict):
            return from_dict(tree)
        return tree

    def _dataclass(self, tree: Any, cls: type) -> Any:
        spec = self._dc_in.get(cls)
        if spec is None:
            hints = typing.get_type_hints(cls)
            by_key: dict[str, tuple[str, Any]] = {}
            required: list[str] = []
            for f in dataclasses.fields(cls):
                if not f.init:
                    continue
                w = wire_name(f)
                by_key[w] = (f.name, hints.get(f.name, Any))
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                    required.append(f.name)
            spec = (by_key, required)
            self._dc_in[cls] = spec
        by_key, required = spec
        if tree is None:
            return _build_zero(cls)
        if isinstance(tree, (list, tuple)) and self.array_as_struct:
            # vmihailenco/msgpack accepts an array whose length equals the field count
            if len(tree) != len(by_key):
                raise CodecError(f"array of {len(tree)} items cannot fill {cls.__name__}")
            tree = dict(zip(by_key, tree))
        if not isinstance(tree, dict):
            raise CodecError(f"expected an object for {cls.__name__}, got {type(tree).__name__}")
        kwargs: dict[str, Any] = {}
        lower = None
        for key, value in tree.items():
            hit = by_key.get(key)
            if hit is None and self.case_insensitive and isinstance(key, str):
                if lower is None:
                    lower = {k.lower(): v for k, v in by_key.items()}
                hit = lower.get(key.lower())
            if hit is not None:
                kwargs[hit[0]] = self._from(value, hit[1])
        for name in required:
            if name not in kwargs:
                kwargs[name] = _zero(typing.get_type_hints(cls).get(name, Any))
        return cls(**kwargs)


ConvertFn = Callable[[Any], Any]
