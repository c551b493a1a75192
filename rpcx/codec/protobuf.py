"""Serialize type 2: Protocol Buffers through generated message classes. Needs the ``protobuf`` extra.

Decoding needs the message class: from a method's type hint on the server, or ``reply_type`` on
the client. A dataclass can stand for a message by naming its class in ``__protobuf__``; fields
are then copied by name, so one Python type serves JSON, MessagePack and Protobuf callers alike
(as one Go struct does); a ``datetime`` / ``timedelta`` field fills a ``google.protobuf.Timestamp``
/ ``Duration`` field, nanoseconds kept::

    @dataclass
    class Args:
        A: int = 0
        B: int = 0
        __protobuf__ = arith_pb2.Args
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import Any, Callable

from google.protobuf.message import DecodeError
from google.protobuf.message import Message as PbMessage

from ..errors import CodecError
from .gotypes import Time, unix_nano

__all__ = ["ProtobufCodec"]


def _pb_class(tp: Any) -> Any:
    return getattr(tp, "__protobuf__", None)


def _to_pb(v: Any) -> Any:
    """datetime / timedelta as (seconds, nanos) of the well-known Timestamp / Duration (Go: timestamppb)."""
    if isinstance(v, datetime):
        if v.utcoffset() is None:
            raise CodecError("proto: naive datetime for a Timestamp: give it a tzinfo, e.g. timezone.utc")
        return _WKT(*divmod(unix_nano(v), 1_000_000_000))
    if isinstance(v, timedelta):
        ns = ((v.days * 86400 + v.seconds) * 1_000_000 + v.microseconds) * 1000
        secs, nanos = divmod(abs(ns), 1_000_000_000)
        return _WKT(secs, nanos) if ns >= 0 else _WKT(-secs, -nanos)  # Duration: both signs agree
    return v


class _WKT:
    """(seconds, nanos) to set on a Timestamp / Duration field after the message is built; the
    field's class may come from another descriptor pool than ours, so no message is built here."""

    __slots__ = ("seconds", "nanos")

    def __init__(self, seconds: int, nanos: int) -> None:
        self.seconds = seconds
        self.nanos = nanos


def _build(pb: Any, values: dict[str, Any]) -> Any:
    wkt = {k: v for k, v in values.items() if isinstance(v, _WKT)}
    msg = pb(**{k: v for k, v in values.items() if k not in wkt})
    for k, v in wkt.items():
        sub = getattr(msg, k)
        sub.seconds, sub.nanos = v.seconds, v.nanos
    return msg


def _from_pb(v: Any) -> Any:
    """The well-known Timestamp / Duration messages as a UTC datetime (:class:`Time` past microseconds) / timedelta."""
    desc = getattr(v, "DESCRIPTOR", None)
    name = getattr(desc, "full_name", None)
    if name == "google.protobuf.Timestamp":
        return Time.from_unix_nano(v.seconds * 1_000_000_000 + v.nanos)
    if name == "google.protobuf.Duration":
        return timedelta(seconds=v.seconds, microseconds=v.nanos // 1000)
    return v


class ProtobufCodec:
    """Go's ``PBCodec``: generated message classes, or dataclasses naming theirs in ``__protobuf__``.

    >>> ProtobufCodec().decode(b"\\x08\\x0a")  # no class asked for: the bytes
    b'\\x08\\n'
    """

    serialize_type = 2
    name = "protobuf"

    def encode(self, obj: Any) -> bytes:
        """A message's wire bytes (a generated message, bytes as they are, or a dataclass with ``__protobuf__``)."""
        if isinstance(obj, PbMessage):
            return obj.SerializeToString()
        if isinstance(obj, (bytes, bytearray)):
            return bytes(obj)  # already-encoded message bytes
        pb = _pb_class(type(obj))
        if pb is not None and dataclasses.is_dataclass(obj):
            try:
                msg = _build(pb, {f.name: _to_pb(getattr(obj, f.name)) for f in dataclasses.fields(obj)})
            except (TypeError, ValueError) as exc:
                raise CodecError(f"proto: cannot build {pb.__name__} from {type(obj).__name__}: {exc}") from None
            return msg.SerializeToString()
        raise CodecError(f"{type(obj).__name__} is not a proto.Marshaler or pb.Message")

    def __init__(self) -> None:
        # target type -> (message class, bound dataclass or None); looked up once per type, since
        # probing a generated class for __protobuf__ costs more than parsing a small message
        self._targets: dict[Any, tuple[Any, Any]] = {}

    def _target(self, into: Any) -> tuple[Any, Any]:
        if not isinstance(into, type):
            raise CodecError(f"{type(into).__name__} instance is not a proto.Unmarshaler  or pb.Message: pass the class")
        hit = self._targets.get(into)
        if hit is None:
            pb = _pb_class(into)
            target = pb if pb is not None else into
            if not (isinstance(target, type) and issubclass(target, PbMessage)):
                raise CodecError(f"{getattr(into, '__name__', into)} is not a proto.Unmarshaler  or pb.Message")
            hit = (target, into if pb is not None else None)
            self._targets[into] = hit
        return hit

    def decoder_for(self, into: Any) -> Callable[[bytes], Any] | None:
        """``Cls.FromString`` for a generated message class (the server's hot path), or None.

        A malformed payload then fails with protobuf's own DecodeError text, which the server sends
        back as the error, as Go sends its codec's own error text.
        """
        if isinstance(into, type) and issubclass(into, PbMessage):
            return into.FromString  # type: ignore[no-any-return,attr-defined]
        return None

    def encoder_for(self, hint: Any) -> Callable[[Any], bytes] | None:
        """``Cls.SerializeToString`` for a reply hinted as a generated class; raises for anything
        else, and the caller then falls back to :meth:`encode`."""
        if isinstance(hint, type) and issubclass(hint, PbMessage):
            return hint.SerializeToString  # type: ignore[no-any-return,attr-defined]
        return None

    def decode(self, data: bytes, into: Any = None) -> Any:
        """A message of class ``into`` (or its dataclass twin) from wire bytes; ``bytes`` when ``into`` is None."""
        if into is None or into is bytes:
            return data
        target, bound = self._target(into)
        try:
            msg = target.FromString(data)
        except DecodeError as exc:
            raise CodecError(f"proto: {exc}") from None
        if bound is not None:
            try:
                return bound(**{f.name: _from_pb(getattr(msg, f.name)) for f in dataclasses.fields(bound)})
            except (AttributeError, TypeError, ValueError) as exc:
                raise CodecError(f"proto: cannot build {bound.__name__} from {target.__name__}: {exc}") from None
        return msg
