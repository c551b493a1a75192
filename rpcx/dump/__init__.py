"""rpcx frames made readable, from a capture file or a live relay: ``rpcx dump`` (layer: tools; like
Go's rpcxdump).

:class:`StreamDecoder` takes the bytes of each direction of each TCP connection (from
:mod:`rpcx.dump.pcap` or :mod:`rpcx.dump.relay`), cuts them into rpcx frames with the protocol
core's :class:`~rpcx.protocol.decoder.FrameDecoder` (gzip payloads are unzipped, as a peer would),
and turns each frame into a :class:`Shown`: who sent it, the call's service, method, seq, metadata
and the payload decoded by its serialize type (JSON and MessagePack as values; raw, protobuf and
thrift bytes as base64, as ``rpcx call`` prints bytes, since no schema is at hand). A direction whose
first bytes are not an rpcx frame (HTTP to the gateway, a capture that began mid-stream) is
reported once and skipped.

>>> from rpcx.protocol.message import Message, encode
>>> d = StreamDecoder()
>>> frame = encode(Message(seq=7, service_path="Arith", service_method="Mul", serialize_type=1,
...                        metadata={"k": "v"}, payload=b'{"A":10,"B":20}'))
>>> [s.text() for s in d.feed(0.0, ("127.0.0.1", 5000), ("127.0.0.1", 8972), frame)]
['00:00:00.000000 127.0.0.1:5000 > 127.0.0.1:8972 request seq=7 Arith.Mul json meta={"k":"v"} {"A":10,"B":20}']
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Optional

from ..errors import RpcxError
from ..protocol.constants import MessageStatusType, SerializeType
from ..protocol.decoder import FrameDecoder, Limits
from ..protocol.message import Message

__all__ = ["StreamDecoder", "Shown", "Endpoint", "decode_payload", "MAGIC"]

MAGIC = 0x08
Endpoint = tuple[str, int]


def _endpoint(e: Endpoint) -> str:
    host, port = e
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _default(o: Any) -> Any:
    if isinstance(o, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(o)).decode()
    if isinstance(o, datetime):
        return o.isoformat()
    return str(o)


def _jsonable(v: Any) -> Any:
    """``v`` with bytes as base64 text and times as ISO 8601, as the text form shows them."""
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if v is None or isinstance(v, (str, int, float, bool)):
        return v
    return _default(v)


def _json(v: Any) -> str:
    return json.dumps(v, ensure_ascii=False, separators=(",", ":"), default=_default)


def decode_payload(serialize_type: int, payload: bytes) -> Any:
    """A payload as a value: JSON and MessagePack decoded, anything else (or what does not decode)
    as bytes (shown as base64)."""
    if not payload:
        return None
    if serialize_type == SerializeType.JSON:
        try:
            return json.loads(payload)
        except (ValueError, UnicodeDecodeError):
            return bytes(payload)
    if serialize_type == SerializeType.MSGPACK:
        try:
            import msgpack

            return msgpack.unpackb(payload, raw=False, strict_map_key=False, timestamp=3)
        except Exception:  # noqa: BLE001 - msgpack missing or not msgpack: show the bytes
            return bytes(payload)
    return bytes(payload)


_SERIALIZE = {0: "raw", 1: "json", 2: "protobuf", 3: "msgpack", 4: "thrift"}


@dataclass(frozen=True)
class Shown:
    """One frame seen (``message`` set) or one note about a direction (``note`` set)."""

    time: float
    src: Endpoint
    dst: Endpoint
    message: Optional[Message] = None
    note: str = ""

    def as_json(self) -> dict[str, Any]:
        """The frame as one JSON object (``rpcx dump --json``: one per line)."""
        out: dict[str, Any] = {"time": datetime.fromtimestamp(self.time, timezone.utc).isoformat(),
                               "src": _endpoint(self.src), "dst": _endpoint(self.dst)}
        m = self.message
        if m is None:
            out["note"] = self.note
            return out
        metadata = dict(m.metadata)
        error = m.error
        out.update(type=_kind(m), seq=m.seq, service=m.service_path, method=m.service_method,
                   serialize=_SERIALIZE.get(m.serialize_type, str(m.serialize_type)), compress=m.compress_type,
                   oneway=m.oneway, heartbeat=m.heartbeat, status="error" if error is not None else "normal",
                   metadata=metadata, payload=_jsonable(decode_payload(m.serialize_type, bytes(m.payload))))
        if error is not None:
            out["error"] = error
        return out

    def text(self) -> str:
        """The frame as one line (``rpcx dump``)."""
        when = datetime.fromtimestamp(self.time, timezone.utc).strftime("%H:%M:%S.%f")
        head = f"{when} {_endpoint(self.src)} > {_endpoint(self.dst)}"
        m = self.message
        if m is None:
            return f"{head} {self.note}"
        parts = [head, _kind(m)]
        if m.oneway and not m.heartbeat:
            parts.append("oneway")
        parts.append(f"seq={m.seq}")
        if m.heartbeat:
            return " ".join(parts)
        parts.append(f"{m.service_path}.{m.service_method}")
        parts.append(_SERIALIZE.get(m.serialize_type, f"serialize={m.serialize_type}"))
        if m.compress_type:
            parts.append("gzip" if m.compress_type == 1 else f"compress={m.compress_type}")
        error = m.error
        metadata = dict(m.metadata)
        if m.status == MessageStatusType.ERROR:
            metadata.pop("__rpcx_error__", None)
            parts.append(f"error={_json(error or '')}")
        parts.append(f"meta={_json(metadata)}")
        payload = decode_payload(m.serialize_type, bytes(m.payload))
        if payload is not None:
            parts.append(_json(payload))
        return " ".join(parts)


def _kind(m: Message) -> str:
    if m.heartbeat:
        return "heartbeat-reply" if m.is_response else "heartbeat"
    return "response" if m.is_response else "request"


class StreamDecoder:
    """The rpcx frames of many TCP byte streams, one decoder per direction."""

    def __init__(self, limits: Limits = Limits()) -> None:
        self._limits = limits
        self._decoders: dict[tuple[Endpoint, Endpoint], Optional[FrameDecoder]] = {}

    def restart(self, src: Endpoint, dst: Endpoint) -> None:
        """A new connection between these ends (a SYN): start its decoding afresh."""
        self._decoders.pop((src, dst), None)

    def feed(self, time: float, src: Endpoint, dst: Endpoint, data: bytes) -> list[Shown]:
        """The next bytes ``src`` sent ``dst``: the frames they complete, or a note (not rpcx, bad frame)."""
        key = (src, dst)
        if key not in self._decoders:
            if not data:
                return []
            if data[0] != MAGIC:
                self._decoders[key] = None
                return [Shown(time, src, dst, note=f"not rpcx (first bytes {data[:8].hex()}): skipped; an HTTP "
                                                   "gateway connection, or a capture that began mid-connection")]
            self._decoders[key] = FrameDecoder(self._limits)
        decoder = self._decoders[key]
        if decoder is None:
            return []
        try:
            frames = decoder.feed(data)
        except (RpcxError, ValueError) as exc:
            self._decoders[key] = None
            done = [Shown(time, src, dst, m) for m in getattr(exc, "frames", None) or []]
            return done + [Shown(time, src, dst, note=f"bad rpcx frame: {exc}; the rest of this direction is skipped")]
        return [Shown(time, src, dst, m) for m in frames]

    def gap(self, time: float, src: Endpoint, dst: Endpoint) -> list[Shown]:
        """Bytes of this direction were never captured: its framing is lost."""
        if self._decoders.get((src, dst)) is None:
            return []
        self._decoders[(src, dst)] = None
        return [Shown(time, src, dst, note="bytes missing from the capture: the rest of this direction is skipped")]

    def leftovers(self) -> list[tuple[Endpoint, Endpoint, int]]:
        """Directions that ended inside a frame: ``(src, dst, bytes)``."""
        return [(s, d, dec.buffered) for (s, d), dec in self._decoders.items() if dec is not None and dec.buffered]
